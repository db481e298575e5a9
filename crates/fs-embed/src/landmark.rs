//! 106-point 2D landmarks (`2d106det`), as InsightFace's `model_zoo/landmark.py` runs
//! them: a 192×192 crop centred on the box at scale `192 / (1.5 · max(w, h))`, raw RGB
//! 0–255, output `(p + 1) · 96` mapped back through the inverse crop transform.

use std::path::Path;

use image::RgbImage;

use crate::align::{Affine, invert, transform_point, warp_affine};
use crate::error::{Error, Result};
use crate::onnx::OnnxModel;

const INPUT: u32 = 192;

/// The 2D landmark model.
pub struct Landmarker {
    model: OnnxModel,
}

impl std::fmt::Debug for Landmarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Landmarker")
            .field("model", &self.model.path)
            .finish_non_exhaustive()
    }
}

/// The crop transform for a box: scale and translate so the box centre lands in the
/// middle of the 192² input.
pub fn crop_transform(bbox: [f32; 4]) -> Affine {
    let (w, h) = (f64::from(bbox[2] - bbox[0]), f64::from(bbox[3] - bbox[1]));
    let (cx, cy) = (
        f64::from(bbox[0] + bbox[2]) / 2.0,
        f64::from(bbox[1] + bbox[3]) / 2.0,
    );
    let scale = f64::from(INPUT) / (w.max(h).max(1.0) * 1.5);
    let half = f64::from(INPUT) / 2.0;
    [
        [scale, 0.0, half - cx * scale],
        [0.0, scale, half - cy * scale],
    ]
}

impl Landmarker {
    /// Loads `2d106det.onnx`. Requires [`fs_detect::runtime::init`].
    pub fn new(model: impl AsRef<Path>, threads: usize) -> Result<Self> {
        Ok(Self {
            model: OnnxModel::open(model.as_ref(), threads)?,
        })
    }

    /// The 106 landmarks of the face in `bbox`, in image pixels.
    pub fn predict(&mut self, image: &RgbImage, bbox: [f32; 4]) -> Result<Vec<[f32; 2]>> {
        let m = crop_transform(bbox);
        let crop = warp_affine(image, &m, INPUT, INPUT);
        let plane = (INPUT * INPUT) as usize;
        let mut data = vec![0f32; plane * 3];
        for (i, px) in crop.pixels().enumerate() {
            for c in 0..3 {
                data[c * plane + i] = f32::from(px.0[c]);
            }
        }
        let side = INPUT as usize;
        let values = self.model.run([1, 3, side, side], &data)?;
        if values.len() < 212 {
            return Err(Error::Recognizer {
                model: self.model.path.clone(),
                message: format!("expected 212 outputs, got {}", values.len()),
            });
        }
        let back = invert(&m).expect("a scale transform is invertible");
        let half = f32::from(u16::try_from(INPUT / 2).expect("small"));
        Ok(values[values.len() - 212..]
            .chunks_exact(2)
            .map(|p| transform_point(&back, [(p[0] + 1.0) * half, (p[1] + 1.0) * half]))
            .collect())
    }
}
