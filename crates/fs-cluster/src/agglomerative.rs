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
//! threshold graph ([`crate::graph`]). Merges are found by nearest-neighbour chains,
//! which give the same dendrogram as merging the globally closest pair each time
//! (average linkage is reducible), ties aside. Memory is linear in the rows plus the
//! edges: a single row's sum is its own embedding, read in place, so only clusters of
//! two rows or more hold a sum of their own (a million faces: up to 2 GB not copied).
//!
//! **Cost bounded by the graph.** Each cluster keeps its candidates in a min-heap of
//! *lower bounds*. Average linkage moves every distance of a cluster that merges (its
//! new distance to X is the size-weighted mean of its parts'), so no exact list can be
//! kept current for less than its length per merge — a person of thousands of faces,
//! absorbing faces one at a time, would rescan thousands of candidates each time. But
//! a distance below `t` never falls below the smaller of its parts' (reducibility), so
//! the old keys stay lower bounds: merging two clusters just pours the smaller heap
//! into the larger (each entry moves `O(log n)` times), and a query makes exact only
//! the entries that surface at the top until an exact, current one is there.
//!
//! **Cannot-link.** Rows given the same group (faces of one photo) never share a
//! cluster: such a pair's distance is infinite, which keeps the linkage reducible (a
//! merged cluster conflicts with whatever either part conflicts with), so chains and
//! heaps work unchanged.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

use kodama::{Method, linkage};

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
    cluster_apart(embeddings, threshold, choice, None, progress).clusters
}

/// What [`cluster_apart`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Linkage {
    /// The clusters, sorted as [`cluster`] returns them.
    pub clusters: Vec<Vec<usize>>,
    /// Merges below the threshold refused because both sides held a row of one group.
    pub refused: usize,
}

/// [`cluster_with`] where rows of one group never share a cluster: `groups[i]` is row
/// `i`'s group (the photo a face comes from), [`NO_GROUP`] for a row apart from all.
pub fn cluster_apart(
    embeddings: &Embeddings,
    threshold: f32,
    choice: GraphChoice,
    groups: Option<&[u32]>,
    progress: &dyn Progress,
) -> Linkage {
    let n = embeddings.len();
    if n < 2 {
        return Linkage {
            clusters: (0..n).map(|i| vec![i]).collect(),
            refused: 0,
        };
    }
    let graph = graph::build(embeddings, threshold, choice, progress);
    link_apart(embeddings, graph, threshold, groups, progress)
}

/// A row in a group of its own, in [`cluster_apart`]'s `groups`.
pub const NO_GROUP: u32 = u32::MAX;

/// Average linkage over the candidate pairs of `graph`, cut at `threshold`.
pub fn link(
    embeddings: &Embeddings,
    graph: Graph,
    threshold: f32,
    progress: &dyn Progress,
) -> Vec<Vec<usize>> {
    link_apart(embeddings, graph, threshold, None, progress).clusters
}

/// [`link`] keeping the rows of each group apart (see [`cluster_apart`]).
pub fn link_apart(
    embeddings: &Embeddings,
    graph: Graph,
    threshold: f32,
    groups: Option<&[u32]>,
    progress: &dyn Progress,
) -> Linkage {
    let n = embeddings.len();
    assert_eq!(graph.neighbours.len(), n, "one neighbour list per row");
    if let Some(g) = groups {
        assert_eq!(g.len(), n, "one group per row");
    }
    let span = tracing::info_span!("average linkage", faces = n).entered();
    let started = Instant::now();
    progress.start(Phase::Linkage, n as u64);
    let mut starts: Vec<u32> = breadth_first_order(&graph.neighbours);
    starts.reverse();
    let mut state = Chains::new(embeddings, graph.neighbours, threshold, groups);
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
            match state.nearest(a) {
                // Not strictly nearer than the element below: that one is a's nearest.
                Some((b, d)) if Some(b) == previous || d >= reached_at => {
                    let b = previous.unwrap_or(b);
                    chain.truncate(chain.len() - 2);
                    starts.push(state.merge(a, b));
                    progress.advance(1);
                }
                Some((b, d)) => chain.push((b, d)),
                None => {
                    // Nothing within the threshold now, so never: a merge elsewhere
                    // never brings a cluster closer than the nearer of its parts.
                    state.close(a);
                    chain.pop();
                    progress.advance(1);
                }
            }
        }
    }
    let (refused, popped, recomputed) = (state.refused, state.popped, state.recomputed);
    let clusters = state.clusters();
    progress.finish(Phase::Linkage);
    tracing::info!(
        clusters = clusters.len(),
        refused,
        popped,
        recomputed,
        seconds = started.elapsed().as_secs_f64(),
        "linkage done"
    );
    drop(span);
    Linkage { clusters, refused }
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

