//! What the two detector families (SCRFD, YuNet) share: the pixel format of their
//! input, the strides of their output levels, and the candidates they decode before NMS.

/// How a detector wants its pixels: `(value - mean) / std` per channel, in RGB or BGR
/// order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelFormat {
    /// Subtracted from every 0–255 value.
    pub mean: f32,
    /// Then divided by this.
    pub std: f32,
    /// Blue plane first (OpenCV's order) instead of red.
    pub bgr: bool,
}

impl PixelFormat {
    pub(crate) fn scale(self, value: u8) -> f32 {
        (f32::from(value) - self.mean) / self.std
    }
}

/// The feature-map strides of both families' three output levels.
pub(crate) const STRIDES: [u32; 3] = [8, 16, 32];

/// Output `index` of a run, as floats.
pub(crate) fn output<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    index: usize,
) -> std::result::Result<&'a [f32], String> {
    outputs[index]
        .try_extract_tensor::<f32>()
        .map(|(_, values)| values)
        .map_err(|e| e.to_string())
}

/// Boxes, keypoints and scores above the threshold, before NMS, in tensor pixels.
#[derive(Default)]
pub(crate) struct Candidates {
    pub(crate) boxes: Vec<[f32; 4]>,
    pub(crate) kps: Vec<[[f32; 2]; 5]>,
    pub(crate) scores: Vec<f32>,
}

impl Candidates {
    pub(crate) fn push(&mut self, bbox: [f32; 4], kps: [[f32; 2]; 5], score: f32) {
        self.boxes.push(bbox);
        self.kps.push(kps);
        self.scores.push(score);
    }
}
