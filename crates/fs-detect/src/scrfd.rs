//! SCRFD face detection, as InsightFace's `model_zoo/retinaface.py` runs it.
//!
//! The image is letterboxed (aspect kept, padded at the bottom and right with black)
//! into the detector's input, normalised as `(x - 127.5) / 128` in RGB, and the nine
//! outputs (scores, box distances and keypoint offsets for strides 8, 16 and 32, two
//! anchors per cell) are decoded into boxes, filtered at `det_thresh` and thinned by
//! [`nms`](crate::nms::nms) at IoU 0.4.
//!
//! Two departures from the reference, both measured on the fixture photos:
//!
//! - **Input shaped to the image.** With a model whose height and width are dynamic,
//!   the tensor is the letterboxed image rounded up to a multiple of 32 instead of a
//!   full 640×640 square: a 4:3 photo costs 640×480, not 640×640. The detections match
//!   the square input (the extra rows are padding the anchors never look at).
//! - **Faces that fill the frame.** Face chips and tight crops (a 150×150 face thumbnail)
//!   blow the face up to the whole 640² input, far larger than any face SCRFD was trained
//!   on, and the reference finds nothing (or a weak sliver at the edge). When the first
//!   pass finds no confident face, a second pass places the image, shrunk to half the
//!   input size, in the middle of a black canvas, so a frame-filling face arrives at a
//!   size the model knows.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::decode::resize;
use crate::error::{Error, Result};
use crate::nms::nms;

/// Strides of SCRFD's three feature maps.
const STRIDES: [u32; 3] = [8, 16, 32];
/// Anchors per feature-map cell.
const ANCHORS_PER_CELL: usize = 2;
/// `input_mean` and `input_std` of InsightFace's SCRFD wrapper.
const INPUT_MEAN: f32 = 127.5;
const INPUT_STD: f32 = 128.0;

/// The recovery pass runs when no first-pass face scores at least this.
pub const RECOVERY_BELOW: f32 = 0.6;

/// One detected face, in pixels of the image given to the detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Left eye, right eye, nose, left and right mouth corner.
    pub kps: [[f32; 2]; 5],
    /// Confidence in `[0, 1]`.
    pub score: f32,
}

/// How an image is placed into the detector's input tensor. Cheap to copy, so that
/// decoding threads can prepare inputs while the detector runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Letterbox {
    /// The box the image is shrunk (or grown) into, keeping its aspect ratio.
    pub fit: (u32, u32),
    /// Black border added on every side of the fitted image.
    pub margin: u32,
    /// Fixed tensor size `(width, height)`, or `None` to shape the tensor to the image
    /// (rounded up to a multiple of 32).
    pub tensor: Option<(u32, u32)>,
}

/// A normalised CHW tensor and how to map its coordinates back to the image.
#[derive(Clone, Debug)]
pub struct PreparedInput {
    data: Vec<f32>,
    width: u32,
    height: u32,
    scale: f32,
    margin: f32,
}

impl PreparedInput {
    /// Tensor width and height.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

impl Letterbox {
    /// Letterboxes and normalises `image`.
    pub fn prepare(&self, image: &RgbImage) -> PreparedInput {
        let (w, h) = image.dimensions();
        let (fit_w, fit_h) = self.fit;
        // Same arithmetic as the reference (float64, truncation) so boxes line up.
        let im_ratio = f64::from(h) / f64::from(w.max(1));
        let model_ratio = f64::from(fit_h) / f64::from(fit_w);
        let (new_w, new_h) = if im_ratio > model_ratio {
            (trunc_u32(f64::from(fit_h) / im_ratio), fit_h)
        } else {
            (fit_w, trunc_u32(f64::from(fit_w) * im_ratio))
        };
        let (new_w, new_h) = (new_w.max(1), new_h.max(1));
        #[expect(clippy::cast_precision_loss, reason = "image sides are far below 2^24")]
        let scale = new_h as f32 / h.max(1) as f32;
        let (tw, th) = self.tensor.unwrap_or_else(|| {
            (
                (new_w + 2 * self.margin).div_ceil(32) * 32,
                (new_h + 2 * self.margin).div_ceil(32) * 32,
            )
        });
        let resized = resize(image, new_w, new_h);
        let plane = (tw * th) as usize;
        let background = -INPUT_MEAN / INPUT_STD;
        let mut data = vec![background; plane * 3];
        let copy_w = new_w.min(tw.saturating_sub(self.margin));
        let copy_h = new_h.min(th.saturating_sub(self.margin));
        for y in 0..copy_h {
            let row = ((y + self.margin) * tw + self.margin) as usize;
            for x in 0..copy_w {
                let p = resized.get_pixel(x, y).0;
                let at = row + x as usize;
                for c in 0..3 {
                    data[c * plane + at] = (f32::from(p[c]) - INPUT_MEAN) / INPUT_STD;
                }
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "margins are small")]
        let margin = self.margin as f32;
        PreparedInput {
            data,
            width: tw,
            height: th,
            scale,
            margin,
        }
    }
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "positive, bounded by the fit box"
)]
fn trunc_u32(v: f64) -> u32 {
    v as u32
}

