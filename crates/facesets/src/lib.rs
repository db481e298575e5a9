//! Faces from a photo, people from a folder: face-sets as one library.
//!
//! ONNX Runtime and the model packs come from `face-sets setup` (or `cargo xtask setup`
//! in a checkout); this crate loads them for you and says so plainly when they are not
//! installed.
//!
//! The faces of one photo, each with its box, five keypoints, detector score and
//! embedding:
//!
//! ```
//! let faces = facesets::Analyzer::new()?.faces("../../fixtures/images/f0001.jpg")?;
//! assert_eq!(faces.len(), 1);
//! # Ok::<(), facesets::Error>(())
//! ```
//!
//! A folder sorted by person: the cache, the clusters, the quality-ranked facesets and
//! the report under one output folder (run it again and only new photos are read):
//!
//! ```
//! # let out = tempfile::tempdir().unwrap();
//! let sorted = facesets::sort("../../fixtures/images", out.path())?;
//! assert!(sorted.people >= 2, "{sorted}");
//! # Ok::<(), facesets::Error>(())
//! ```
//!
//! Each stage on its own, with options as builders and progress reported to a
//! [`Progress`] of yours, is in [`pipeline`]; the crates it is built from are
//! re-exported below for finer work.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

use fs_embedder::pipeline::FaceAnalyzer;

pub use fs_cache::{Cache, ModelId};
pub use fs_identities::manifest::RawManifest;
pub use fs_pipeline::{Models, Overrides, RunLayout, RunOptions, RunSummary};
pub use fs_progress::{Phase, Progress, Silent};

/// The pipeline's stages as functions ([`fs_pipeline`]).
pub use fs_pipeline as pipeline;

/// The crates face-sets is built from, for work the facade does not cover.
pub mod crates {
    pub use fs_cache as cache;
    pub use fs_cluster as cluster;
    pub use fs_detect as detect;
    pub use fs_embedder as embed;
    pub use fs_export as export;
    pub use fs_identities as identities;
    pub use fs_library as library;
    pub use fs_packs as packs;
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stage failed: the runtime or a pack is not installed, a cache or library
    /// refused, an input is not what was needed.
    #[error(transparent)]
    Pipeline(#[from] fs_pipeline::Error),
    /// A photo could not be read or decoded.
    #[error("cannot read the photo {}: {message}", path.display())]
    Photo {
        /// The photo.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One face of a photo.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    /// Its box in the photo's pixels: left, top, right, bottom.
    pub bbox: [f32; 4],
    /// Eyes, nose tip and mouth corners, in the photo's pixels.
    pub keypoints: [[f32; 2]; 5],
    /// The detector's confidence, 0 to 1.
    pub score: f32,
    /// The recogniser's embedding, of unit length.
    pub embedding: Vec<f32>,
}

impl Face {
    /// The cosine distance between two faces' embeddings (0: the same; faces of one
    /// person are usually within the pack's cluster distance, 0.65 for `buffalo_s`).
    pub fn distance(&self, other: &Face) -> f32 {
        1.0 - self
            .embedding
            .iter()
            .zip(&other.embedding)
            .map(|(a, b)| a * b)
            .sum::<f32>()
    }
}

/// A detector and recogniser, loaded: the faces of any photo, one at a time.
///
/// It runs InsightFace's own steps (the whole photo letterboxed into the detector,
/// five-point alignment), so its boxes and embeddings match Python InsightFace's;
/// `embed` and [`sort`] decode large photos at a reduced scale and look twice at
/// small faces, which is faster and finds more.
pub struct Analyzer {
    inner: FaceAnalyzer,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("model", self.inner.model())
            .finish()
    }
}

impl Analyzer {
    /// The installed default pack (`buffalo_s`) on the best execution provider there
    /// is, every core.
    pub fn new() -> Result<Self> {
        Self::with(&Models::default(), None)
    }

    /// The pack `pack` (a name such as `yunet_sface`, or a folder of models; the
    /// default when `None`) of `models`.
    pub fn with(models: &Models, pack: Option<&str>) -> Result<Self> {
        let pack = models.pack(pack, None, &Silent)?;
        let inner = FaceAnalyzer::new(&pack, 640, models.thread_count())
            .map_err(fs_pipeline::Error::from)?;
        Ok(Self { inner })
    }

    /// The id of the embeddings it makes (its pack, files and checksums).
    pub fn model(&self) -> &ModelId {
        self.inner.model()
    }

    /// The faces of the photo at `path`, in any format face-sets reads.
    pub fn faces(&mut self, path: impl AsRef<Path>) -> Result<Vec<Face>> {
        let path = path.as_ref();
        let photo = |message: String| Error::Photo {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| photo(e.to_string()))?;
        let image = fs_detect::decode::decode_photo(Some(path), &bytes)
            .map_err(|e| photo(e.to_string()))?;
        let found = self
            .inner
            .analyze(&image)
            .map_err(fs_pipeline::Error::from)?;
        Ok(found
            .into_iter()
            .map(|face| {
                let norm = face.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
                Face {
                    bbox: face.detection.bbox,
                    keypoints: face.detection.kps,
                    score: face.detection.score,
                    embedding: face.embedding.iter().map(|v| v / norm.max(1e-12)).collect(),
                }
            })
            .collect())
    }
}

/// Embeds every photo under `folder` that the cache at `cache` (made when missing)
/// does not hold yet, with the installed default pack; returns the cache.
pub fn embed(folder: impl AsRef<Path>, cache: impl AsRef<Path>) -> Result<Cache> {
    let request = fs_pipeline::stages::EmbedRequest::new(
        vec![fs_embedder::pipeline::Source::Tree(
            folder.as_ref().to_path_buf(),
        )],
        cache.as_ref(),
    );
    let mut opened = Cache::open(cache.as_ref()).map_err(fs_pipeline::Error::from)?;
    fs_pipeline::stages::embed_into(&request, &mut opened, &Models::default(), &Silent)?;
    Ok(opened)
}

/// The people of `cache`: its faces clustered at the cluster distance of the pack
/// that made them (nothing is written).
pub fn people(cache: &Cache) -> RawManifest {
    fs_pipeline::identities::people(cache, &Overrides::default(), &Silent)
}

/// Sorts the photos under `src` into `out` with every stage of `face-sets run` at
/// its defaults; see [`RunOptions`] for the options.
pub fn sort(src: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Result<RunSummary> {
    Ok(RunOptions::new(src, out).run(&Models::default(), &Silent)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_is_at_no_distance_from_itself_and_two_from_its_opposite() {
        let face = Face {
            bbox: [0.0; 4],
            keypoints: [[0.0; 2]; 5],
            score: 1.0,
            embedding: vec![0.6, 0.8],
        };
        let opposite = Face {
            embedding: vec![-0.6, -0.8],
            ..Face::clone(&face)
        };
        assert!(face.distance(&face).abs() < 1e-6);
        assert!((face.distance(&opposite) - 2.0).abs() < 1e-6);
    }
}
