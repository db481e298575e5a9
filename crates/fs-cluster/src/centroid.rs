//! Centroids and the rules built on them: merge, outlier rejection, assignment.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::agglomerative::sort_clusters;
use crate::graph;
use crate::graph::GraphChoice;
use crate::{Embeddings, cosine_distance};
use fs_progress::Silent;

/// The normalised mean of the member rows (zero when `members` is empty).
pub fn centroid(embeddings: &Embeddings, members: &[usize]) -> Vec<f32> {
    let mut sum = sum(embeddings, members);
    normalise(&mut sum);
    sum
}

/// The sum of the member rows (the centroid before normalising).
pub(crate) fn sum(embeddings: &Embeddings, members: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f32; embeddings.dim()];
    for &i in members {
        for (s, v) in sum.iter_mut().zip(embeddings.row(i)) {
            *s += v;
        }
    }
    sum
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Splits `members` into (kept, dropped): when there are at least `min_size` members,
/// a member whose cosine distance to the centroid exceeds `threshold` is dropped.
/// Smaller clusters are kept whole: their centroid is too unstable to judge by.
pub fn reject_outliers(
    embeddings: &Embeddings,
    members: &[usize],
    threshold: f32,
    min_size: usize,
) -> (Vec<usize>, Vec<usize>) {
    if members.len() < min_size {
        return (members.to_vec(), Vec::new());
    }
    let c = centroid(embeddings, members);
    members.iter().partition(|&&i| {
        cosine_distance(
            embeddings.row(i).as_slice().expect("rows are contiguous"),
            &c,
        ) <= threshold
    })
}

/// Merges clusters whose centroids are within `threshold` cosine distance, closest pair
/// first, recomputing the merged centroid each time (so a merge can enable or prevent
/// the next). Returns the clusters sorted as [`crate::agglomerative::cluster`] does.
///
/// The pairs within the threshold at the start come from a candidate graph over the
/// centroids ([`crate::graph`]), so nothing holds `k²` distances; a merged centroid is
/// compared with every other one, which keeps the result exact.
pub fn merge_by_centroid(
    embeddings: &Embeddings,
    clusters: Vec<Vec<usize>>,
    threshold: f32,
) -> Vec<Vec<usize>> {
    let k = clusters.len();
    if k < 2 {
        let mut clusters = clusters;
        sort_clusters(&mut clusters);
        return clusters;
    }
    let mut clusters: Vec<Option<Vec<usize>>> = clusters.into_iter().map(Some).collect();
    let rows: Vec<Vec<f32>> = clusters
        .iter()
        .map(|c| centroid(embeddings, c.as_deref().unwrap_or_default()))
        .collect();
    let mut centroids = Embeddings::from_rows(embeddings.dim(), &rows);
    let graph = graph::build(&centroids, threshold, GraphChoice::Auto, &Silent);
    // Candidate pairs, closest first (then by lower, higher index); an entry is stale
    // once either cluster has changed since it was pushed.
    let mut version = vec![0u32; k];
    let mut heap: BinaryHeap<Reverse<Candidate>> = BinaryHeap::new();
    for (i, list) in graph.neighbours.iter().enumerate() {
        for e in list.iter().filter(|e| e.to as usize > i) {
            heap.push(Reverse(Candidate::new(
                e.distance,
                i,
                e.to as usize,
                &version,
            )));
        }
    }
    while let Some(Reverse(c)) = heap.pop() {
        if c.distance > threshold {
            break;
        }
        if clusters[c.a].is_none()
            || clusters[c.b].is_none()
            || version[c.a] != c.version_a
            || version[c.b] != c.version_b
        {
            continue;
        }
        let moved = clusters[c.b].take().expect("live");
        let merged = clusters[c.a].as_mut().expect("live");
        merged.extend(moved);
        centroids.set_row(c.a, &centroid(embeddings, merged));
        version[c.a] += 1;
        let a = c.a;
        let near: Vec<(usize, f32)> = (0..k)
            .into_par_iter()
            .filter(|&x| x != a && clusters[x].is_some())
            .map(|x| (x, centroids.distance(a, x)))
            .filter(|&(_, d)| d <= threshold)
            .collect();
        for (x, d) in near {
            heap.push(Reverse(Candidate::new(d, a.min(x), a.max(x), &version)));
        }
    }
    let mut merged: Vec<Vec<usize>> = clusters.into_iter().flatten().collect();
    sort_clusters(&mut merged);
    merged
}

/// A pair of clusters that may merge, ordered by distance, then indices.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Candidate {
    distance: f32,
    a: usize,
    b: usize,
    version_a: u32,
    version_b: u32,
}

impl Candidate {
    fn new(distance: f32, a: usize, b: usize, version: &[u32]) -> Self {
        Self {
            distance,
            a,
            b,
            version_a: version[a],
            version_b: version[b],
        }
    }
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.a.cmp(&other.a))
            .then(self.b.cmp(&other.b))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The nearest centroid to `query` and its cosine distance; ties go to the lower index.
