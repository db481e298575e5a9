//! Face quality measures and gates.
//!
//! - sharpness ([`laplacian_variance`]), measured once at embedding time and stored;
//! - the perceptual hash ([`dhash`]) for near-duplicate reports;
//! - the composite score ([`score`]) and the quality gate ([`gate`]).
//!
//! ```
//! use image::{GrayImage, Luma};
//! let flat = GrayImage::from_pixel(32, 32, Luma([128]));
//! assert_eq!(fs_quality::laplacian_variance(&flat), 0.0);
//! ```
#![warn(missing_docs)]

mod perceptual;
mod score;
mod sharpness;

pub use perceptual::{dhash, hamming};
pub use score::{FULL_SIZE_PX, Quality, QualityInputs, keypoint_symmetry, score};
pub use sharpness::{face_sharpness, laplacian_variance, to_gray};

/// Floors of the quality gate (the refine defaults are 90 px, 40, 0.6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateThresholds {
    /// Minimum face short side in pixels.
    pub min_short: f32,
    /// Minimum sharpness (Laplacian variance of the face).
    pub min_sharpness: f32,
    /// Minimum detector score.
    pub min_det_score: f32,
}

/// The quality gate: `None` when the face passes, else why it fails. A face whose
/// sharpness was never measured fails the sharpness floor only when the floor is above 0.
pub fn gate(
    short_side: f32,
    sharpness: Option<f32>,
    det_score: f32,
    t: &GateThresholds,
) -> Option<String> {
    if short_side < t.min_short {
        return Some(format!("face {short_side:.0} px < {} px", t.min_short));
    }
    let sharp = sharpness.unwrap_or(0.0);
    if sharp < t.min_sharpness {
        return Some(format!("sharpness {sharp:.1} < {}", t.min_sharpness));
    }
    if det_score < t.min_det_score {
        return Some(format!(
            "detector score {det_score:.2} < {}",
            t.min_det_score
        ));
    }
    None
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn gate_boundaries_are_inclusive() {
        let t = GateThresholds {
            min_short: 90.0,
            min_sharpness: 40.0,
            min_det_score: 0.6,
        };
        assert_eq!(gate(90.0, Some(40.0), 0.6, &t), None);
        assert!(gate(89.9, Some(40.0), 0.6, &t).unwrap().contains("px"));
        assert!(
            gate(90.0, Some(39.9), 0.6, &t)
                .unwrap()
                .contains("sharpness")
        );
        assert!(gate(90.0, None, 0.6, &t).unwrap().contains("sharpness"));
        assert!(gate(90.0, Some(40.0), 0.59, &t).unwrap().contains("score"));
    }
}
