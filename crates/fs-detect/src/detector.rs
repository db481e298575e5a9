//! One face detector over two network families: InsightFace's SCRFD
//! ([`crate::scrfd`]) and OpenCV's YuNet ([`crate::yunet`]).
//!
//! Both take the photo shrunk (or grown) to fit the input square with its aspect
//! ratio kept, padded at the bottom and right, and both give a box, five keypoints and
//! a score per face; they differ in how pixels are scaled and how the outputs are
//! decoded. Which family a model file belongs to is read from its outputs (SCRFD has
//! nine, YuNet twelve named `cls_8` … `kps_32`).
//!
//! Two departures from the references, both measured on the fixture photos:
//!
//! - **Input shaped to the image.** With a model whose height and width are dynamic,
//!   the tensor is the letterboxed image rounded up to a multiple of 32 instead of a
//!   full 640×640 square: a 4:3 photo costs 640×480, not 640×640. The detections match
//!   the square input (the extra rows are padding the anchors never look at). This is
//!   exactly how OpenCV's `FaceDetectorYN` pads its input.
//! - **Faces that fill the frame** (SCRFD only). Face chips and tight crops (a 150×150
//!   face thumbnail) blow the face up to the whole 640² input, far larger than any face
//!   SCRFD was trained on, and the reference finds nothing (or a weak sliver at the
//!   edge). When the first pass finds no confident face, a second pass places the
//!   image, shrunk to half the input size, in the middle of a black canvas, so a
//!   frame-filling face arrives at a size the model knows. YuNet finds such faces in
//!   one pass.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::decode::resize;
use crate::error::{Error, Result};
use crate::family::Candidates;
pub use crate::family::PixelFormat;
use crate::nms::nms;
use crate::{scrfd, yunet};

/// The network family of a detector model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorKind {
    /// InsightFace's SCRFD: nine outputs (scores, boxes, keypoints × 3 strides).
    Scrfd,
    /// OpenCV's YuNet: twelve outputs (`cls`, `obj`, `bbox`, `kps` × 3 strides).
    YuNet,
}

impl DetectorKind {
    /// How this family wants its pixels.
    pub fn pixels(self) -> PixelFormat {
        match self {
            DetectorKind::Scrfd => scrfd::PIXELS,
            DetectorKind::YuNet => yunet::PIXELS,
        }
    }

    /// The reference implementation's score threshold: InsightFace's `det_thresh` 0.5,
    /// OpenCV's `score_threshold` 0.9 (YuNet's scores run higher).
    pub fn default_score_threshold(self) -> f32 {
        match self {
            DetectorKind::Scrfd => 0.5,
            DetectorKind::YuNet => 0.9,
        }
    }

