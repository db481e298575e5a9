//! Average-linkage agglomerative clustering cut at a distance threshold, the same
//! clusters as scikit-learn's `AgglomerativeClustering(metric='cosine',
//! linkage='average', distance_threshold=t)`: two clusters merge while their average
//! pairwise cosine distance is below `t`.
//!
//! **No distance matrix.** For unit vectors the average cosine distance between
//! clusters A and B is `1 − (ΣA · ΣB) / (|A|·|B|)`, where ΣA is the sum of A's rows: a
//! cluster is its sum vector and size, and the distance of a merged cluster to any other
//! is exact in `O(d)`. Two clusters can only merge below `t` if some pair of their
//! members is closer than `t`, so the only pairs ever compared are the edges of the
//! threshold graph ([`crate::graph`]), and a merged cluster's candidates are the union of
//! its parts'. Merges are found by nearest-neighbour chains, which give the same
//! dendrogram as merging the globally closest pair each time (average linkage is
//! reducible), ties aside. Memory is linear in the rows plus the edges.

use std::time::Instant;

use kodama::{Method, linkage};
use rayon::prelude::*;

use crate::Embeddings;
use crate::embeddings::dot;
use crate::graph::{self, Edge, Graph, GraphChoice, row_id};
use fs_progress::{Phase, Progress, Silent};

/// Clusters the rows; returns clusters as row indices, each sorted ascending, ordered
/// by size (largest first) and then by their first row. Deterministic for a given input.
pub fn cluster(embeddings: &Embeddings, threshold: f32) -> Vec<Vec<usize>> {
    cluster_with(embeddings, threshold, GraphChoice::Auto, &Silent)
}

/// [`cluster`] with a chosen candidate graph and progress reports.
pub fn cluster_with(
    embeddings: &Embeddings,
    threshold: f32,
    choice: GraphChoice,
    progress: &dyn Progress,
) -> Vec<Vec<usize>> {
    let n = embeddings.len();
    if n < 2 {
        return (0..n).map(|i| vec![i]).collect();
    }
    let graph = graph::build(embeddings, threshold, choice, progress);
    link(embeddings, graph, threshold, progress)
}

/// Average linkage over the candidate pairs of `graph`, cut at `threshold`.
pub fn link(
    embeddings: &Embeddings,
    graph: Graph,
    threshold: f32,
    progress: &dyn Progress,
) -> Vec<Vec<usize>> {
    let n = embeddings.len();
    assert_eq!(graph.neighbours.len(), n, "one neighbour list per row");
    assert!(n < BOUND as usize, "at most 2^31 rows");
    let span = tracing::info_span!("average linkage", faces = n).entered();
    let started = Instant::now();
    progress.start(Phase::Linkage, n as u64);
    let mut starts: Vec<u32> = breadth_first_order(&graph.neighbours);
    starts.reverse();
    let mut state = Chains::new(embeddings, graph.neighbours, threshold);
    // Each chain element with the distance from the element below it; distances fall
    // strictly along the chain, which is what ends every chain.
    let mut chain: Vec<(u32, f32)> = Vec::new();
    // Chains start from every row in order, and from every merged cluster (which must
    // look for its own next merge once the chain it was made in is used up).
    while let Some(start) = starts.pop() {
        if !state.is_open(start) {
            continue;
        }
        chain.push((start, f32::INFINITY));
        while let Some(&(a, reached_at)) = chain.last() {
            let previous = chain.len().checked_sub(2).map(|k| chain[k].0);
            match state.nearest(a, previous) {
                // Not strictly nearer than the element below: that one is a's nearest
                // (up to rounding between the two ways a distance is computed).
                Some((b, d)) if d < threshold && (Some(b) == previous || d >= reached_at) => {
                    let b = previous.unwrap_or(b);
                    chain.truncate(chain.len() - 2);
                    starts.push(state.merge(a, b));
                    progress.advance(1);
                }
                Some((b, d)) if d < threshold => chain.push((b, d)),
                _ => {
                    // Nothing within the threshold now, so never: a merge elsewhere
                    // never brings a cluster closer than the nearer of its parts.
                    state.close(a);
                    chain.pop();
                    progress.advance(1);
                }
            }
        }
    }
    let clusters = state.clusters();
    progress.finish(Phase::Linkage);
    tracing::info!(
        clusters = clusters.len(),
        seconds = started.elapsed().as_secs_f64(),
        "linkage done"
    );
    drop(span);
    clusters
}

