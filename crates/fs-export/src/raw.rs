//! `cluster`: raw identities, as the original tool lays them out.
//!
//! ```text
//! OUT/person_001/…   one folder per multi-face cluster, largest first
//! OUT/_singletons/…  faces that joined no cluster
//! OUT/_noface/…      photos without a face
//! OUT/manifest.json  cluster → faces (key, paths, box)
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use fs_cache::{Cache, ImageOutcome};
use fs_cluster::agglomerative::{GraphChoice, cluster_with};
use fs_progress::{Progress, Silent};

use crate::error::Result;
use crate::faces::{self, FaceRow};
use crate::manifest::{self, Cluster, RAW_MANIFEST, RawManifest};
use fs_packs::Thresholds;

use crate::materialize::{self, Mode};

/// Folder of faces that joined no cluster.
pub const SINGLETONS: &str = "_singletons";
/// Folder of photos with no face.
pub const NOFACE: &str = "_noface";

/// Options of `cluster`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOptions {
    /// Average-linkage cosine-distance threshold ([`Thresholds::cluster`]).
    pub threshold: f32,
    /// Exact or approximate candidate pairs (by library size unless chosen).
    pub graph: GraphChoice,
}

impl ClusterOptions {
    /// The options at a pack's distances.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            threshold: t.cluster,
            graph: GraphChoice::Auto,
        }
    }
}

impl Default for ClusterOptions {
    /// At the default pack's distances.
    fn default() -> Self {
        Self::at(&Thresholds::default())
    }
}

/// Clusters every face of the cache.
pub fn cluster_cache(cache: &Cache, options: &ClusterOptions) -> RawManifest {
    cluster_cache_reporting(cache, options, &Silent)
}

/// [`cluster_cache`], reporting the clustering's progress.
pub fn cluster_cache_reporting(
    cache: &Cache,
    options: &ClusterOptions,
    progress: &dyn Progress,
) -> RawManifest {
    let (rows, embeddings) = faces::collect(cache, |_| true);
    let groups = cluster_with(&embeddings, options.threshold, options.graph, progress);
    let mut clusters = Vec::new();
    let mut singletons = Vec::new();
    for group in groups {
        let faces: Vec<FaceRow> = group.iter().map(|&i| rows[i].clone()).collect();
        if faces.len() >= 2 {
            clusters.push(Cluster {
                name: manifest::numbered("person", clusters.len() + 1),
                faces,
            });
        } else {
            singletons.extend(faces);
        }
    }
    singletons.sort_by(|a, b| a.path.cmp(&b.path).then(a.key.cmp(&b.key)));
    let (noface, undecodable) = other_images(cache);
    RawManifest {
        version: manifest::VERSION,
        cache: std::path::absolute(cache.path()).unwrap_or_else(|_| cache.path().to_path_buf()),
        threshold: options.threshold,
        clusters,
        singletons,
        noface,
        undecodable,
    }
}

/// Every path of no-face and of undecodable images, sorted.
pub(crate) fn other_images(cache: &Cache) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut noface, mut undecodable) = (Vec::new(), Vec::new());
    for image in cache.images() {
        match image.outcome {
            ImageOutcome::NoFace => noface.extend(image.all_paths().cloned()),
            ImageOutcome::DecodeError(_) => undecodable.extend(image.all_paths().cloned()),
            ImageOutcome::Faces(_) => {}
        }
    }
    noface.sort();
    undecodable.sort();
    (noface, undecodable)
}

/// What writing a result did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Files placed this run.
    pub placed: usize,
    /// Files already there.
    pub existing: usize,
}

/// Writes the folders and `manifest.json` under `out`. An `out` that already holds
/// this exact result is left as it is (files are only added if missing); one that holds
/// anything else is refused.
pub fn write(out: &Path, manifest: &RawManifest, mode: Mode) -> Result<WriteSummary> {
    manifest::check_out_dir(out, RAW_MANIFEST, manifest)?;
    let summary = place_all(out, manifest, mode)?;
    std::fs::create_dir_all(out).map_err(crate::error::io_err(out, "create output directory"))?;
    manifest::write_atomically(&out.join(RAW_MANIFEST), manifest)?;
    Ok(summary)
}

/// Places every path of every face (each photo once per folder) and of no-face photos.
pub(crate) fn place_all(out: &Path, manifest: &RawManifest, mode: Mode) -> Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    let mut count = |placed: bool| {
        if placed {
            summary.placed += 1;
        } else {
            summary.existing += 1;
        }
    };
    for cluster in &manifest.clusters {
        for path in unique_paths(&cluster.faces) {
            count(materialize::place(path, &out.join(&cluster.name), mode)?);
        }
    }
    for path in unique_paths(&manifest.singletons) {
        count(materialize::place(path, &out.join(SINGLETONS), mode)?);
    }
    for path in &manifest.noface {
        count(materialize::place(path, &out.join(NOFACE), mode)?);
    }
    Ok(summary)
}

pub(crate) fn unique_paths(faces: &[FaceRow]) -> BTreeSet<&Path> {
    faces
        .iter()
        .flat_map(|f| f.paths.iter().map(std::path::PathBuf::as_path))
        .collect()
}
