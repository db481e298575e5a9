//! `refine`: identities you can use — merged, quality-gated and outlier-free.
//!
//! Initial clustering (0.55) → centroid merge (0.40) → quality gate (face short side
//! ≥ 90 px, sharpness ≥ 40, detector score ≥ 0.6) → outlier rejection (0.55, clusters of
//! 4 or more) → size filter (≥ 15 distinct images) → `faceset_NNN/`.

use fs_cache::Cache;
use fs_cluster::centroid::{merge_by_centroid, reject_outliers};
use fs_progress::{Progress, Silent};

use crate::faces::{self, FaceRow};
use crate::linking::link_faces;
use crate::manifest::{self, DroppedFace, Faceset, RefineManifest};

use crate::gates::{OUTLIER_MIN_SIZE, RefineOptions, quality_gate};

/// Runs the refine pipeline over every face of the cache.
pub fn refine_cache(cache: &Cache, options: &RefineOptions) -> RefineManifest {
    refine_cache_reporting(cache, options, &Silent)
}

/// [`refine_cache`], reporting the clustering's progress.
pub fn refine_cache_reporting(
    cache: &Cache,
    options: &RefineOptions,
    progress: &dyn Progress,
) -> RefineManifest {
    let (rows, embeddings) = faces::collect(cache, |_| true);
    let clusters = link_faces(
        &rows,
        &embeddings,
        options.initial_threshold,
        options.graph,
        &options.linking,
        progress,
    )
    .clusters;
    let merged = merge_by_centroid(&embeddings, clusters, options.merge_threshold);
    let mut candidates: Vec<(Vec<usize>, Vec<DroppedFace>)> = Vec::new();
    for members in merged {
        let mut dropped = Vec::new();
        // The centroid merge can join two clusters that each hold a face of one photo:
        // with faces of one photo apart, the one nearer the centroid stays.
        let members = if options.linking.apart {
            one_face_per_photo(&embeddings, &rows, members, &mut dropped)
        } else {
            members
        };
        let gated: Vec<usize> = members
            .into_iter()
            .filter(|&i| match quality_gate(&rows[i], options) {
                None => true,
                Some(reason) => {
                    dropped.push(DroppedFace {
                        face: rows[i].clone(),
                        reason,
                    });
                    false
                }
            })
            .collect();
        let (kept, outliers) = reject_outliers(
            &embeddings,
            &gated,
            options.outlier_threshold,
            OUTLIER_MIN_SIZE,
        );
        dropped.extend(outliers.into_iter().map(|i| DroppedFace {
            face: rows[i].clone(),
            reason: format!(
                "outlier: farther than {} from the centroid",
                options.outlier_threshold
            ),
        }));
        if distinct_images(&kept, &rows) >= options.min_faces.max(1) {
            candidates.push((kept, dropped));
        }
    }
    // Number by size, then by first path, like raw clusters.
    candidates.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0[0].cmp(&b.0[0])));
    let facesets = candidates
        .into_iter()
        .enumerate()
        .map(|(n, (kept, dropped))| Faceset {
            name: manifest::numbered("faceset", n + 1),
            images: distinct_images(&kept, &rows),
            faces: kept.iter().map(|&i| rows[i].clone()).collect(),
            dropped,
        })
        .collect();
    RefineManifest {
        version: manifest::VERSION,
        cache: std::path::absolute(cache.path()).unwrap_or_else(|_| cache.path().to_path_buf()),
        params: options.clone(),
        facesets,
    }
}

/// `members` with, of each photo, only the face nearest their centroid; the others go
/// to `dropped`.
fn one_face_per_photo(
    embeddings: &fs_cluster::Embeddings,
    rows: &[FaceRow],
    members: Vec<usize>,
    dropped: &mut Vec<DroppedFace>,
) -> Vec<usize> {
    let centre = fs_cluster::centroid::centroid(embeddings, &members);
    let distance = |i: usize| {
        let row = embeddings.row(i);
        fs_cluster::cosine_distance(row.as_slice().expect("rows are contiguous"), &centre)
    };
    let mut nearest: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for &i in &members {
        let slot = nearest.entry(rows[i].image_key()).or_insert(i);
        if distance(i) < distance(*slot) {
            *slot = i;
        }
    }
    let (kept, gone): (Vec<usize>, Vec<usize>) = members
        .into_iter()
        .partition(|&i| nearest[rows[i].image_key()] == i);
    dropped.extend(gone.into_iter().map(|i| DroppedFace {
        face: rows[i].clone(),
        reason: "another face of this photo is nearer the centroid".into(),
    }));
    kept
}

fn distinct_images(members: &[usize], rows: &[FaceRow]) -> usize {
    faces::distinct_images(members.iter().map(|&i| &rows[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(photo: &str, index: u32) -> FaceRow {
        FaceRow {
            key: format!("{photo}:{index}"),
            path: format!("/p/{photo}.jpg").into(),
            paths: vec![format!("/p/{photo}.jpg").into()],
            bbox: [0.0, 0.0, 100.0, 100.0],
            det_score: 0.9,
            sharpness: Some(100.0),
        }
    }

    #[test]
    fn of_two_faces_of_one_photo_the_one_nearer_the_centroid_stays() {
        let e = fs_cluster::Embeddings::from_rows(
            2,
            &[[1.0, 0.0], [0.99, 0.1], [0.9, 0.43], [1.0, 0.02]],
        );
        // Rows 1 and 2 are faces of photo "b": row 1 is nearer the others.
        let rows = [row("a", 0), row("b", 0), row("b", 1), row("c", 0)];
        let mut dropped = Vec::new();
        let kept = one_face_per_photo(&e, &rows, vec![0, 1, 2, 3], &mut dropped);
        assert_eq!(kept, vec![0, 1, 3]);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].face.key, "b:1");
    }
}
