//! `cluster`: raw identities, as the original tool lays them out.
//!
//! ```text
//! OUT/person_001/…   one folder per multi-face cluster, largest first
//! OUT/_singletons/…  faces that joined no cluster
//! OUT/_noface/…      photos without a face
//! OUT/manifest.json  cluster → faces (key, paths, box)
//! ```

use fs_cache::Cache;
use fs_cluster::graph::GraphChoice;
use fs_packs::Thresholds;
use fs_progress::{Progress, Silent};

use crate::faces::{self, FaceRow, other_images};
use crate::linking::{Linking, link_faces};
use crate::manifest::{self, Cluster, RawManifest};

/// Options of `cluster`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOptions {
    /// Average-linkage cosine-distance threshold ([`Thresholds::cluster`]).
    pub threshold: f32,
    /// Exact or approximate candidate pairs (by library size unless chosen).
    pub graph: GraphChoice,
    /// The quality bar and cannot-link.
    pub linking: Linking,
}

impl ClusterOptions {
    /// The options at a pack's distances.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            threshold: t.cluster,
            graph: GraphChoice::Auto,
            linking: Linking::at(t),
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
    let groups = link_faces(
        &rows,
        &embeddings,
        options.threshold,
        options.graph,
        &options.linking,
        progress,
    )
    .clusters;
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
