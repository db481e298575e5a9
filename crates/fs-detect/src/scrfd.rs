//! SCRFD's pixels and outputs, as InsightFace's `model_zoo/retinaface.py` runs it.
//!
//! Pixels are RGB normalised as `(x - 127.5) / 128`; the nine outputs (scores, box
//! distances and keypoint offsets for strides 8, 16 and 32, two anchors per cell) are
//! decoded into boxes and filtered at `det_thresh`, then thinned by
//! [`nms`](crate::nms::nms) at IoU 0.4 ([`crate::detector`]).

use ort::session::SessionOutputs;

use crate::family::{Candidates, PixelFormat, STRIDES, output};

/// `input_mean` and `input_std` of InsightFace's SCRFD wrapper, in RGB.
pub const PIXELS: PixelFormat = PixelFormat {
    mean: 127.5,
    std: 128.0,
    bgr: false,
};

/// Anchors per feature-map cell.
const ANCHORS_PER_CELL: usize = 2;

/// Decodes the nine outputs of a `(width, height)` tensor into `found`.
pub(crate) fn decode(
    outputs: &SessionOutputs<'_>,
    (tw, th): (u32, u32),
    det_thresh: f32,
    found: &mut Candidates,
) -> Result<(), String> {
    for (level, stride) in STRIDES.into_iter().enumerate() {
        let (score, dist, offs) = (
            output(outputs, level)?,
            output(outputs, level + 3)?,
            output(outputs, level + 6)?,
        );
        let grid_w = (tw / stride) as usize;
        let grid_h = (th / stride) as usize;
        let anchors = grid_w * grid_h * ANCHORS_PER_CELL;
        if score.len() != anchors || dist.len() != anchors * 4 || offs.len() != anchors * 10 {
            return Err(format!(
                "stride {stride}: expected {anchors} anchors, got {} scores, {} box values, {} keypoint values",
                score.len(),
                dist.len(),
                offs.len()
            ));
        }
        decode_level(stride, grid_w, score, dist, offs, det_thresh, found);
    }
    Ok(())
}

/// Decodes one stride's outputs: anchor `(row, col, a)` sits at index
/// `(row * grid_w + col) * 2 + a` with centre `(col, row) * stride`; boxes are
/// `centre ∓ distance * stride`, keypoints `centre + offset * stride`.
fn decode_level(
    stride: u32,
    grid_w: usize,
    score: &[f32],
    dist: &[f32],
    offs: &[f32],
    det_thresh: f32,
    found: &mut Candidates,
) {
    #[expect(clippy::cast_precision_loss, reason = "strides and grids are small")]
    let s = stride as f32;
    for (i, &p) in score.iter().enumerate() {
        if p < det_thresh {
            continue;
        }
        let cell = i / ANCHORS_PER_CELL;
        #[expect(clippy::cast_precision_loss, reason = "grids are small")]
        let (cx, cy) = ((cell % grid_w) as f32 * s, (cell / grid_w) as f32 * s);
        let d = &dist[i * 4..i * 4 + 4];
        let o = &offs[i * 10..i * 10 + 10];
        found.push(
            [cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s],
            std::array::from_fn(|k| [cx + o[2 * k] * s, cy + o[2 * k + 1] * s]),
            p,
        );
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
    fn anchor_decode_places_centres_row_major_with_two_anchors() {
        // A 3-wide, 2-high grid at stride 8: 12 anchors. Only anchor 9 fires:
        // cell 4 = (col 1, row 1), second anchor.
        let mut score = vec![0.0; 12];
        score[9] = 0.9;
        let mut dist = vec![0.0; 48];
        dist[36..40].copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
        let mut offs = vec![0.0; 120];
        offs[90..100].copy_from_slice(&[0.5, -0.5, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        let mut found = Candidates::default();
        decode_level(8, 3, &score, &dist, &offs, 0.5, &mut found);
        let Candidates {
            boxes: b,
            kps: k,
            scores: s,
        } = found;
        assert_eq!(s, vec![0.9]);
        // centre (8, 8): x1 = 8 - 8, y1 = 8 - 16, x2 = 8 + 24, y2 = 8 + 32
        assert_eq!(b, vec![[0.0, -8.0, 32.0, 40.0]]);
        assert_eq!(k[0][0], [12.0, 4.0]);
        assert_eq!(k[0][2], [16.0, 16.0]);
    }

    #[test]
    fn below_threshold_is_ignored() {
        let mut found = Candidates::default();
        decode_level(8, 1, &[0.49, 0.2], &[0.0; 8], &[0.0; 20], 0.5, &mut found);
        assert!(found.boxes.is_empty() && found.kps.is_empty() && found.scores.is_empty());
    }
}