/// The rows in breadth-first order over the graph (each component from its lowest
/// row). Chains started in this order stay among neighbouring faces — mostly one
/// person at a time — so the sums they read stay in cache.
fn breadth_first_order(neighbours: &[Vec<Edge>]) -> Vec<u32> {
    let n = neighbours.len();
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for root in 0..n {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        let first = order.len();
        order.push(row_id(root));
        let mut next = first;
        while next < order.len() {
            let i = order[next] as usize;
            next += 1;
            for e in &neighbours[i] {
                if !visited[e.to as usize] {
                    visited[e.to as usize] = true;
                    order.push(e.to);
                }
            }
        }
    }
    order
}

/// Marks an entry whose distance is only a lower bound (the row index sits below it).
const BOUND: u32 = 1 << 31;

/// The row or root an entry points to.
fn target(e: Edge) -> u32 {
    e.to & !BOUND
}

fn is_bound(e: Edge) -> bool {
    e.to & BOUND != 0
}

fn edge(to: u32, distance: f32, bound: bool) -> Edge {
    Edge {
        to: if bound { to | BOUND } else { to },
        distance,
    }
}

/// Recomputations of more than this many distances in one scan run in parallel.
const PARALLEL_SCAN: usize = 256;

/// The state of the nearest-neighbour chains: clusters as union-find trees over the
/// rows, each root holding its cluster's sum vector, size and candidate list with the
/// distance to each candidate.
///
/// A distance in a list stays valid until either end changes. Ends change only by
/// merging; `changed_at` and `scanned_at` (times on a clock that ticks once per merge)
/// tell which entries a scan must recompute, so a chain element scanned again after a
/// merge elsewhere pays for the merged cluster alone. A merged cluster's list comes from
/// its parts' lists by the Lance–Williams rule for average linkage,
/// `d(A∪B, X) = (|A|·d(A, X) + |B|·d(B, X)) / (|A| + |B|)`, with a dot product of sums
/// only for a candidate that one part lacks.
struct Chains {
    dim: usize,
    /// Row `r` of this `n × dim` matrix is the sum of the cluster rooted at `r`.
    sums: Vec<f32>,
    sizes: Vec<u32>,
    parent: Vec<u32>,
    /// Candidates of each root: rows (or stale roots) of clusters it may merge with.
    neighbours: Vec<Vec<Edge>>,
    /// A root that can no longer merge below the threshold.
    closed: Vec<bool>,
    /// When each root last changed (merged).
    changed_at: Vec<u32>,
    /// When each root's list was last made valid.
    scanned_at: Vec<u32>,
    clock: u32,
    /// Scratch for de-duplicating a candidate list: `seen[r] == stamp` once counted.
    seen: Vec<u32>,
    stamp: u32,
    threshold: f32,
}

impl Chains {
    fn new(embeddings: &Embeddings, neighbours: Vec<Vec<Edge>>, threshold: f32) -> Self {
        let n = embeddings.len();
        let view = embeddings.view();
        Self {
            dim: embeddings.dim(),
            sums: view.as_slice().expect("rows are contiguous").to_vec(),
            sizes: vec![1; n],
            parent: (0..n).map(row_id).collect(),
            neighbours,
            closed: vec![false; n],
            changed_at: vec![0; n],
            scanned_at: vec![0; n],
            clock: 0,
            seen: vec![0; n],
            stamp: 0,
            threshold,
        }
    }

    fn is_open(&self, r: u32) -> bool {
        self.parent[r as usize] == r && !self.closed[r as usize]
    }

    fn close(&mut self, r: u32) {
        self.closed[r as usize] = true;
        self.neighbours[r as usize] = Vec::new();
    }

