//! Average-linkage agglomerative clustering cut at a distance threshold, the same
//! clusters as scikit-learn's `AgglomerativeClustering(metric='cosine',
//! linkage='average', distance_threshold=t)`: two clusters merge while their average
//! pairwise cosine distance is below `t`.
//!
//! **Split first, then link.** Two clusters with no pair of members closer than `t`
//! have an average distance of at least `t`, so they never merge; by induction every
//! cluster lies inside one connected component of the graph that joins rows closer than
//! `t`. Clustering each component on its own therefore gives exactly the clusters of
//! one global run, with a distance matrix per component instead of one `n²/2` matrix for
//! the whole library: far less memory and time when people form separate components,
//! as they do at the default 0.55, and no worse when they do not.

use kodama::{Method, linkage};
use rayon::prelude::*;

use crate::Embeddings;

/// Clusters the rows; returns clusters as row indices, each sorted ascending, ordered
/// by size (largest first) and then by their first row. Deterministic for a given input.
pub fn cluster(embeddings: &Embeddings, threshold: f32) -> Vec<Vec<usize>> {
    let n = embeddings.len();
    if n < 2 {
        return (0..n).map(|i| vec![i]).collect();
    }
    let components = embeddings.components_within(threshold);
    let mut clusters: Vec<Vec<usize>> = components
        .into_par_iter()
        .flat_map_iter(|members| {
            if members.len() < 2 {
                return vec![members];
            }
            let sub = embeddings.select(&members);
            let mut condensed = sub.condensed_distances();
            cluster_condensed(&mut condensed, members.len(), threshold)
                .into_iter()
                .map(|c| c.into_iter().map(|i| members[i]).collect())
                .collect()
        })
        .collect();
    sort_clusters(&mut clusters);
    clusters
}

/// Like [`cluster`], from a precomputed condensed distance matrix (consumed as scratch).
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
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_cmp
)]
mod tests {
    use super::*;

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
        fn split_then_link_equals_one_global_linkage(
            rows in proptest::collection::vec(proptest::collection::vec(-1f32..1.0, 3), 2..120),
            threshold in 0.05f32..0.9,
        ) {
            let e = Embeddings::from_rows(3, &rows);
            let mut condensed = e.condensed_distances();
            let global = cluster_condensed(&mut condensed, e.len(), threshold);
            proptest::prop_assert_eq!(cluster(&e, threshold), global);
        }
    }

    #[test]
    fn empty_and_single() {
        let e = Embeddings::from_rows::<[f32; 2]>(2, &[]);
        assert!(cluster(&e, 0.5).is_empty());
        let e = Embeddings::from_rows(2, &[unit(0.0)]);
        assert_eq!(cluster(&e, 0.5), vec![vec![0]]);
    }
}
