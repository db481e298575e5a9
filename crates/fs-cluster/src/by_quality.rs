//! Quality-aware clustering: the faces that pass a quality bar are clustered; each of
//! the others joins the cluster whose centroid is nearest, only if it is within the
//! join distance, and otherwise stays a singleton.
//!
//! A blurred, tiny or turned-away face carries a weaker identity signal and shares
//! more with other poor faces of other people (the same blur, the same low light) than
//! a sharp one does. Linked like sharp faces, such faces sit between people and chain
//! them into one cluster. Attached to a centroid, each one can only join a person the
//! sharp faces already made, and never join two people together.

use rayon::prelude::*;

use crate::Embeddings;
use crate::agglomerative::{Linkage, NO_GROUP, link_apart, sort_clusters};
use crate::embeddings::dot;
use crate::graph::{self, Graph, GraphChoice};
use fs_progress::Progress;

/// How [`cluster_by_quality`] treats the faces below the bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityBar<'a> {
    /// Whether each row passes the bar (is clustered); the others are attached.
    pub passes: &'a [bool],
    /// Largest cosine distance from a face below the bar to the centroid it joins.
    pub join: f32,
}

/// Clusters the rows that pass `bar` by average linkage at `threshold` (over the same
/// candidate graph [`crate::agglomerative::cluster_with`] would build for all of
/// them), then attaches each other row to the nearest centroid within `bar.join`
/// among the clusters of its graph neighbours; rows of one group (see
/// [`crate::agglomerative::cluster_apart`]) are kept apart in both steps. Clusters are
/// sorted as [`crate::agglomerative::cluster`] returns them.
pub fn cluster_by_quality(
    embeddings: &Embeddings,
    threshold: f32,
    choice: GraphChoice,
    bar: QualityBar<'_>,
    groups: Option<&[u32]>,
    progress: &dyn Progress,
) -> Linkage {
    let n = embeddings.len();
    assert_eq!(bar.passes.len(), n, "one quality verdict per row");
    if n < 2 {
        return Linkage {
            clusters: (0..n).map(|i| vec![i]).collect(),
            refused: 0,
        };
    }
    let graph = graph::build(embeddings, threshold, choice, progress);
    // The linkage sees the edges among passing rows only; the rest are isolated.
    let core = Graph {
        neighbours: graph
            .neighbours
            .iter()
            .enumerate()
            .map(|(i, list)| {
                if bar.passes[i] {
                    list.iter()
                        .copied()
                        .filter(|e| bar.passes[e.to as usize])
                        .collect()
                } else {
                    Vec::new()
                }
            })
            .collect(),
    };
    let Linkage {
        mut clusters,
        mut refused,
    } = link_apart(embeddings, core, threshold, groups, progress);
    let mut label = vec![usize::MAX; n];
    for (c, members) in clusters.iter().enumerate() {
        for &i in members {
            if bar.passes[i] {
                label[i] = c;
            }
        }
    }
    let centroids: Vec<Vec<f32>> = clusters
        .par_iter()
        .map(|members| {
            let passing: Vec<usize> = members.iter().copied().filter(|&i| bar.passes[i]).collect();
            crate::centroid::centroid(embeddings, &passing)
        })
        .collect();
    // Each row below the bar: its neighbours' clusters within the join distance,
    // nearest first (ties to the lower cluster).
    let below: Vec<usize> = (0..n).filter(|&i| !bar.passes[i]).collect();
    let choices: Vec<Vec<(f32, usize)>> = below
        .par_iter()
        .map(|&i| {
            let mut candidates: Vec<usize> = graph.neighbours[i]
                .iter()
                .map(|e| label[e.to as usize])
                .filter(|&c| c != usize::MAX)
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            let row = embeddings.row(i);
            let row = row.as_slice().expect("rows are contiguous");
            let mut within: Vec<(f32, usize)> = candidates
                .into_iter()
                .map(|c| ((1.0 - dot(row, &centroids[c])).max(0.0), c))
                .filter(|&(d, _)| d <= bar.join)
                .collect();
            within.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            within
        })
        .collect();
    // Attach in order of distance, so that of two faces of one photo the nearer joins.
    let mut order: Vec<usize> = (0..below.len())
        .filter(|&k| !choices[k].is_empty())
        .collect();
    order.sort_by(|&x, &y| {
        choices[x][0]
            .0
            .total_cmp(&choices[y][0].0)
            .then(below[x].cmp(&below[y]))
    });
    let mut taken: Vec<std::collections::HashSet<u32>> = match groups {
        Some(g) => clusters
            .iter()
            .map(|members| {
                members
                    .iter()
                    .map(|&i| g[i])
                    .filter(|&g| g != NO_GROUP)
                    .collect()
            })
            .collect(),
        None => Vec::new(),
    };
    let mut attached = vec![false; below.len()];
    for k in order {
        let i = below[k];
        let group = groups.map_or(NO_GROUP, |g| g[i]);
        for &(_, c) in &choices[k] {
            if group != NO_GROUP && !taken[c].insert(group) {
                refused += 1;
                continue;
            }
            clusters[c].push(i);
            attached[k] = true;
            break;
        }
    }
    // Rows below the bar were singletons of the linkage: those attached leave theirs.
    let joined: std::collections::HashSet<usize> = below
        .iter()
        .zip(&attached)
        .filter(|(_, a)| **a)
        .map(|(&i, _)| i)
        .collect();
    clusters.retain(|members| !(members.len() == 1 && joined.contains(&members[0])));
    sort_clusters(&mut clusters);
    tracing::info!(
        below = below.len(),
        attached = attached.iter().filter(|&&a| a).count(),
        "faces below the quality bar attached"
    );
    Linkage { clusters, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agglomerative::cluster_apart;
    use fs_progress::Silent;

    fn unit(angle_deg: f32) -> [f32; 3] {
        let a = angle_deg.to_radians();
        [a.cos(), a.sin(), 0.0]
    }

    #[test]
    fn a_poor_face_between_two_people_joins_neither() {
        // Two people 60° apart, a poor face half-way: linked plainly it joins one of
        // them; below the bar it joins only a centroid within the join distance.
        let rows = [unit(0.0), unit(4.0), unit(30.0), unit(56.0), unit(60.0)];
        let e = Embeddings::from_rows(3, &rows);
        let threshold = 0.2;
        let plain = cluster_apart(&e, threshold, GraphChoice::Exact, None, &Silent).clusters;
        assert!(
            plain.iter().any(|c| c.contains(&2) && c.len() > 1),
            "{plain:?}"
        );
        let passes = [true, true, false, true, true];
        let bar = QualityBar {
            passes: &passes,
            join: 0.1,
        };
        let got = cluster_by_quality(&e, threshold, GraphChoice::Exact, bar, None, &Silent);
        assert_eq!(got.clusters, vec![vec![0, 1], vec![3, 4], vec![2]]);
        // Within the join distance of one centroid, it joins that one.
        let bar = QualityBar {
            passes: &passes,
            join: 0.16,
        };
        let rows = [unit(0.0), unit(4.0), unit(25.0), unit(56.0), unit(60.0)];
        let e = Embeddings::from_rows(3, &rows);
        let got = cluster_by_quality(&e, threshold, GraphChoice::Exact, bar, None, &Silent);
        assert_eq!(got.clusters, vec![vec![0, 1, 2], vec![3, 4]]);
    }

    #[test]
    fn every_row_passing_is_plain_linkage() {
        let rows: Vec<[f32; 3]> = (0..40)
            .map(|i: u8| unit(f32::from(i % 4) * 50.0 + f32::from(i / 4)))
            .collect();
        let e = Embeddings::from_rows(3, &rows);
        let passes = vec![true; rows.len()];
        let bar = QualityBar {
            passes: &passes,
            join: 0.3,
        };
        let got = cluster_by_quality(&e, 0.2, GraphChoice::Exact, bar, None, &Silent);
        let plain = cluster_apart(&e, 0.2, GraphChoice::Exact, None, &Silent);
        assert_eq!(got, plain);
    }

    #[test]
    fn two_poor_faces_of_one_photo_never_join_one_cluster() {
        // Rows 2 and 3 are poor faces of one photo, both near person A; only the
        // nearer joins it.
        let rows = [unit(0.0), unit(2.0), unit(5.0), unit(7.0), unit(90.0)];
        let e = Embeddings::from_rows(3, &rows);
        let passes = [true, true, false, false, true];
        let groups = [NO_GROUP, NO_GROUP, 7, 7, NO_GROUP];
        let bar = QualityBar {
            passes: &passes,
            join: 0.1,
        };
        let got = cluster_by_quality(&e, 0.2, GraphChoice::Exact, bar, Some(&groups), &Silent);
        assert_eq!(got.clusters, vec![vec![0, 1, 2], vec![3], vec![4]]);
        assert_eq!(got.refused, 1);
        let free = cluster_by_quality(&e, 0.2, GraphChoice::Exact, bar, None, &Silent);
        assert_eq!(free.clusters, vec![vec![0, 1, 2, 3], vec![4]]);
    }
}