    fn find(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let up = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = up;
            i = up;
        }
        i
    }

    fn sum(&self, r: u32) -> &[f32] {
        let start = r as usize * self.dim;
        &self.sums[start..start + self.dim]
    }

    /// Average distance between the clusters rooted at `a` and `b`, from their sums.
    fn distance(&self, a: u32, b: u32) -> f32 {
        let pairs = f64::from(self.sizes[a as usize]) * f64::from(self.sizes[b as usize]);
        #[expect(clippy::cast_possible_truncation, reason = "a distance in [0, 2]")]
        let mean = (f64::from(dot(self.sum(a), self.sum(b))) / pairs) as f32;
        (1.0 - mean).max(0.0)
    }

    /// Distances from `a` to each of `targets`, in parallel when there are many.
    fn distances(&self, a: u32, targets: &mut [Edge]) {
        if targets.len() > PARALLEL_SCAN {
            targets
                .par_iter_mut()
                .for_each(|e| e.distance = self.distance(a, e.to));
        } else {
            for e in targets {
                e.distance = self.distance(a, e.to);
            }
        }
    }

    fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }

    /// Brings root `a`'s list up to date: each distinct open candidate root once, with
    /// its current distance (recomputed only where either end changed since the last
    /// refresh).
    fn refresh(&mut self, a: u32) {
        let valid_since = self.scanned_at[a as usize];
        if valid_since == self.clock {
            // Nothing merged since: every entry is current (a closed candidate may
            // linger, harmlessly: it is never within the threshold).
            return;
        }
        let stamp = self.next_stamp();
        let mut list = std::mem::take(&mut self.neighbours[a as usize]);
        let mut stale: Vec<Edge> = Vec::new();
        let mut kept = 0;
        for k in 0..list.len() {
            let e = list[k];
            let r = self.find(target(e));
            if r == a || self.closed[r as usize] || self.seen[r as usize] == stamp {
                continue;
            }
            self.seen[r as usize] = stamp;
            if r == target(e) && self.changed_at[r as usize] <= valid_since {
                list[kept] = e;
                kept += 1;
            } else {
                stale.push(Edge {
                    to: r,
                    distance: f32::NAN,
                });
            }
        }
        list.truncate(kept);
        self.distances(a, &mut stale);
        list.extend(stale);
        if list.capacity() > 4 * list.len() + 16 {
            list.shrink_to_fit();
        }
        self.scanned_at[a as usize] = self.clock;
        self.neighbours[a as usize] = list;
    }

    /// The nearest open cluster to root `a` among its candidates, preferring `previous`
    /// (the chain's element below `a`) on a tie, then the lower root. A distance is
    /// exact whenever it is below the threshold.
    fn nearest(&mut self, a: u32, previous: Option<u32>) -> Option<(u32, f32)> {
        self.refresh(a);
        loop {
            // Smallest (distance, not-previous, root): a total order, so ties break
            // the same way whatever the list's order.
            let list = &self.neighbours[a as usize];
            let (k, e) = list
                .iter()
                .enumerate()
                .min_by(|(_, x), (_, y)| {
                    x.distance
                        .total_cmp(&y.distance)
                        .then((Some(target(**x)) != previous).cmp(&(Some(target(**y)) != previous)))
                        .then(target(**x).cmp(&target(**y)))
                })
                .map(|(k, e)| (k, *e))?;
            if is_bound(e) && e.distance < self.threshold {
                // Only a lower bound, and small enough to matter: make it exact.
                let d = self.distance(a, target(e));
                self.neighbours[a as usize][k] = Edge {
                    to: target(e),
                    distance: d,
                };
                continue;
            }
            return Some((target(e), e.distance));
        }
    }

    /// Merges the clusters rooted at `a` and `b`; returns the new root.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        // The element below the top of a chain may have been scanned before merges
        // higher up the chain.
        self.refresh(a);
        self.refresh(b);
        let (size_a, size_b) = (self.sizes[a as usize], self.sizes[b as usize]);
        let mut list_a = std::mem::take(&mut self.neighbours[a as usize]);
        let mut list_b = std::mem::take(&mut self.neighbours[b as usize]);
        let (keep, gone) = if list_a.len() >= list_b.len() {
            (a, b)
        } else {
            (b, a)
        };
        let (k, g) = (keep as usize * self.dim, gone as usize * self.dim);
        for i in 0..self.dim {
            self.sums[k + i] += self.sums[g + i];
        }
        self.sizes[keep as usize] = size_a + size_b;
        self.parent[gone as usize] = keep;
        self.clock += 1;
        self.changed_at[keep as usize] = self.clock;
        self.scanned_at[keep as usize] = self.clock;

        // Lance–Williams over the union of the two lists, joined by root. A candidate
        // that one part lacks is farther than the threshold from that part (no pair of
        // their members is an edge), so the threshold stands in for that distance as a
        // lower bound, made exact by `nearest` only if it ever matters.
        list_a.sort_unstable_by_key(|e| target(*e));
        list_b.sort_unstable_by_key(|e| target(*e));
        let (wa, wb) = (f64::from(size_a), f64::from(size_b));
        let t = f64::from(self.threshold);
        let mean = |da: f64, db: f64| {
            #[expect(clippy::cast_possible_truncation, reason = "a distance in [0, 2]")]
            let d = ((wa * da + wb * db) / (wa + wb)) as f32;
            d
        };
        let mut merged: Vec<Edge> = Vec::with_capacity(list_a.len().max(list_b.len()));
        let (mut i, mut j) = (0, 0);
        while i < list_a.len() || j < list_b.len() {
            let (x, y) = (list_a.get(i).copied(), list_b.get(j).copied());
            let e = match (x, y) {
                (Some(x), Some(y)) if target(x) == target(y) => {
                    i += 1;
                    j += 1;
                    let d = mean(f64::from(x.distance), f64::from(y.distance));
                    edge(target(x), d, is_bound(x) || is_bound(y))
                }
                (Some(x), Some(y)) if target(x) < target(y) => {
                    i += 1;
                    edge(target(x), mean(f64::from(x.distance), t), true)
                }
                (Some(x), None) => {
                    i += 1;
                    edge(target(x), mean(f64::from(x.distance), t), true)
                }
                (_, Some(y)) => {
                    j += 1;
                    edge(target(y), mean(t, f64::from(y.distance)), true)
                }
                (None, None) => unreachable!("loop condition"),
            };
            if target(e) != a && target(e) != b {
                merged.push(e);
            }
        }
        self.neighbours[keep as usize] = merged;
        keep
    }

    /// The final clusters, sorted as [`cluster`] returns them.
    fn clusters(mut self) -> Vec<Vec<usize>> {
        let n = self.parent.len();
        let mut by_root: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            let r = self.find(row_id(i));
            by_root[r as usize].push(i);
        }
        let mut clusters: Vec<Vec<usize>> = by_root.into_iter().filter(|c| !c.is_empty()).collect();
        sort_clusters(&mut clusters);
        clusters
    }
}

