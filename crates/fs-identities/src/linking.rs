//! How faces are linked into identities, beyond the distance: which faces are linked at
//! all (the quality bar) and which may never share an identity (faces of one photo).
//! `cluster`, `refine`, `extend` and discovery all link through [`link_faces`].

use std::borrow::Borrow;

use fs_cluster::Embeddings;
use fs_cluster::agglomerative::{Linkage, NO_GROUP, cluster_apart};
use fs_cluster::by_quality::{QualityBar, cluster_by_quality};
use fs_cluster::graph::GraphChoice;
use fs_packs::Thresholds;
use fs_progress::Progress;
use serde::{Deserialize, Serialize};

use crate::faces::FaceRow;

/// The bar a face must pass to be linked by average linkage; a face below it only
/// joins the identity whose centroid is nearest, within `join`, or stays alone.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterBar {
    /// Shorter side of the face box in pixels. 40: below it the recogniser's 112-px
    /// input is mostly upscaled blur.
    pub min_short: f32,
    /// Sharpness (Laplacian variance), where measured. 0 (not used by default).
    pub min_sharpness: f32,
    /// Detector score. 0.6, refine's gate.
    pub min_det_score: f32,
    /// Largest distance from a face below the bar to the centroid it joins
    /// ([`Thresholds::join`]).
    pub join: f32,
}

impl ClusterBar {
    /// The default bar at a pack's distances.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            min_short: 40.0,
            min_sharpness: 0.0,
            min_det_score: 0.6,
            join: t.join,
        }
    }

    /// Whether `face` passes.
    pub fn passes(&self, face: &FaceRow) -> bool {
        fs_quality::gate(
            face.short_side(),
            face.sharpness,
            face.det_score,
            &fs_quality::GateThresholds {
                min_short: self.min_short,
                min_sharpness: self.min_sharpness,
                min_det_score: self.min_det_score,
            },
        )
        .is_none()
    }
}

/// How faces are linked: the quality bar (if any) and cannot-link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linking {
    /// Faces below the bar are attached to an identity, not linked; `None` links
    /// every face alike.
    pub bar: Option<ClusterBar>,
    /// Two faces of one photo are never in one identity.
    pub apart: bool,
}

impl Linking {
    /// The defaults at a pack's distances: the quality bar, and faces of one photo apart.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            bar: Some(ClusterBar::at(t)),
            apart: true,
        }
    }

    /// The defaults at a pack's distances with either part turned off: `quality_bar`
    /// false links every face alike, `apart` false lets faces of one photo together.
    pub fn chosen(t: &Thresholds, quality_bar: bool, apart: bool) -> Self {
        let defaults = Self::at(t);
        Self {
            bar: defaults.bar.filter(|_| quality_bar),
            apart,
        }
    }

    /// The same choice with the bar's join distance from `t` (the distances in force).
    #[must_use]
    pub fn at_distances(self, t: &Thresholds) -> Self {
        Self {
            bar: self.bar.map(|bar| ClusterBar {
                join: t.join,
                ..bar
            }),
            ..self
        }
    }

    /// Every face linked alike, faces of one photo allowed together: plain average
    /// linkage, as results written before these options were made.
    pub fn plain() -> Self {
        Self {
            bar: None,
            apart: false,
        }
    }
}

impl Default for Linking {
    /// At the default pack's distances.
    fn default() -> Self {
        Self::at(&Thresholds::default())
    }
}

/// Each row's photo group for cannot-link: rows of a photo that has several of them
/// share one, a row alone in its photo has [`NO_GROUP`].
pub fn photo_groups<R: Borrow<FaceRow>>(rows: &[R]) -> Vec<u32> {
    let mut by_photo: std::collections::HashMap<&str, (u32, usize)> =
        std::collections::HashMap::new();
    for row in rows {
        let next = u32::try_from(by_photo.len()).expect("fewer than 2^32 photos");
        by_photo
            .entry(row.borrow().image_key())
            .or_insert((next, 0))
            .1 += 1;
    }
    rows.iter()
        .map(|row| match by_photo[row.borrow().image_key()] {
            (group, count) if count > 1 => group,
            _ => NO_GROUP,
        })
        .collect()
}

/// Clusters `rows` (whose embeddings are `embeddings`, row for row) at `threshold` as
/// `linking` says. The rows may be borrowed, so a subset needs no copies.
pub fn link_faces<R: Borrow<FaceRow>>(
    rows: &[R],
    embeddings: &Embeddings,
    threshold: f32,
    graph: GraphChoice,
    linking: &Linking,
    progress: &dyn Progress,
) -> Linkage {
    let groups = linking.apart.then(|| photo_groups(rows));
    match &linking.bar {
        Some(bar) => {
            let passes: Vec<bool> = rows.iter().map(|r| bar.passes(r.borrow())).collect();
            let quality = QualityBar {
                passes: &passes,
                join: bar.join,
            };
            cluster_by_quality(
                embeddings,
                threshold,
                graph,
                quality,
                groups.as_deref(),
                progress,
            )
        }
        None => cluster_apart(embeddings, threshold, graph, groups.as_deref(), progress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::RefineOptions;

    #[test]
    fn refine_options_written_before_linking_read_as_plain_linkage() {
        let mut json = serde_json::to_value(RefineOptions::default()).unwrap();
        assert_eq!(json["linking"]["apart"], true, "new manifests record it");
        json.as_object_mut().unwrap().remove("linking");
        let old: RefineOptions = serde_json::from_value(json).unwrap();
        assert_eq!(old.linking, Linking::plain());
        assert_ne!(old, RefineOptions::default());
    }
}