/// A candidate in a cluster's heap: a lower bound on the distance to the cluster that
/// `to` belongs to now, exact if computed (`at`) since either end last changed.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    distance: f32,
    to: u32,
    /// The clock when `distance` was computed exactly. The candidate graph's distances
    /// (of single rows, at clock 1) count as exact, as they are up to rounding.
    at: u32,
}

// The heap is a max-heap: the smallest distance (then the lowest row) is the greatest.
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .distance
            .total_cmp(&self.distance)
            .then(other.to.cmp(&self.to))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The state of the nearest-neighbour chains: clusters as union-find trees over the
/// rows, each root holding its cluster's sum vector, size and candidate heap.
struct Chains<'a> {
    dim: usize,
    /// The rows: a single row's sum is its own embedding.
    rows: &'a [f32],
    /// Where the sum of the cluster rooted at `r` lies in `sums`, once it holds more
    /// than one row ([`NO_SUM`] before): a copy of every row would double the memory.
    sum_at: Vec<u32>,
    /// Sums of clusters of more than one row, `dim` values each.
    sums: Vec<f32>,
    /// Places in `sums` whose cluster merged into another.
    free_sums: Vec<u32>,
    sizes: Vec<u32>,
    parent: Vec<u32>,
    heaps: Vec<BinaryHeap<Candidate>>,
    /// A root that can no longer merge below the threshold.
    closed: Vec<bool>,
    /// When each root last changed (merged); the clock ticks once per merge, from 1.
    changed_at: Vec<u32>,
    clock: u32,
    /// The groups each root's rows belong to, where cannot-link applies.
    groups: Option<Vec<HashSet<u32>>>,
    refused: usize,
    /// Entries popped, and distances made exact (for the log).
    popped: u64,
    recomputed: u64,
    /// Scratch: `seen[r] == stamp` once made exact in the current query.
    seen: Vec<u32>,
    stamp: u32,
    threshold: f32,
}

/// [`Chains::sum_at`] of a single row.
const NO_SUM: u32 = u32::MAX;