/// Average linkage through kodama on a precomputed condensed distance matrix (consumed as
/// scratch): quadratic in memory, the reference that [`cluster`] is tested against.
pub fn cluster_condensed(condensed: &mut [f32], n: usize, threshold: f32) -> Vec<Vec<usize>> {
    if n < 2 {
        return (0..n).map(|i| vec![i]).collect();
    }
    let dendrogram = linkage(condensed, n, Method::Average);
    // Cluster labels: 0..n are rows, n + k is the cluster made by step k.
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    for (k, step) in dendrogram.steps().iter().enumerate() {
        // Average linkage has no inversions, so steps come in non-decreasing order.
        if step.dissimilarity >= threshold {
            break;
        }
        parent[step.cluster1] = n + k;
        parent[step.cluster2] = n + k;
    }
    let root = |mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> =
        std::collections::BTreeMap::new();
    for i in 0..n {
        groups.entry(root(i)).or_default().push(i);
    }
    let mut clusters: Vec<Vec<usize>> = groups.into_values().collect();
    sort_clusters(&mut clusters);
    clusters
}

/// Largest first, then by first member.
pub fn sort_clusters(clusters: &mut [Vec<usize>]) {
    for c in clusters.iter_mut() {
        c.sort_unstable();
    }
    clusters.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
}