/// Builds a [`Detector`]; see each setter for its default.
#[derive(Clone, Debug)]
pub struct DetectorBuilder {
    model: PathBuf,
    det_thresh: f32,
    nms_thresh: f32,
    input_size: u32,
    threads: usize,
    shape_to_image: bool,
    recover_filling_faces: bool,
}

impl DetectorBuilder {
    /// Minimum score of a detection. Default 0.5 (InsightFace's `det_thresh`).
    #[must_use]
    pub fn det_thresh(mut self, v: f32) -> Self {
        self.det_thresh = v;
        self
    }

    /// IoU above which a lower-scoring box is suppressed. Default 0.4.
    #[must_use]
    pub fn nms_thresh(mut self, v: f32) -> Self {
        self.nms_thresh = v;
        self
    }

    /// Side of the square the image is letterboxed into. Default 640 (`det_size`).
    #[must_use]
    pub fn input_size(mut self, v: u32) -> Self {
        self.input_size = v.max(32);
        self
    }

    /// Intra-op threads for ONNX Runtime; 0 lets it decide. Default 0.
    #[must_use]
    pub fn threads(mut self, v: usize) -> Self {
        self.threads = v;
        self
    }

    /// Shape the tensor to the image instead of a full square when the model allows
    /// dynamic sizes. Default on.
    #[must_use]
    pub fn shape_to_image(mut self, v: bool) -> Self {
        self.shape_to_image = v;
        self
    }

    /// Run the second, padded pass when the first finds nothing. Default on.
    #[must_use]
    pub fn recover_filling_faces(mut self, v: bool) -> Self {
        self.recover_filling_faces = v;
        self
    }

    /// Loads the model. Requires [`crate::runtime::init`].
    pub fn build(self) -> Result<Detector> {
        let session = crate::runtime::open_session(&self.model, self.threads)?;
        let layout_err = |message: String| Error::Layout {
            path: self.model.clone(),
            message,
        };
        let input = session
            .inputs()
            .first()
            .ok_or_else(|| layout_err("no input".into()))?;
        let input_name = input.name().to_string();
        let fixed = input.dtype().tensor_shape().and_then(|shape| {
            let dims: Vec<i64> = shape.iter().copied().collect();
            match dims.as_slice() {
                [_, _, h, w] if *h > 0 && *w > 0 => {
                    Some((u32::try_from(*w).ok()?, u32::try_from(*h).ok()?))
                }
                _ => None,
            }
        });
        let outputs = session.outputs().len();
        if outputs != 9 {
            return Err(layout_err(format!(
                "expected 9 outputs (scores, boxes, keypoints × 3 strides), found {outputs}"
            )));
        }
        let input_size = match fixed {
            Some((w, h)) if w != self.input_size || h != self.input_size => {
                tracing::debug!("model input is fixed at {w}x{h}; using it");
                w.min(h)
            }
            _ => self.input_size,
        };
        Ok(Detector {
            session,
            model: self.model,
            input_name,
            fixed,
            det_thresh: self.det_thresh,
            nms_thresh: self.nms_thresh,
            input_size,
            shape_to_image: self.shape_to_image && fixed.is_none(),
            recover_filling_faces: self.recover_filling_faces,
        })
    }
}