pub fn nearest(centroids: &[Vec<f32>], query: &[f32]) -> Option<(usize, f32)> {
    centroids
        .iter()
        .enumerate()
        .map(|(i, c)| (i, cosine_distance(c, query)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
}

/// The nearest centroid within `cutoff` (inclusive), if any.
pub fn assign(centroids: &[Vec<f32>], query: &[f32], cutoff: f32) -> Option<usize> {
    nearest(centroids, query).and_then(|(i, d)| (d <= cutoff).then_some(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle_deg: f32) -> [f32; 2] {
        let a = angle_deg.to_radians();
        [a.cos(), a.sin()]
    }

    /// Cosine distance between unit vectors `deg` degrees apart.
    fn dist(deg: f32) -> f32 {
        1.0 - deg.to_radians().cos()
    }

    #[test]
    fn outliers_dropped_only_from_clusters_of_min_size() {
        let rows = [unit(0.0), unit(2.0), unit(-2.0), unit(70.0)];
        let e = Embeddings::from_rows(2, &rows);
        let (kept, dropped) = reject_outliers(&e, &[0, 1, 2, 3], 0.2, 4);
        assert_eq!((kept, dropped), (vec![0, 1, 2], vec![3]));
        // Three members: below min_size, kept whole even with a far member.
        let (kept, dropped) = reject_outliers(&e, &[0, 1, 3], 0.2, 4);
        assert_eq!((kept, dropped), (vec![0, 1, 3], vec![]));
    }

    #[test]
    fn outlier_threshold_is_inclusive() {
        // Symmetric pair around the centroid at 0°: each exactly `dist(30)` away.
        let e = Embeddings::from_rows(2, &[unit(30.0), unit(-30.0), unit(30.0), unit(-30.0)]);
        let d = dist(30.0);
        assert_eq!(
            reject_outliers(&e, &[0, 1, 2, 3], d + 1e-6, 4).1,
            Vec::<usize>::new()
        );
        assert_eq!(
            reject_outliers(&e, &[0, 1, 2, 3], d - 1e-4, 4).0,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn merge_joins_close_centroids_and_stops_at_threshold() {
        // Centroids at 0°, 20° and 90°.
        let rows = [
            unit(-1.0),
            unit(1.0),
            unit(19.0),
            unit(21.0),
            unit(89.0),
            unit(91.0),
        ];
        let e = Embeddings::from_rows(2, &rows);
        let clusters = vec![vec![0, 1], vec![2, 3], vec![4, 5]];
        let at = |deg: f32| merge_by_centroid(&e, clusters.clone(), dist(deg));
        assert_eq!(at(19.9), clusters);
        assert_eq!(at(20.1), vec![vec![0, 1, 2, 3], vec![4, 5]]);
        // 10° → 90° is 80°: merging everything needs that much.
        assert_eq!(at(79.9).len(), 2);
        assert_eq!(at(80.1), vec![vec![0, 1, 2, 3, 4, 5]]);
    }

    /// The definition, by brute force: merge the closest pair of live centroids while
    /// it is within the threshold.
    fn merge_brute_force(e: &Embeddings, clusters: Vec<Vec<usize>>, t: f32) -> Vec<Vec<usize>> {
        let mut live: Vec<Option<Vec<usize>>> = clusters.into_iter().map(Some).collect();
        loop {
            let mut best: Option<(f32, usize, usize)> = None;
            for i in 0..live.len() {
                for j in i + 1..live.len() {
                    if let (Some(a), Some(b)) = (&live[i], &live[j]) {
                        let d = cosine_distance(&centroid(e, a), &centroid(e, b));
                        if best.is_none_or(|(bd, _, _)| d < bd) {
                            best = Some((d, i, j));
                        }
                    }
                }
            }
            match best {
                Some((d, i, j)) if d <= t => {
                    let moved = live[j].take().expect("live");
                    live[i].as_mut().expect("live").extend(moved);
                }
                _ => break,
            }
        }
        let mut out: Vec<Vec<usize>> = live.into_iter().flatten().collect();
        sort_clusters(&mut out);
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn merge_equals_brute_force(
            rows in proptest::collection::vec(proptest::collection::vec(-1f32..1.0, 6), 2..80),
            cuts in proptest::collection::vec(1usize..6, 1..40),
            t in 0.05f32..0.8,
        ) {
            let e = Embeddings::from_rows(6, &rows);
            // Consecutive runs of rows as the clusters to merge.
            let mut clusters = Vec::new();
            let mut next = 0;
            for c in cuts.iter().cycle() {
                if next >= e.len() {
                    break;
                }
                let end = (next + c).min(e.len());
                clusters.push((next..end).collect::<Vec<usize>>());
                next = end;
            }
            proptest::prop_assert_eq!(
                merge_by_centroid(&e, clusters.clone(), t),
                merge_brute_force(&e, clusters, t)
            );
        }
    }

    #[test]
    fn assign_respects_cutoff_and_prefers_lower_index_on_ties() {
        let centroids = vec![unit(0.0).to_vec(), unit(90.0).to_vec(), unit(0.0).to_vec()];
        assert_eq!(assign(&centroids, &unit(10.0), dist(10.0) + 1e-6), Some(0));
        assert_eq!(assign(&centroids, &unit(10.0), dist(10.0) - 1e-4), None);
        assert_eq!(assign(&centroids, &unit(80.0), 0.1), Some(1));
        assert_eq!(nearest(&[], &unit(0.0)), None);
    }

    #[test]
    fn centroid_is_unit_mean() {
        let e = Embeddings::from_rows(2, &[unit(0.0), unit(90.0)]);
        let c = centroid(&e, &[0, 1]);
        assert!((c[0] - c[1]).abs() < 1e-6 && (c[0] * c[0] + c[1] * c[1] - 1.0).abs() < 1e-5);
    }
}