#[cfg(test)]
#[expect(
    clippy::cast_precision_loss,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;
    use crate::graph::{APPROXIMATE_ABOVE, AnnParams};

    fn unit(angle_deg: f32) -> [f32; 2] {
        let a = angle_deg.to_radians();
        [a.cos(), a.sin()]
    }

    #[test]
    fn two_tight_groups_make_two_clusters() {
        let rows = [unit(0.0), unit(80.0), unit(3.0), unit(83.0), unit(-2.0)];
        let e = Embeddings::from_rows(2, &rows);
        assert_eq!(cluster(&e, 0.1), vec![vec![0, 2, 4], vec![1, 3]]);
    }

    #[test]
    fn a_chain_is_not_merged_by_average_linkage() {
        // Neighbours along the chain are 0.03 apart (well under the threshold), but the
        // ends are far apart; single linkage would join all of them, average linkage
        // must not put the two ends together.
        let rows: Vec<[f32; 2]> = (0..12).map(|i| unit(i as f32 * 14.0)).collect();
        let e = Embeddings::from_rows(2, &rows);
        let threshold = 0.1;
        assert!(e.distance(0, 1) < threshold);
        let clusters = cluster(&e, threshold);
        assert!(clusters.len() > 1, "{clusters:?}");
        let of = |i: usize| clusters.iter().position(|c| c.contains(&i)).unwrap();
        assert_ne!(of(0), of(11));
        for c in &clusters {
            let mean: f32 = c
                .iter()
                .flat_map(|&i| c.iter().map(move |&j| (i, j)))
                .filter(|(i, j)| i < j)
                .map(|(i, j)| e.distance(i, j))
                .sum::<f32>();
            let pairs = (c.len() * (c.len() - 1) / 2).max(1) as f32;
            assert!(
                mean / pairs < threshold,
                "cluster {c:?} has mean distance {}",
                mean / pairs
            );
        }
    }

    #[test]
    fn threshold_is_exclusive() {
        // Two points exactly 0.5 apart merge below a 0.5 threshold only if < 0.5.
        let e = Embeddings::from_rows(2, &[unit(0.0), unit(60.0)]);
        let d = e.distance(0, 1);
        assert_eq!(cluster(&e, d).len(), 2);
        assert_eq!(cluster(&e, d + 1e-4).len(), 1);
    }

    #[test]
    fn ties_are_ordered_by_first_member() {
        // Three identical pairs: same sizes, so order by first row.
        let rows = [
            unit(100.0),
            unit(0.0),
            unit(200.0),
            unit(0.5),
            unit(100.5),
            unit(200.5),
        ];
        let e = Embeddings::from_rows(2, &rows);
        assert_eq!(cluster(&e, 0.1), vec![vec![0, 4], vec![1, 3], vec![2, 5]]);
        // Same input, same answer.
        assert_eq!(cluster(&e, 0.1), cluster(&e, 0.1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn sum_linkage_equals_a_full_linkage(
            rows in proptest::collection::vec(proptest::collection::vec(-1f32..1.0, 3), 2..120),
            threshold in 0.05f32..0.9,
        ) {
            let e = Embeddings::from_rows(3, &rows);
            let mut condensed = e.condensed_distances();
            let global = cluster_condensed(&mut condensed, e.len(), threshold);
            proptest::prop_assert_eq!(cluster(&e, threshold), global);
        }

        /// Groups of faces around a few centres in 16-d, with stragglers between them:
        /// many merges of large clusters, lists rebuilt from their parts, lower bounds
        /// made exact — the paths uniform noise rarely takes.
        #[test]
        fn sum_linkage_equals_a_full_linkage_on_groups(
            centres in proptest::collection::vec(proptest::collection::vec(-1f32..1.0, 16), 1..6),
            faces in proptest::collection::vec((0usize..6, proptest::collection::vec(-1f32..1.0, 16), 0.1f32..1.2), 2..220),
            threshold in 0.2f32..0.8,
        ) {
            let rows: Vec<Vec<f32>> = faces
                .iter()
                .map(|(c, noise, spread)| {
                    let centre = &centres[c % centres.len()];
                    centre.iter().zip(noise).map(|(m, e)| m + spread * e).collect()
                })
                .collect();
            let e = Embeddings::from_rows(16, &rows);
            let mut condensed = e.condensed_distances();
            let global = cluster_condensed(&mut condensed, e.len(), threshold);
            proptest::prop_assert_eq!(cluster_with(&e, threshold, GraphChoice::Exact, &Silent), global);
        }
    }

    #[test]
    fn approximate_graph_finds_the_same_groups() {
        // Well-separated groups: every row's group mates are among its nearest
        // neighbours, so the approximate graph loses nothing.
        let rows: Vec<[f32; 3]> = (0..300)
            .map(|i| {
                let a = (i % 5) as f32 * 1.2 + (i / 5) as f32 * 0.001;
                [a.cos(), a.sin(), 0.05]
            })
            .collect();
        let e = Embeddings::from_rows(3, &rows);
        let exact = cluster_with(&e, 0.1, GraphChoice::Exact, &Silent);
        assert_eq!(exact.len(), 5);
        let params = AnnParams::default();
        assert_eq!(
            cluster_with(&e, 0.1, GraphChoice::Approximate(params), &Silent),
            exact
        );
    }

    #[test]
    fn auto_picks_the_graph_by_size() {
        assert!(!GraphChoice::Auto.is_approximate(APPROXIMATE_ABOVE));
        assert!(GraphChoice::Auto.is_approximate(APPROXIMATE_ABOVE + 1));
        assert!(!GraphChoice::Exact.is_approximate(usize::MAX));
        assert!(GraphChoice::Approximate(AnnParams::default()).is_approximate(2));
    }

    #[test]
    fn empty_and_single() {
        let e = Embeddings::from_rows::<[f32; 2]>(2, &[]);
        assert!(cluster(&e, 0.5).is_empty());
        let e = Embeddings::from_rows(2, &[unit(0.0)]);
        assert_eq!(cluster(&e, 0.5), vec![vec![0]]);
    }
}
