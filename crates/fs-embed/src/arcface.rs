//! ArcFace recognition (InsightFace's `model_zoo/arcface_onnx.py`): aligned 112×112 RGB
//! crops, normalised as `(x - 127.5) / 127.5`, batched through the model.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::align::ALIGNED_SIZE;
use crate::error::{Error, Result};

const INPUT_MEAN: f32 = 127.5;
const INPUT_STD: f32 = 127.5;

/// The recogniser: aligned crops in, raw embeddings out.
pub struct Recognizer {
    session: Session,
    model: PathBuf,
    input_name: String,
    max_batch: usize,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model", &self.model)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads the model with `threads` intra-op threads (0 = ONNX Runtime's choice).
    /// Requires [`fs_detect::runtime::init`].
    pub fn new(model: impl AsRef<Path>, threads: usize) -> Result<Self> {
        let model = model.as_ref().to_path_buf();
        let session = fs_detect::runtime::open_session(&model, threads)?;
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| Error::Recognizer {
                model: model.clone(),
                message: "model has no input".into(),
            })?;
        Ok(Self {
            session,
            model,
            input_name,
            max_batch: 32,
        })
    }

    /// Largest batch sent to the model at once. Default 32.
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
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
                    model: self.model.clone(),
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
        let tensor = TensorRef::from_array_view(([faces.len(), 3, side, side], data.as_slice()))
            .map_err(fs_detect::Error::from)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(fs_detect::Error::from)?;
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(fs_detect::Error::from)?;
        if faces.is_empty() || values.len() % faces.len() != 0 {
            return Err(Error::Recognizer {
                model: self.model.clone(),
                message: format!("{} output values for {} faces", values.len(), faces.len()),
            });
        }
        let dim = values.len() / faces.len();
        Ok(values.chunks_exact(dim).map(<[f32]>::to_vec).collect())
    }
}
