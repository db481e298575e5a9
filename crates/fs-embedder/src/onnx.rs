//! One single-input ONNX model and a float tensor in, float tensor out: what the
//! recogniser and the landmark model share.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

pub(crate) struct OnnxModel {
    session: Session,
    pub(crate) path: PathBuf,
    input_name: String,
    /// The batch size the model is fixed at, when its first input axis is not dynamic.
    pub(crate) fixed_batch: Option<usize>,
}

impl OnnxModel {
    /// Opens `path` with `threads` intra-op threads. Requires the runtime to be loaded.
    pub(crate) fn open(path: &Path, threads: usize) -> Result<Self> {
        let session = fs_detect::runtime::open_session(path, threads)?;
        let input = session.inputs().first().ok_or_else(|| Error::Recognizer {
            model: path.to_path_buf(),
            message: "model has no input".into(),
        })?;
        let input_name = input.name().to_string();
        let fixed_batch = input
            .dtype()
            .tensor_shape()
            .and_then(|shape| shape.iter().next().copied())
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0);
        Ok(Self {
            session,
            path: path.to_path_buf(),
            input_name,
            fixed_batch,
        })
    }

    /// Runs the model on an NCHW tensor and returns its first output, flattened.
    pub(crate) fn run(&mut self, shape: [usize; 4], data: &[f32]) -> Result<Vec<f32>> {
        let tensor = TensorRef::from_array_view((shape, data)).map_err(fs_detect::Error::from)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(fs_detect::Error::from)?;
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(fs_detect::Error::from)?;
        Ok(values.to_vec())
    }
}
