//! YuNet's pixels and outputs, as OpenCV's `FaceDetectorYN` runs it
//! (`modules/objdetect/src/face_detect.cpp`).
//!
//! Pixels are raw 0–255 in BGR order, the image padded at the bottom and right to a
//! multiple of 32 (what [`crate::detector::Letterbox`] does anyway). The model is
//! anchor-free with one prediction per cell at strides 8, 16 and 32: the score is
//! `√(cls · obj)` with both clamped to `[0, 1]`, the box centre is `(col + dx, row +
//! dy) · stride` and its size `exp(dw, dh) · stride`, the keypoints `(col + kx, row +
//! ky) · stride`. Boxes under the score threshold (0.9) are dropped and the rest
//! thinned by NMS at IoU 0.3. OpenCV rounds boxes to whole pixels before NMS; here NMS
//! runs on the exact boxes, which can only differ for boxes within a pixel of the
//! IoU limit.

use ort::session::SessionOutputs;

use crate::family::{Candidates, PixelFormat, STRIDES, output};

/// Raw BGR, as `cv::dnn::blobFromImage` makes it from an OpenCV image.
pub const PIXELS: PixelFormat = PixelFormat {
    mean: 0.0,
    std: 1.0,
    bgr: true,
};

/// YuNet's outputs, in the order the model lists them.
pub(crate) const OUTPUTS: [&str; 12] = [
    "cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32",
    "kps_8", "kps_16", "kps_32",
];

/// Decodes the twelve outputs of a `(width, height)` tensor into `found`.
pub(crate) fn decode(
    outputs: &SessionOutputs<'_>,
    (tw, th): (u32, u32),
    score_threshold: f32,
    found: &mut Candidates,
) -> Result<(), String> {
    for (level, stride) in STRIDES.into_iter().enumerate() {
        let level_outputs = Level {
            stride,
            cols: (tw / stride) as usize,
            cls: output(outputs, level)?,
            obj: output(outputs, level + 3)?,
            bbox: output(outputs, level + 6)?,
            kps: output(outputs, level + 9)?,
        };
        let cells = level_outputs.cols * (th / stride) as usize;
        level_outputs.check(cells)?;
        level_outputs.decode(score_threshold, found);
    }
    Ok(())
}

/// One stride's outputs.
struct Level<'a> {
    stride: u32,
    cols: usize,
    cls: &'a [f32],
    obj: &'a [f32],
    bbox: &'a [f32],
    kps: &'a [f32],
}

impl Level<'_> {
    fn check(&self, cells: usize) -> Result<(), String> {
        if self.cls.len() != cells
            || self.obj.len() != cells
            || self.bbox.len() != cells * 4
            || self.kps.len() != cells * 10
        {
            return Err(format!(
                "stride {}: expected {cells} cells, got {} cls, {} obj, {} box values, {} keypoint values",
                self.stride,
                self.cls.len(),
                self.obj.len(),
                self.bbox.len(),
                self.kps.len()
            ));
        }
        Ok(())
    }

    fn decode(&self, score_threshold: f32, found: &mut Candidates) {
        #[expect(clippy::cast_precision_loss, reason = "strides and grids are small")]
        let (s, cols) = (self.stride as f32, self.cols);
        for (i, (&cls, &obj)) in self.cls.iter().zip(self.obj).enumerate() {
            let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
            if score < score_threshold {
                continue;
            }
            #[expect(clippy::cast_precision_loss, reason = "grids are small")]
            let (col, row) = ((i % cols) as f32, (i / cols) as f32);
            let b = &self.bbox[i * 4..i * 4 + 4];
            let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let k = &self.kps[i * 10..i * 10 + 10];
            found.push(
                [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                std::array::from_fn(|n| [(k[2 * n] + col) * s, (k[2 * n + 1] + row) * s]),
                score,
            );
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_decodes_to_centre_size_and_keypoints_at_its_stride() {
        // A 3-wide, 2-high grid at stride 16; only cell 4 = (col 1, row 1) fires.
        let mut cls = vec![0.0; 6];
        let mut obj = vec![0.0; 6];
        cls[4] = 0.81;
        obj[4] = 1.5; // clamped to 1
        let mut bbox = vec![0.0; 24];
        bbox[16..20].copy_from_slice(&[0.5, 0.25, 0.0, 2f32.ln()]);
        let mut kps = vec![0.0; 60];
        kps[40..50].copy_from_slice(&[0.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 1.0, 1.0]);
        let level = Level {
            stride: 16,
            cols: 3,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        level.check(6).unwrap();
        let mut found = Candidates::default();
        level.decode(0.9, &mut found);
        assert_eq!(found.scores.len(), 1);
        assert!((found.scores[0] - 0.9).abs() < 1e-6);
        // centre (24, 20); width 16, height 32.
        let b = found.boxes[0];
        for (got, want) in b.iter().zip([16.0, 4.0, 32.0, 36.0]) {
            assert!((got - want).abs() < 1e-4, "{b:?}");
        }
        assert_eq!(found.kps[0][0], [16.0, 16.0]);
        assert_eq!(found.kps[0][1], [32.0, 16.0]);
        assert_eq!(found.kps[0][2], [24.0, 24.0]);
    }

    #[test]
    fn scores_below_the_threshold_and_negative_outputs_are_dropped() {
        let level = Level {
            stride: 8,
            cols: 2,
            cls: &[0.95, -0.2],
            obj: &[0.8, 0.9],
            bbox: &[0.0; 8],
            kps: &[0.0; 20],
        };
        let mut found = Candidates::default();
        level.decode(0.9, &mut found);
        // √(0.95 · 0.8) = 0.872 < 0.9; the negative cls clamps to 0.
        assert!(found.scores.is_empty());
        level.decode(0.85, &mut found);
        assert_eq!(found.scores.len(), 1);
    }

    #[test]
    fn outputs_of_the_wrong_size_are_refused() {
        let level = Level {
            stride: 8,
            cols: 2,
            cls: &[0.0; 4],
            obj: &[0.0; 4],
            bbox: &[0.0; 16],
            kps: &[0.0; 39],
        };
        assert!(level.check(4).unwrap_err().contains("39 keypoint values"));
    }
}
