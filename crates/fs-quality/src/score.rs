//! The composite quality score of export-swap:
//! `0.30·frontality + 0.20·det_score + 0.20·symmetry + 0.15·size + 0.15·sharpness`,
//! every part normalised to `[0, 1]`.

/// Everything the score reads about one face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityInputs {
    /// Yaw in degrees.
    pub yaw: f32,
    /// Pitch in degrees.
    pub pitch: f32,
    /// Detector score.
    pub det_score: f32,
    /// Landmark symmetry in `[0, 1]` (see [`keypoint_symmetry`]).
    pub symmetry: f32,
    /// Face short side in pixels.
    pub short_side: f32,
    /// Laplacian variance of the face.
    pub sharpness: f32,
}

/// The parts and the composite.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    /// 1 facing the camera, 0 at 90° of yaw or pitch combined.
    pub frontality: f32,
    /// The detector score.
    pub det_score: f32,
    /// Left–right symmetry of the keypoints.
    pub symmetry: f32,
    /// 1 from 256 px of face short side, linear below.
    pub size: f32,
    /// log10 of the Laplacian variance over 3 (1 from a variance of 1000).
    pub sharpness: f32,
    /// The weighted sum.
    pub composite: f32,
}

/// Face size that counts as full marks, in pixels (the export crop is 512 px with
/// padding, so a 256 px face fills it without upscaling).
pub const FULL_SIZE_PX: f32 = 256.0;

/// Scores one face.
pub fn score(q: &QualityInputs) -> Quality {
    let frontality = (1.0 - (q.yaw.abs() + q.pitch.abs()) / 90.0).clamp(0.0, 1.0);
    let det_score = q.det_score.clamp(0.0, 1.0);
    let symmetry = q.symmetry.clamp(0.0, 1.0);
    let size = (q.short_side / FULL_SIZE_PX).clamp(0.0, 1.0);
    let sharpness = (q.sharpness.max(1.0).log10() / 3.0).clamp(0.0, 1.0);
    let composite =
        0.30 * frontality + 0.20 * det_score + 0.20 * symmetry + 0.15 * size + 0.15 * sharpness;
    Quality {
        frontality,
        det_score,
        symmetry,
        size,
        sharpness,
        composite,
    }
}

/// Symmetry of the five keypoints: how evenly the nose sits between the eyes and between
/// the mouth corners. 1 for a perfectly symmetric frontal face, falling towards 0 as the
/// face turns or the keypoints are unreliable.
pub fn keypoint_symmetry(kps: &[[f32; 2]; 5]) -> f32 {
    let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let balance = |l: f32, r: f32| {
        if l + r > 0.0 {
            (l - r).abs() / (l + r)
        } else {
            1.0
        }
    };
    let eyes = balance(dist(kps[0], kps[2]), dist(kps[1], kps[2]));
    let mouth = balance(dist(kps[3], kps[2]), dist(kps[4], kps[2]));
    (1.0 - (eyes + mouth)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONTAL: [[f32; 2]; 5] = [
        [40.0, 50.0],
        [80.0, 50.0],
        [60.0, 70.0],
        [45.0, 90.0],
        [75.0, 90.0],
    ];

    #[test]
    fn weights_sum_to_one_and_parts_are_bounded() {
        let best = score(&QualityInputs {
            yaw: 0.0,
            pitch: 0.0,
            det_score: 1.0,
            symmetry: 1.0,
            short_side: 400.0,
            sharpness: 5000.0,
        });
        assert!((best.composite - 1.0).abs() < 1e-6);
        let worst = score(&QualityInputs {
            yaw: 120.0,
            pitch: 0.0,
            det_score: -1.0,
            symmetry: 0.0,
            short_side: 0.0,
            sharpness: 0.0,
        });
        assert!(worst.composite.abs() < 1e-9);
    }

    #[test]
    fn turning_the_head_lowers_the_score() {
        let at = |yaw| {
            score(&QualityInputs {
                yaw,
                pitch: 0.0,
                det_score: 0.8,
                symmetry: 0.9,
                short_side: 200.0,
                sharpness: 300.0,
            })
            .composite
        };
        assert!(at(0.0) > at(20.0) && at(20.0) > at(60.0));
    }

    #[test]
    fn symmetric_keypoints_score_high_and_turned_ones_low() {
        assert!((keypoint_symmetry(&FRONTAL) - 1.0).abs() < 1e-6);
        let mut turned = FRONTAL;
        turned[2][0] = 75.0; // nose near the right eye
        assert!(keypoint_symmetry(&turned) < 0.6);
    }
}