impl<'a> Chains<'a> {
    fn new(
        embeddings: &'a Embeddings,
        neighbours: Vec<Vec<Edge>>,
        threshold: f32,
        groups: Option<&[u32]>,
    ) -> Self {
        let n = embeddings.len();
        let view = embeddings.view();
        let heaps = neighbours
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .filter(|e| e.distance < threshold)
                    .map(|e| Candidate {
                        distance: e.distance,
                        to: e.to,
                        at: 1,
                    })
                    .collect()
            })
            .collect();
        Self {
            dim: embeddings.dim(),
            rows: view.to_slice().expect("rows are contiguous"),
            sum_at: vec![NO_SUM; n],
            sums: Vec::new(),
            free_sums: Vec::new(),
            sizes: vec![1; n],
            parent: (0..n).map(row_id).collect(),
            heaps,
            closed: vec![false; n],
            changed_at: vec![1; n],
            clock: 1,
            groups: groups.map(|g| {
                g.iter()
                    .map(|&g| {
                        if g == NO_GROUP {
                            HashSet::new()
                        } else {
                            HashSet::from([g])
                        }
                    })
                    .collect()
            }),
            refused: 0,
            popped: 0,
            recomputed: 0,
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
        self.heaps[r as usize] = BinaryHeap::new();
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
        match self.sum_at[r as usize] {
            NO_SUM => &self.rows[r as usize * self.dim..][..self.dim],
            at => &self.sums[at as usize * self.dim..][..self.dim],
        }
    }

    /// Adds the sum of `gone` into that of `keep`, which gets a place of its own in
    /// `sums` if it was a single row; `gone`'s place is freed.
    fn add_sum(&mut self, keep: u32, gone: u32) {
        let dim = self.dim;
        let gone_at = self.sum_at[gone as usize];
        let added: Vec<f32> = self.sum(gone).to_vec();
        if gone_at != NO_SUM {
            self.free_sums.push(gone_at);
            self.sum_at[gone as usize] = NO_SUM;
        }
        let at = match self.sum_at[keep as usize] {
            NO_SUM => {
                let own = self.rows[keep as usize * dim..][..dim].to_vec();
                let at = if let Some(at) = self.free_sums.pop() {
                    self.sums[at as usize * dim..][..dim].copy_from_slice(&own);
                    at
                } else {
                    self.sums.extend_from_slice(&own);
                    row_id(self.sums.len() / dim - 1)
                };
                self.sum_at[keep as usize] = at;
                at
            }
            at => at,
        };
        for (s, a) in self.sums[at as usize * dim..][..dim].iter_mut().zip(added) {
            *s += a;
        }
    }

    /// Average distance between the clusters rooted at `a` and `b`, from their sums.
    fn distance(&self, a: u32, b: u32) -> f32 {
        let pairs = f64::from(self.sizes[a as usize]) * f64::from(self.sizes[b as usize]);
        #[expect(clippy::cast_possible_truncation, reason = "a distance in [0, 2]")]
        let mean = (f64::from(dot(self.sum(a), self.sum(b))) / pairs) as f32;
        (1.0 - mean).max(0.0)
    }

    /// Whether the clusters rooted at `a` and `b` hold rows of one group.
    fn conflict(&self, a: u32, b: u32) -> bool {
        let Some(groups) = &self.groups else {
            return false;
        };
        let (x, y) = (&groups[a as usize], &groups[b as usize]);
        let (small, large) = if x.len() <= y.len() { (x, y) } else { (y, x) };
        small.iter().any(|g| large.contains(g))
    }

    fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }

    /// The nearest open cluster to root `a` within the threshold, with its exact
    /// distance (ties to the lower root). Pops bounds off `a`'s heap, making each
    /// exact, until an exact, current one is on top: every other is at least its bound.
    fn nearest(&mut self, a: u32) -> Option<(u32, f32)> {
        let stamp = self.next_stamp();
        let mut heap = std::mem::take(&mut self.heaps[a as usize]);
        let found = loop {
            let Some(&top) = heap.peek() else {
                break None;
            };
            let r = self.find(top.to);
            if r == a || self.closed[r as usize] {
                heap.pop();
                continue;
            }
            let current = r == top.to
                && top.at >= self.changed_at[a as usize]
                && top.at >= self.changed_at[r as usize];
            if current {
                if self.conflict(a, r) {
                    // Never again: a merged cluster keeps every group of its parts.
                    self.refused += 1;
                    heap.pop();
                    continue;
                }
                break Some((r, top.distance));
            }
            heap.pop();
            self.popped += 1;
            if self.seen[r as usize] == stamp {
                // Already made exact in this query: that entry is in the heap.
                continue;
            }
            self.seen[r as usize] = stamp;
            self.recomputed += 1;
            let distance = self.distance(a, r);
            if distance < self.threshold {
                heap.push(Candidate {
                    distance,
                    to: r,
                    at: self.clock,
                });
            }
        };
        self.heaps[a as usize] = heap;
        found
    }

    /// Merges the clusters rooted at `a` and `b`; returns the new root.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        // The larger heap is kept and the smaller poured into it, so an entry moves
        // O(log n) times in all. Every key stays a lower bound of the merged cluster's
        // distance or of a part's (see the module notes): nothing is recomputed here.
        let (keep, gone) = if self.heaps[a as usize].len() >= self.heaps[b as usize].len() {
            (a, b)
        } else {
            (b, a)
        };
        self.add_sum(keep, gone);
        self.sizes[keep as usize] += self.sizes[gone as usize];
        self.parent[gone as usize] = keep;
        self.clock += 1;
        self.changed_at[keep as usize] = self.clock;
        let mut poured = std::mem::take(&mut self.heaps[gone as usize]);
        self.heaps[keep as usize].append(&mut poured);
        if let Some(groups) = &mut self.groups {
            let mut from = std::mem::take(&mut groups[gone as usize]);
            let into = &mut groups[keep as usize];
            if from.len() > into.len() {
                std::mem::swap(&mut from, into);
            }
            into.extend(from);
        }
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
    fn rows_of_one_group_never_share_a_cluster() {
        // Two faces of one photo (rows 1 and 2) sit between two others; plainly all
        // four are one person, kept apart they split, and the refusal is counted.
        let rows = [unit(0.0), unit(1.0), unit(2.0), unit(3.0)];
        let e = Embeddings::from_rows(2, &rows);
        assert_eq!(cluster(&e, 0.1), vec![vec![0, 1, 2, 3]]);
        let groups = [NO_GROUP, 5, 5, NO_GROUP];
        let got = cluster_apart(&e, 0.1, GraphChoice::Exact, Some(&groups), &Silent);
        assert_eq!(got.clusters, vec![vec![0, 1], vec![2, 3]]);
        assert!(got.refused >= 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Kept apart, no cluster holds two rows of a group; without groups the answer
        /// is the plain one.
        #[test]
        fn groups_are_kept_apart(
            rows in proptest::collection::vec(proptest::collection::vec(-1f32..1.0, 3), 2..150),
            group_of in proptest::collection::vec(0u32..40, 150),
            threshold in 0.1f32..0.9,
        ) {
            let e = Embeddings::from_rows(3, &rows);
            let groups: Vec<u32> = group_of[..rows.len()].iter().map(|&g| if g < 20 { g } else { NO_GROUP }).collect();
            let got = cluster_apart(&e, threshold, GraphChoice::Exact, Some(&groups), &Silent);
            for c in &got.clusters {
                let mut seen = std::collections::HashSet::new();
                for &i in c {
                    proptest::prop_assert!(groups[i] == NO_GROUP || seen.insert(groups[i]), "{:?} holds group {} twice", c, groups[i]);
                }
            }
            let none = vec![NO_GROUP; rows.len()];
            proptest::prop_assert_eq!(
                cluster_apart(&e, threshold, GraphChoice::Exact, Some(&none), &Silent).clusters,
                cluster(&e, threshold)
            );
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
