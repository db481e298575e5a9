//! The quality gates every identity's faces pass, and the options of `refine` (which
//! the refine manifest records, and discovery and `extend` reuse).

use fs_cluster::graph::GraphChoice;
use fs_packs::Thresholds;
use serde::{Deserialize, Serialize};

use crate::faces::FaceRow;
use crate::linking::Linking;

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
    /// The initial clustering's quality bar and cannot-link (absent from manifests
    /// written before they existed, which linked every face alike).
    #[serde(default = "Linking::plain")]
    pub linking: Linking,
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
            linking: Linking::at(t),
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
            linking: Linking::at(&t),
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
