//! `refine`: identities you can use — merged, quality-gated and outlier-free.
//!
//! Initial clustering (0.55) → centroid merge (0.40) → quality gate (face short side
//! ≥ 90 px, sharpness ≥ 40, detector score ≥ 0.6) → outlier rejection (0.55, clusters of
//! 4 or more) → size filter (≥ 15 distinct images) → `faceset_NNN/`.

use std::path::Path;

use fs_cache::Cache;
use fs_cluster::agglomerative::{GraphChoice, cluster_with};
use fs_cluster::centroid::{merge_by_centroid, reject_outliers};
use fs_progress::{Progress, Silent};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::faces::{self, FaceRow};
use crate::manifest::{self, DroppedFace, Faceset, REFINE_MANIFEST, RefineManifest};
use fs_packs::Thresholds;

use crate::materialize::{self, Mode};
use crate::raw::{WriteSummary, unique_paths};

/// Thresholds of `refine`; the distances by default are the default pack's
/// ([`RefineOptions::at`] takes another pack's), the gates the original tool's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefineOptions {
    /// Stage-1 clustering threshold ([`Thresholds::cluster`]).
    pub initial_threshold: f32,
    /// Centroid-merge threshold ([`Thresholds::merge`]).
    pub merge_threshold: f32,
    /// Drop a face farther than this from its cluster's centroid (clusters ≥ 4;
    /// [`Thresholds::outlier`]).
    pub outlier_threshold: f32,
    /// Keep facesets with at least this many distinct images. 15.
    pub min_faces: usize,
    /// Minimum face short side in pixels. 90.
    pub min_short: f32,
    /// Minimum sharpness (Laplacian variance). 40.
    pub min_blur: f32,
    /// Minimum detector score. 0.6.
    pub min_det_score: f32,
    /// Exact or approximate candidate pairs for the initial clustering (a matter of
    /// speed, not of the result's meaning, so not recorded in manifests).
    #[serde(skip)]
    pub graph: GraphChoice,
}

impl RefineOptions {
    /// The options at a pack's distances, with the default gates.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            initial_threshold: t.cluster,
            merge_threshold: t.merge,
            outlier_threshold: t.outlier,
            ..Self::default()
        }
    }
}

impl Default for RefineOptions {
    /// At the default pack's distances.
    fn default() -> Self {
        let t = Thresholds::default();
        Self {
            initial_threshold: t.cluster,
            merge_threshold: t.merge,
            outlier_threshold: t.outlier,
            min_faces: 15,
            min_short: 90.0,
            min_blur: 40.0,
            min_det_score: 0.6,
            graph: GraphChoice::Auto,
        }
    }
}

/// Clusters of this size or more get outlier rejection.
pub const OUTLIER_MIN_SIZE: usize = 4;

/// Why a face fails the quality gate, if it does.
pub fn quality_gate(face: &FaceRow, options: &RefineOptions) -> Option<String> {
    fs_quality::gate(
        face.short_side(),
        face.sharpness,
        face.det_score,
        &fs_quality::GateThresholds {
            min_short: options.min_short,
            min_sharpness: options.min_blur,
            min_det_score: options.min_det_score,
        },
    )
}

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
    let clusters = cluster_with(
        &embeddings,
        options.initial_threshold,
        options.graph,
        progress,
    );
    let merged = merge_by_centroid(&embeddings, clusters, options.merge_threshold);
    let mut candidates: Vec<(Vec<usize>, Vec<DroppedFace>)> = Vec::new();
    for members in merged {
        let mut dropped = Vec::new();
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

fn distinct_images(members: &[usize], rows: &[FaceRow]) -> usize {
    faces::distinct_images(members.iter().map(|&i| &rows[i]))
}

/// Writes `faceset_NNN/` folders and `refine_manifest.json` under `out`; the same rules
/// for an existing `out` as [`crate::raw::write`].
pub fn write(out: &Path, manifest: &RefineManifest, mode: Mode) -> Result<WriteSummary> {
    manifest::check_out_dir(out, REFINE_MANIFEST, manifest)?;
    let summary = place_all(out, manifest, mode)?;
    std::fs::create_dir_all(out).map_err(crate::error::io_err(out, "create output directory"))?;
    manifest::write_atomically(&out.join(REFINE_MANIFEST), manifest)?;
    Ok(summary)
}

pub(crate) fn place_all(out: &Path, manifest: &RefineManifest, mode: Mode) -> Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    for faceset in &manifest.facesets {
        for path in unique_paths(&faceset.faces) {
            if materialize::place(path, &out.join(&faceset.name), mode)? {
                summary.placed += 1;
            } else {
                summary.existing += 1;
            }
        }
    }
    Ok(summary)
}
