//! Centroids and the rules built on them: merge, outlier rejection, assignment.

use crate::agglomerative::sort_clusters;
use crate::{Embeddings, cosine_distance};

/// The normalised mean of the member rows (zero when `members` is empty).
pub fn centroid(embeddings: &Embeddings, members: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f32; embeddings.dim()];
    for &i in members {
        for (s, v) in sum.iter_mut().zip(embeddings.row(i)) {
            *s += v;
        }
    }
    normalise(&mut sum);
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
pub fn merge_by_centroid(
    embeddings: &Embeddings,
    clusters: Vec<Vec<usize>>,
    threshold: f32,
) -> Vec<Vec<usize>> {
    let mut clusters: Vec<Option<Vec<usize>>> = clusters.into_iter().map(Some).collect();
    let mut centroids: Vec<Vec<f32>> = clusters
        .iter()
        .map(|c| centroid(embeddings, c.as_deref().unwrap_or_default()))
        .collect();
    let k = clusters.len();
    // Each live cluster's nearest live neighbour with a higher index, and the distance.
    let nearest_after = |i: usize, centroids: &[Vec<f32>], clusters: &[Option<Vec<usize>>]| {
        (i + 1..k)
            .filter(|&j| clusters[j].is_some())
            .map(|j| (cosine_distance(&centroids[i], &centroids[j]), j))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
    };
    let mut best: Vec<Option<(f32, usize)>> = (0..k)
        .map(|i| nearest_after(i, &centroids, &clusters))
        .collect();
    while let Some((d, a, b)) = best
        .iter()
        .enumerate()
        .filter(|(i, _)| clusters[*i].is_some())
        .filter_map(|(i, nb)| nb.map(|(d, j)| (d, i, j)))
        .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
    {
        if d > threshold {
            break;
        }
        let moved = clusters[b].take().expect("live");
        clusters[a].as_mut().expect("live").extend(moved);
        centroids[a] = centroid(embeddings, clusters[a].as_deref().expect("live"));
        // Rows whose nearest neighbour was a or b, and row a itself, must be recomputed;
        // any row may now find a closer neighbour in the new a.
        for i in 0..k {
            if clusters[i].is_none() {
                best[i] = None;
                continue;
            }
            let stale = i == a || best[i].is_some_and(|(_, j)| j == a || j == b);
            if stale {
                best[i] = nearest_after(i, &centroids, &clusters);
            } else if i < a {
                let d = cosine_distance(&centroids[i], &centroids[a]);
                if best[i].is_none_or(|(bd, bj)| d.total_cmp(&bd).then(a.cmp(&bj)).is_lt()) {
                    best[i] = Some((d, a));
                }
            }
        }
    }
    let mut merged: Vec<Vec<usize>> = clusters.into_iter().flatten().collect();
    sort_clusters(&mut merged);
    merged
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