/// The SCRFD detector. Not `Sync`: give each thread its own, or feed it from one.
pub struct Detector {
    session: Session,
    model: PathBuf,
    input_name: String,
    fixed: Option<(u32, u32)>,
    det_thresh: f32,
    nms_thresh: f32,
    input_size: u32,
    shape_to_image: bool,
    recover_filling_faces: bool,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.model)
            .field("input_size", &self.input_size)
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Starts building a detector for the SCRFD model at `model`.
    pub fn builder(model: impl AsRef<Path>) -> DetectorBuilder {
        DetectorBuilder {
            model: model.as_ref().to_path_buf(),
            det_thresh: 0.5,
            nms_thresh: 0.4,
            input_size: 640,
            threads: 0,
            shape_to_image: true,
            recover_filling_faces: true,
        }
    }

    /// The model file.
    pub fn model(&self) -> &Path {
        &self.model
    }

    /// The placement of the first pass, for preparing inputs on other threads.
    pub fn letterbox(&self) -> Letterbox {
        Letterbox {
            fit: (self.input_size, self.input_size),
            margin: 0,
            tensor: if self.shape_to_image {
                None
            } else {
                Some(self.fixed.unwrap_or((self.input_size, self.input_size)))
            },
        }
    }

    /// The placement of the recovery pass: half-size image centred on a black canvas of
    /// the full input size.
    pub fn recovery_letterbox(&self) -> Letterbox {
        let half = self.input_size / 2;
        Letterbox {
            fit: (half, half),
            margin: half / 2,
            tensor: if self.shape_to_image {
                None
            } else {
                Some(self.fixed.unwrap_or((self.input_size, self.input_size)))
            },
        }
    }

    /// Detects faces, best first, including the recovery pass when enabled.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Detection>> {
        let first = self.letterbox().prepare(image);
        self.detect_prepared(image, &first)
    }

    /// Like [`Detector::detect`], with the first-pass input already prepared by
    /// [`Letterbox::prepare`] (from [`Detector::letterbox`]).
    ///
    /// The recovery pass runs when the first pass finds no confident face (none at or
    /// above [`RECOVERY_BELOW`]); whichever pass found the more confident best face wins.
    /// Taking one pass whole, rather than merging both, keeps a weak sliver that the
    /// first pass saw at the edge of a face chip from joining the real face.
    pub fn detect_prepared(
        &mut self,
        image: &RgbImage,
        first: &PreparedInput,
    ) -> Result<Vec<Detection>> {
        let faces = self.run(first)?;
        let best = |f: &[Detection]| f.iter().map(|d| d.score).fold(0.0f32, f32::max);
        if !self.recover_filling_faces || best(&faces) >= RECOVERY_BELOW {
            return Ok(faces);
        }
        let second = self.recovery_letterbox().prepare(image);
        let recovered = self.run(&second)?;
        if best(&recovered) > best(&faces) {
            tracing::debug!(
                faces = recovered.len(),
                "recovery pass found frame-filling faces"
            );
            return Ok(recovered);
        }
        Ok(faces)
    }

    /// One forward pass and decode.
    pub fn run(&mut self, input: &PreparedInput) -> Result<Vec<Detection>> {
        let (tw, th) = (input.width, input.height);
        let tensor = TensorRef::from_array_view((
            [1usize, 3, th as usize, tw as usize],
            input.data.as_slice(),
        ))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])?;
        let mut boxes = Vec::new();
        let mut kps = Vec::new();
        let mut scores = Vec::new();
        for (level, stride) in STRIDES.into_iter().enumerate() {
            let (_, score) = outputs[level].try_extract_tensor::<f32>()?;
            let (_, dist) = outputs[level + 3].try_extract_tensor::<f32>()?;
            let (_, offs) = outputs[level + 6].try_extract_tensor::<f32>()?;
            let grid_w = (tw / stride) as usize;
            let grid_h = (th / stride) as usize;
            let anchors = grid_w * grid_h * ANCHORS_PER_CELL;
            if score.len() != anchors || dist.len() != anchors * 4 || offs.len() != anchors * 10 {
                return Err(Error::Layout {
                    path: self.model.clone(),
                    message: format!(
                        "stride {stride}: expected {anchors} anchors, got {} scores, {} box values, {} keypoint values",
                        score.len(),
                        dist.len(),
                        offs.len()
                    ),
                });
            }
            decode_level(
                stride,
                grid_w,
                score,
                dist,
                offs,
                self.det_thresh,
                &mut boxes,
                &mut kps,
                &mut scores,
            );
        }
        drop(outputs);
        let keep = nms(&boxes, &scores, self.nms_thresh);
        Ok(keep
            .into_iter()
            .map(|i| {
                let unmap = |v: f32| (v - input.margin) / input.scale;
                let b = boxes[i];
                Detection {
                    bbox: [unmap(b[0]), unmap(b[1]), unmap(b[2]), unmap(b[3])],
                    kps: kps[i].map(|[x, y]| [unmap(x), unmap(y)]),
                    score: scores[i],
                }
            })
            .collect())
    }
}

