//! The cache's faces as rows, sorted by canonical path then face index, so that row
//! order (and with it cluster numbering) does not depend on hash order.

use std::path::PathBuf;

use fs_cache::{Cache, FaceKey, ImageOutcome};
use fs_cluster::Embeddings;
use serde::{Deserialize, Serialize};

/// One face and what the manifests and gates need about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceRow {
    /// `hash:index`.
    pub key: String,
    /// The image's canonical path.
    pub path: PathBuf,
    /// Canonical path and every alias.
    pub paths: Vec<PathBuf>,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Detector score.
    pub det_score: f32,
    /// Laplacian variance of the face, if measured.
    #[serde(default)]
    pub sharpness: Option<f32>,
}

impl FaceRow {
    /// The row of face `key` of `image` (which must hold it).
    fn of(image: &fs_cache::ImageRecord, key: &FaceKey) -> Self {
        let face = &image.faces()[key.index as usize];
        Self {
            key: key.to_string(),
            path: image.path.clone(),
            paths: image.all_paths().cloned().collect(),
            bbox: face.bbox,
            det_score: face.det_score,
            sharpness: face.sharpness,
        }
    }

    /// The row of the face `key` names in `cache`, if it holds that face.
    pub fn from_cache(cache: &Cache, key: &str) -> Option<Self> {
        let key: FaceKey = key.parse().ok()?;
        let image = cache.image(&key.hash)?;
        (image.faces().len() > key.index as usize).then(|| Self::of(image, &key))
    }

    /// Shorter side of the box in pixels.
    pub fn short_side(&self) -> f32 {
        (self.bbox[2] - self.bbox[0])
            .min(self.bbox[3] - self.bbox[1])
            .max(0.0)
    }

    /// The image part of the key (its content hash).
    pub fn image_key(&self) -> &str {
        self.key.split(':').next().unwrap_or(&self.key)
    }
}

/// Number of distinct images the faces come from.
pub fn distinct_images<'a>(faces: impl IntoIterator<Item = &'a FaceRow>) -> usize {
    faces
        .into_iter()
        .map(FaceRow::image_key)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Every face of the cache (optionally only those `keep` accepts), with their embeddings
/// in the same order.
pub fn collect(cache: &Cache, keep: impl Fn(&FaceKey) -> bool) -> (Vec<FaceRow>, Embeddings) {
    let mut rows: Vec<(FaceRow, &[f32])> = Vec::new();
    for image in cache.images() {
        for (index, face) in image.faces().iter().enumerate() {
            let key = FaceKey {
                hash: image.hash,
                index: u32::try_from(index).expect("fewer than 2^32 faces in a photo"),
            };
            if !keep(&key) {
                continue;
            }
            rows.push((FaceRow::of(image, &key), face.embedding.unit()));
        }
    }
    rows.sort_by(|a, b| a.0.path.cmp(&b.0.path).then(a.0.key.cmp(&b.0.key)));
    let dim = rows.first().map_or(512, |r| r.1.len());
    let embeddings = Embeddings::from_rows(dim, &rows.iter().map(|r| r.1).collect::<Vec<_>>());
    (rows.into_iter().map(|r| r.0).collect(), embeddings)
}

/// Every face of a cache, its embeddings in the same order, and each face's row by key:
/// what the incremental workflows look faces up in.
#[derive(Debug)]
pub struct FaceIndex {
    /// The faces, in [`collect`]'s order.
    pub rows: Vec<FaceRow>,
    /// Their embeddings, row for row.
    pub embeddings: Embeddings,
    /// Row of each face key.
    pub by_key: std::collections::HashMap<String, usize>,
}

impl FaceIndex {
    /// Indexes every face of `cache`.
    pub fn of(cache: &Cache) -> Self {
        let (rows, embeddings) = collect(cache, |_| true);
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        Self {
            rows,
            embeddings,
            by_key,
        }
    }

    /// Rows of the given keys that the cache holds, in order.
    pub fn rows_of<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
        keys.into_iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .collect()
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
