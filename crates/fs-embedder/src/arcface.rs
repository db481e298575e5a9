//! Face recognition: aligned 112×112 RGB crops in, embeddings out, batched through the
//! model where it allows.
//!
//! - ArcFace (InsightFace's `model_zoo/arcface_onnx.py`): pixels normalised as
//!   `(x - 127.5) / 127.5`, 512-d.
//! - SFace (OpenCV's `FaceRecognizerSF::feature`): raw 0–255 pixels, 128-d. Its int8
//!   model takes one face at a time.
//!
//! Both use the same five-point alignment ([`crate::align`]), which is what OpenCV's
//! `alignCrop` computes too.

use std::path::Path;

use fs_packs::catalogue::{Architecture, architecture_of};
use image::RgbImage;

use crate::align::ALIGNED_SIZE;
use crate::error::{Error, Result};
use crate::onnx::OnnxModel;

/// `(mean, std)` of a recogniser's pixels.
fn pixel_scale(architecture: Architecture) -> (f32, f32) {
    match architecture {
        Architecture::SFace => (0.0, 1.0),
        _ => (127.5, 127.5),
    }
}

/// The recogniser: aligned crops in, raw embeddings out.
pub struct Recognizer {
    model: OnnxModel,
    architecture: Architecture,
    max_batch: usize,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model", &self.model.path)
            .field("architecture", &self.architecture)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads the model with `threads` intra-op threads (0 = ONNX Runtime's choice); its
    /// family comes from its file name ([`architecture_of`]), ArcFace for names this
    /// project does not know. Requires [`fs_detect::runtime::init`].
    pub fn new(model: impl AsRef<Path>, threads: usize) -> Result<Self> {
        let model = model.as_ref();
        let architecture = model
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(architecture_of)
            .unwrap_or(Architecture::ArcFace);
        Self::with_architecture(model, threads, architecture)
    }

    /// Like [`Recognizer::new`], for a model of the given family.
    pub fn with_architecture(
        model: impl AsRef<Path>,
        threads: usize,
        architecture: Architecture,
    ) -> Result<Self> {
        let model = OnnxModel::open(model.as_ref(), threads)?;
        let max_batch = model.fixed_batch.unwrap_or(32);
        Ok(Self {
            model,
            architecture,
            max_batch,
        })
    }

    /// The model's family.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// Length of this model's embeddings, found by embedding one blank crop.
    pub fn embedding_size(&mut self) -> Result<usize> {
        let blank = RgbImage::new(ALIGNED_SIZE, ALIGNED_SIZE);
        Ok(self.embed_batch(&[blank])?.first().map_or(0, Vec::len))
    }

    /// Raw (not normalised) embeddings of aligned 112×112 crops, in order.
    pub fn embed(&mut self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(self.max_batch) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&mut self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let side = ALIGNED_SIZE as usize;
        let plane = side * side;
        let (mean, std) = pixel_scale(self.architecture);
        let mut data = vec![0f32; faces.len() * 3 * plane];
        for (n, face) in faces.iter().enumerate() {
            if face.dimensions() != (ALIGNED_SIZE, ALIGNED_SIZE) {
                return Err(Error::Recognizer {
                    model: self.model.path.clone(),
                    message: format!("crop {n} is {:?}, not 112x112", face.dimensions()),
                });
            }
            let base = n * 3 * plane;
            for (i, px) in face.pixels().enumerate() {
                for c in 0..3 {
                    data[base + c * plane + i] = (f32::from(px.0[c]) - mean) / std;
                }
            }
        }
        let values = self.model.run([faces.len(), 3, side, side], &data)?;
        if faces.is_empty() || values.len() % faces.len() != 0 {
            return Err(Error::Recognizer {
                model: self.model.path.clone(),
                message: format!("{} output values for {} faces", values.len(), faces.len()),
            });
        }
        let dim = values.len() / faces.len();
        Ok(values.chunks_exact(dim).map(<[f32]>::to_vec).collect())
    }
}