/// Decodes one stride's outputs: anchor `(row, col, a)` sits at index
/// `(row * grid_w + col) * 2 + a` with centre `(col, row) * stride`; boxes are
/// `centre ∓ distance * stride`, keypoints `centre + offset * stride`.
#[expect(
    clippy::too_many_arguments,
    reason = "internal, mirrors the reference's loop"
)]
fn decode_level(
    stride: u32,
    grid_w: usize,
    score: &[f32],
    dist: &[f32],
    offs: &[f32],
    det_thresh: f32,
    boxes: &mut Vec<[f32; 4]>,
    kps: &mut Vec<[[f32; 2]; 5]>,
    scores: &mut Vec<f32>,
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
        boxes.push([cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s]);
        let o = &offs[i * 10..i * 10 + 10];
        kps.push(std::array::from_fn(|k| {
            [cx + o[2 * k] * s, cy + o[2 * k + 1] * s]
        }));
        scores.push(p);
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_cmp
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
        let (mut b, mut k, mut s) = (vec![], vec![], vec![]);
        decode_level(8, 3, &score, &dist, &offs, 0.5, &mut b, &mut k, &mut s);
        assert_eq!(s, vec![0.9]);
        // centre (8, 8): x1 = 8 - 8, y1 = 8 - 16, x2 = 8 + 24, y2 = 8 + 32
        assert_eq!(b, vec![[0.0, -8.0, 32.0, 40.0]]);
        assert_eq!(k[0][0], [12.0, 4.0]);
        assert_eq!(k[0][2], [16.0, 16.0]);
    }

    #[test]
    fn below_threshold_is_ignored() {
        let (mut b, mut k, mut s) = (vec![], vec![], vec![]);
        decode_level(
            8,
            1,
            &[0.49, 0.2],
            &[0.0; 8],
            &[0.0; 20],
            0.5,
            &mut b,
            &mut k,
            &mut s,
        );
        assert!(b.is_empty() && k.is_empty() && s.is_empty());
    }

    #[test]
    fn letterbox_matches_reference_arithmetic() {
        // 1126x661 into 640²: new size 640x375 (int(640 * 661/1126)), scale 375/661.
        let img = RgbImage::from_pixel(1126, 661, image::Rgb([255, 255, 255]));
        let lb = Letterbox {
            fit: (640, 640),
            margin: 0,
            tensor: None,
        };
        let p = lb.prepare(&img);
        assert_eq!(p.dimensions(), (640, 384));
        assert!((p.scale - 375.0 / 661.0).abs() < 1e-6);
        let plane = 640 * 384;
        let white = (255.0 - 127.5) / 128.0;
        let black = -127.5 / 128.0;
        assert!(
            (p.data[374 * 640 + 639] - white).abs() < 1e-6,
            "last image row"
        );
        assert!((p.data[375 * 640] - black).abs() < 1e-6, "padding row");
        assert!((p.data[2 * plane] - white).abs() < 1e-6, "blue plane");
        let square = Letterbox {
            tensor: Some((640, 640)),
            ..lb
        }
        .prepare(&img);
        assert_eq!(square.dimensions(), (640, 640));
    }

    #[test]
    fn margin_maps_back_to_image_coordinates() {
        let img = RgbImage::from_pixel(100, 100, image::Rgb([0, 0, 0]));
        let lb = Letterbox {
            fit: (320, 320),
            margin: 160,
            tensor: None,
        };
        let p = lb.prepare(&img);
        assert_eq!(p.dimensions(), (640, 640));
        // The image's (50, 50) lands at 160 + 50 * 3.2 = 320 in the tensor.
        let unmap = |v: f32| (v - p.margin) / p.scale;
        assert!((unmap(320.0) - 50.0).abs() < 1e-4);
    }
}
