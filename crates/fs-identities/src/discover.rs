//! Discovering new identities among photos from one source, without disturbing known
//! ones (the mixed-folder and Immich workflows share this).
//!
//! Faces from the source that match an existing identity (centroid within
//! `existing_threshold`) are covered already and set aside; the rest are clustered,
//! quality-gated and outlier-filtered like `refine`, and clusters with enough distinct
//! photos survive.

use std::path::Path;

use fs_cache::Cache;
use fs_cluster::centroid::{assign, reject_outliers};
use fs_cluster::graph::GraphChoice;
use fs_progress::Silent;

use fs_packs::Thresholds;

use crate::faces::{FaceIndex, FaceRow};
use crate::gates::{OUTLIER_MIN_SIZE, RefineOptions, quality_gate};
use crate::linking::link_faces;

/// Thresholds of discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoverOptions {
    /// A face within this distance of an existing identity is covered
    /// ([`Thresholds::known`]).
    pub existing_threshold: f32,
    /// Clustering threshold for the rest ([`Thresholds::cluster`]).
    pub cluster_threshold: f32,
    /// Gates and outlier threshold (refine's), and `min_faces`: distinct photos a new
    /// identity needs.
    pub gates: RefineOptions,
}

impl DiscoverOptions {
    /// The options at a pack's distances, with `gates`.
    pub fn at(t: &Thresholds, gates: RefineOptions) -> Self {
        Self {
            existing_threshold: t.known,
            cluster_threshold: t.cluster,
            gates,
        }
    }
}

impl Default for DiscoverOptions {
    /// At the default pack's distances.
    fn default() -> Self {
        let t = Thresholds::default();
        Self::at(&t, RefineOptions::at(&t))
    }
}

/// One cluster of uncovered faces and what survived the gates.
#[derive(Clone, Debug)]
pub struct Found {
    /// Every face of the cluster.
    pub cluster: Vec<FaceRow>,
    /// Faces that passed the gates and the outlier test.
    pub survivors: Vec<FaceRow>,
    /// Whether it has enough distinct photos to become an identity.
    pub kept: bool,
}

/// What discovery saw.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Faces from the source.
    pub faces: usize,
    /// Faces matching an existing identity.
    pub covered: usize,
    /// Every cluster of the rest, largest first.
    pub clusters: Vec<Found>,
}

impl Discovery {
    /// The clusters that become identities.
    pub fn kept(&self) -> impl Iterator<Item = &Found> {
        self.clusters.iter().filter(|f| f.kept)
    }
}

/// Whether any path of the face's photo (aliases included) lies under `root`.
pub fn under_root(row: &FaceRow, root: &Path) -> bool {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    row.paths.iter().any(|p| p.starts_with(&root))
}

/// Runs discovery over the faces `keep` accepts.
pub fn discover(
    cache: &Cache,
    keep: impl Fn(&FaceRow) -> bool,
    existing: &[Vec<f32>],
    options: &DiscoverOptions,
) -> Discovery {
    discover_indexed(&FaceIndex::of(cache), keep, existing, options)
}

/// [`discover`] over a cache already indexed (for a caller that needs the index too).
pub fn discover_indexed(
    index: &FaceIndex,
    keep: impl Fn(&FaceRow) -> bool,
    existing: &[Vec<f32>],
    options: &DiscoverOptions,
) -> Discovery {
    let (rows, embeddings) = (&index.rows, &index.embeddings);
    let mut discovery = Discovery::default();
    let mut open = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if !keep(row) {
            continue;
        }
        discovery.faces += 1;
        let v = embeddings.row(i);
        if assign(
            existing,
            v.as_slice().expect("contiguous"),
            options.existing_threshold,
        )
        .is_some()
        {
            discovery.covered += 1;
        } else {
            open.push(i);
        }
    }
    let subset = embeddings.select(&open);
    let subset_rows: Vec<&FaceRow> = open.iter().map(|&i| &rows[i]).collect();
    let groups = link_faces(
        &subset_rows,
        &subset,
        options.cluster_threshold,
        GraphChoice::Auto,
        &options.gates.linking,
        &Silent,
    )
    .clusters;
    for group in groups {
        let members: Vec<usize> = group.iter().map(|&g| open[g]).collect();
        let gated: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| quality_gate(&rows[i], &options.gates).is_none())
            .collect();
        let (survivors, _) = reject_outliers(
            embeddings,
            &gated,
            options.gates.outlier_threshold,
            OUTLIER_MIN_SIZE,
        );
        let survivors: Vec<FaceRow> = survivors.iter().map(|&i| rows[i].clone()).collect();
        let kept = distinct_paths(&survivors) >= options.gates.min_faces.max(1);
        discovery.clusters.push(Found {
            cluster: members.iter().map(|&i| rows[i].clone()).collect(),
            survivors,
            kept,
        });
    }
    discovery
}

/// Distinct source photos (canonical paths) among faces.
fn distinct_paths(faces: &[FaceRow]) -> usize {
    faces
        .iter()
        .map(|f| &f.path)
        .collect::<std::collections::HashSet<_>>()
        .len()
}
