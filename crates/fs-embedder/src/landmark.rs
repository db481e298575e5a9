//! Landmarks: 106 2D points (`2d106det`) or 68 3D points (`1k3d68`), as InsightFace's
//! `model_zoo/landmark.py` runs both: a 192×192 crop centred on the box at scale `192 / (1.5 · max(w, h))`, raw RGB
//! 0–255, output `(p + 1) · 96` mapped back through the inverse crop transform.

use std::path::Path;

use image::RgbImage;

use crate::align::{Affine, invert, transform_point, warp_affine};
use crate::error::{Error, Result};
use crate::onnx::OnnxModel;

const INPUT: u32 = 192;

/// What a landmark model returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Landmarks {
    /// `2d106det`: 106 points.
    Points2d(Vec<[f32; 2]>),
    /// `1k3d68`: 68 points with depth.
    Points3d(Vec<[f32; 3]>),
}

/// A landmark model (`2d106det` or `1k3d68`; same crop and normalisation).
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

    /// The landmarks of the face in `bbox`, in image pixels: 106 2D points from
    /// `2d106det`, or 68 3D points from `1k3d68` (its output has ≥ 3000 values; z is
    /// scaled like x and y, as InsightFace's `trans_points3d` does).
    pub fn predict(&mut self, image: &RgbImage, bbox: [f32; 4]) -> Result<Landmarks> {
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
        let back = invert(&m).expect("a scale transform is invertible");
        let half = f32::from(u16::try_from(INPUT / 2).expect("small"));
        if values.len() >= 3000 {
            let tail = &values[values.len() - 68 * 3..];
            #[expect(clippy::cast_possible_truncation, reason = "a crop scale")]
            let z_scale = back[0][0].hypot(back[0][1]) as f32;
            return Ok(Landmarks::Points3d(
                tail.chunks_exact(3)
                    .map(|p| {
                        let [x, y] =
                            transform_point(&back, [(p[0] + 1.0) * half, (p[1] + 1.0) * half]);
                        [x, y, p[2] * half * z_scale]
                    })
                    .collect(),
            ));
        }
        if values.len() < 212 {
            return Err(Error::Recognizer {
                model: self.model.path.clone(),
                message: format!("expected 212 outputs, got {}", values.len()),
            });
        }
        Ok(Landmarks::Points2d(
            values[values.len() - 212..]
                .chunks_exact(2)
                .map(|p| transform_point(&back, [(p[0] + 1.0) * half, (p[1] + 1.0) * half]))
                .collect(),
        ))
    }
}