    /// The reference implementation's NMS IoU: 0.4 for SCRFD, 0.3 for YuNet.
    pub fn default_nms_threshold(self) -> f32 {
        match self {
            DetectorKind::Scrfd => 0.4,
            DetectorKind::YuNet => 0.3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DetectorKind::Scrfd => "SCRFD",
            DetectorKind::YuNet => "YuNet",
        }
    }
}

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
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// The box the image is shrunk (or grown) into, keeping its aspect ratio.
    pub fit: (u32, u32),
    /// Black border added on every side of the fitted image.
    pub margin: u32,
    /// Fixed tensor size `(width, height)`, or `None` to shape the tensor to the image
    /// (rounded up to a multiple of 32).
    pub tensor: Option<(u32, u32)>,
    /// How pixels are scaled.
    pub pixels: PixelFormat,
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

    /// Tensor pixels per image pixel.
    pub fn scale(&self) -> f32 {
        self.scale
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
        let mut data = vec![self.pixels.scale(0); plane * 3];
        // Plane of red, green and blue in the tensor.
        let planes = if self.pixels.bgr {
            [2, 1, 0]
        } else {
            [0, 1, 2]
        };
        let copy_w = new_w.min(tw.saturating_sub(self.margin));
        let copy_h = new_h.min(th.saturating_sub(self.margin));
        for y in 0..copy_h {
            let row = ((y + self.margin) * tw + self.margin) as usize;
            for x in 0..copy_w {
                let p = resized.get_pixel(x, y).0;
                let at = row + x as usize;
                for (value, to) in p.into_iter().zip(planes) {
                    data[to * plane + at] = self.pixels.scale(value);
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
    det_thresh: Option<f32>,
    nms_thresh: Option<f32>,
    input_size: u32,
    threads: usize,
    shape_to_image: bool,
    recover_filling_faces: Option<bool>,
}

impl DetectorBuilder {
    /// Minimum score of a detection. Default: the family's
    /// ([`DetectorKind::default_score_threshold`]).
    #[must_use]
    pub fn det_thresh(mut self, v: f32) -> Self {
        self.det_thresh = Some(v);
        self
    }

    /// IoU above which a lower-scoring box is suppressed. Default: the family's
    /// ([`DetectorKind::default_nms_threshold`]).
    #[must_use]
    pub fn nms_thresh(mut self, v: f32) -> Self {
        self.nms_thresh = Some(v);
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

    /// Run the second, padded pass when the first finds nothing. Default on for SCRFD,
    /// off for YuNet (which finds frame-filling faces in one pass).
    #[must_use]
    pub fn recover_filling_faces(mut self, v: bool) -> Self {
        self.recover_filling_faces = Some(v);
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
        let output_names: Vec<&str> = session
            .outputs()
            .iter()
            .map(ort::value::Outlet::name)
            .collect();
        let kind = if output_names.len() == 9 {
            DetectorKind::Scrfd
        } else if output_names == yunet::OUTPUTS {
            DetectorKind::YuNet
        } else {
            return Err(layout_err(format!(
                "not a face detector this project knows: SCRFD has 9 outputs (scores, \
                 boxes, keypoints × 3 strides), YuNet 12 named {}; found {:?}",
                yunet::OUTPUTS.join(", "),
                output_names
            )));
        };
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
            kind,
            input_name,
            fixed,
            det_thresh: self
                .det_thresh
                .unwrap_or_else(|| kind.default_score_threshold()),
            nms_thresh: self
                .nms_thresh
                .unwrap_or_else(|| kind.default_nms_threshold()),
            input_size,
            shape_to_image: self.shape_to_image && fixed.is_none(),
            recover_filling_faces: self
                .recover_filling_faces
                .unwrap_or(kind == DetectorKind::Scrfd),
        })
    }
}

/// A face detector (SCRFD or YuNet). Not `Sync`: give each thread its own, or feed it
/// from one.
pub struct Detector {
    session: Session,
    model: PathBuf,
    kind: DetectorKind,
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
            .field("kind", &self.kind)
            .field("input_size", &self.input_size)
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Starts building a detector for the SCRFD or YuNet model at `model`.
    pub fn builder(model: impl AsRef<Path>) -> DetectorBuilder {
        DetectorBuilder {
            model: model.as_ref().to_path_buf(),
            det_thresh: None,
            nms_thresh: None,
            input_size: 640,
            threads: 0,
            shape_to_image: true,
            recover_filling_faces: None,
        }
    }

    /// The model file.
    pub fn model(&self) -> &Path {
        &self.model
    }

    /// The model's network family.
    pub fn kind(&self) -> DetectorKind {
        self.kind
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
            pixels: self.kind.pixels(),
        }
    }

    /// A placement fitting an image into `fit` pixels, in a tensor shaped to it when the
    /// model takes any size (else in the model's fixed input): for a second look at a
    /// region of a photo, as the pipeline takes at small faces.
    pub fn letterbox_fitting(&self, fit: (u32, u32)) -> Letterbox {
        Letterbox {
            fit,
            margin: 0,
            tensor: self.fixed,
            pixels: self.kind.pixels(),
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
            pixels: self.kind.pixels(),
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
        let mut found = Candidates::default();
        let decoded = match self.kind {
            DetectorKind::Scrfd => scrfd::decode(&outputs, (tw, th), self.det_thresh, &mut found),
            DetectorKind::YuNet => yunet::decode(&outputs, (tw, th), self.det_thresh, &mut found),
        };
        decoded.map_err(|message| Error::Layout {
            path: self.model.clone(),
            message: format!("{}: {message}", self.kind.name()),
        })?;
        let Candidates { boxes, kps, scores } = found;
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

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_matches_reference_arithmetic() {
        // 1126x661 into 640²: new size 640x375 (int(640 * 661/1126)), scale 375/661.
        let img = RgbImage::from_pixel(1126, 661, image::Rgb([255, 255, 255]));
        let lb = Letterbox {
            fit: (640, 640),
            margin: 0,
            tensor: None,
            pixels: scrfd::PIXELS,
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
            pixels: scrfd::PIXELS,
        };
        let p = lb.prepare(&img);
        assert_eq!(p.dimensions(), (640, 640));
        // The image's (50, 50) lands at 160 + 50 * 3.2 = 320 in the tensor.
        let unmap = |v: f32| (v - p.margin) / p.scale;
        assert!((unmap(320.0) - 50.0).abs() < 1e-4);
    }

    #[test]
    fn yunet_pixels_are_raw_bgr_and_padding_is_zero() {
        let img = RgbImage::from_pixel(640, 600, image::Rgb([10, 20, 30]));
        let p = Letterbox {
            fit: (640, 640),
            margin: 0,
            tensor: None,
            pixels: yunet::PIXELS,
        }
        .prepare(&img);
        assert_eq!(p.dimensions(), (640, 608));
        let plane = 640 * 608;
        assert_eq!(
            [p.data[0], p.data[plane], p.data[2 * plane]],
            [30.0, 20.0, 10.0]
        );
        assert_eq!(p.data[600 * 640], 0.0, "padding row");
    }
}
