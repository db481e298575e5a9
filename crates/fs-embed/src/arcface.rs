//! ArcFace recognition (InsightFace's `model_zoo/arcface_onnx.py`): aligned 112×112 RGB
//! crops, normalised as `(x - 127.5) / 127.5`, batched through the model.

use std::path::Path;

use image::RgbImage;

use crate::align::ALIGNED_SIZE;
use crate::error::{Error, Result};
use crate::onnx::OnnxModel;

const INPUT_MEAN: f32 = 127.5;
const INPUT_STD: f32 = 127.5;

/// The recogniser: aligned crops in, raw embeddings out.
pub struct Recognizer {
    model: OnnxModel,
    max_batch: usize,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model", &self.model.path)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads the model with `threads` intra-op threads (0 = ONNX Runtime's choice).
    /// Requires [`fs_detect::runtime::init`].
    pub fn new(model: impl AsRef<Path>, threads: usize) -> Result<Self> {
        Ok(Self {
            model: OnnxModel::open(model.as_ref(), threads)?,
            max_batch: 32,
        })
    }

    /// Largest batch sent to the model at once. Default 32.
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
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
                    data[base + c * plane + i] = (f32::from(px.0[c]) - INPUT_MEAN) / INPUT_STD;
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
