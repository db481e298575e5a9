//! Head pose: from `1k3d68`'s 68 3D landmarks as InsightFace computes it
//! ([`pose_from_landmarks_3d`]), or, for packs without that model, from the five
//! detector keypoints ([`pose_from_keypoints`]).
//!
//! **With 1k3d68** (InsightFace's `model_zoo/landmark.py`): an affine camera `P` (3×4)
//! is fitted by least squares from the mean 68-point shape to the predicted landmarks,
//! split into scale and rotation (`P2sRt`: the first two rows normalised, the third their
//! cross product), and the rotation read as Euler angles (`matrix2angle`). The mean
//! shape comes from the `insightface` package (`data/meanshape_68.json`, written by
//! `scripts/insightface_meanshape.py`).
//!
//! **Without it:
//! a scaled-orthographic camera is fitted by least squares to a mean 3D face (eyes,
//! nose tip, mouth corners; millimetres, nose tip at the origin, y up, z towards the
//! camera), its two rows orthonormalised into a rotation, and the rotation read as
//! pitch, yaw and roll with InsightFace's `matrix2angle` convention. Five points and a
//! mean face give a coarse pose — good to tell frontal from profile and left from right,
//! which is what the quality score needs.

use fs_cache::{Pose, PoseSource};

/// Mean face for the five keypoints in SCRFD's order: the eye on the image's left, the
/// other eye, nose tip, and the mouth corners (image-left first). Typical adult
/// proportions: 62 mm between eye centres, eyes 33 mm above and 27 mm behind the nose
/// tip, mouth corners 50 mm apart, 30 mm below and 25 mm behind it.
const MEAN_FACE: [[f64; 3]; 5] = [
    [-31.0, 33.0, -27.0],
    [31.0, 33.0, -27.0],
    [0.0, 0.0, 0.0],
    [-25.0, -30.0, -25.0],
    [25.0, -30.0, -25.0],
];

/// Pose (degrees) of a face from its five keypoints in image pixels.
pub fn pose_from_keypoints(kps: &[[f32; 2]; 5]) -> Pose {
    // Centre both point sets; image y points down, the model's up.
    let mean_model = mean3(&MEAN_FACE);
    let model: Vec<[f64; 3]> = MEAN_FACE
        .iter()
        .map(|p| {
            [
                p[0] - mean_model[0],
                p[1] - mean_model[1],
                p[2] - mean_model[2],
            ]
        })
        .collect();
    let (mu, mv) = kps.iter().fold((0.0, 0.0), |(a, b), p| {
        (a + f64::from(p[0]) / 5.0, b - f64::from(p[1]) / 5.0)
    });
    let image: Vec<[f64; 2]> = kps
        .iter()
        .map(|p| [f64::from(p[0]) - mu, -f64::from(p[1]) - mv])
        .collect();

    // Least squares: A (2×3) = U Xᵀ (X Xᵀ)⁻¹.
    let mut xxt = [[0.0; 3]; 3];
    let mut uxt = [[0.0; 3]; 2];
    for (x, u) in model.iter().zip(&image) {
        for r in 0..3 {
            for c in 0..3 {
                xxt[r][c] += x[r] * x[c];
            }
            uxt[0][r] += u[0] * x[r];
            uxt[1][r] += u[1] * x[r];
        }
    }
    let inv = invert3(&xxt);
    let a: Vec<[f64; 3]> = uxt
        .iter()
        .map(|row| std::array::from_fn(|c| (0..3).map(|k| row[k] * inv[k][c]).sum()))
        .collect();
    // Orthonormalise the two camera rows (Gram–Schmidt) and complete the rotation.
    let r1 = normalise(a[0]);
    let r2 = normalise(sub(a[1], scale(r1, dot(r1, a[1]))));
    let r3 = cross(r1, r2);
    angles([r1, r2, r3], PoseSource::MeanFace5)
}

/// InsightFace's `matrix2angle`: pitch, yaw, roll (degrees) of a rotation.
fn angles(r: [[f64; 3]; 3], source: PoseSource) -> Pose {
    let sy = (r[0][0] * r[0][0] + r[1][0] * r[1][0]).sqrt();
    let (pitch, yaw, roll) = if sy > 1e-6 {
        (
            r[2][1].atan2(r[2][2]),
            (-r[2][0]).atan2(sy),
            r[1][0].atan2(r[0][0]),
        )
    } else {
        ((-r[1][2]).atan2(r[1][1]), (-r[2][0]).atan2(sy), 0.0)
    };
    #[expect(clippy::cast_possible_truncation, reason = "angles in degrees")]
    Pose {
        pitch: pitch.to_degrees() as f32,
        yaw: yaw.to_degrees() as f32,
        roll: roll.to_degrees() as f32,
        source,
    }
}

/// InsightFace's mean 68-point shape.
fn mean_shape_68() -> &'static [[f64; 3]] {
    static SHAPE: std::sync::OnceLock<Vec<[f64; 3]>> = std::sync::OnceLock::new();
    SHAPE.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../data/meanshape_68.json"))
                .expect("bundled JSON is valid");
        doc["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| std::array::from_fn(|i| p[i].as_f64().expect("a number")))
            .collect()
    })
}

/// Pose from `1k3d68`'s landmarks (image pixels, z scaled alike), as InsightFace
/// computes it: `estimate_affine_matrix_3d23d` → `P2sRt` → `matrix2angle`.
pub fn pose_from_landmarks_3d(landmarks: &[[f32; 3]]) -> Option<Pose> {
    let mean = mean_shape_68();
    if landmarks.len() != mean.len() {
        return None;
    }
    // Least squares for P (3×4) with Y = P · [X; 1]: normal equations A·p = b per row,
    // A = Σ x̃ x̃ᵀ (4×4, shared), b = Σ x̃ y_d.
    let mut a = [[0.0f64; 4]; 4];
    let mut b = [[0.0f64; 4]; 3];
    for (x, y) in mean.iter().zip(landmarks) {
        let xh = [x[0], x[1], x[2], 1.0];
        for r in 0..4 {
            for c in 0..4 {
                a[r][c] += xh[r] * xh[c];
            }
            for d in 0..3 {
                b[d][r] += xh[r] * f64::from(y[d]);
            }
        }
    }
    let inv = invert4(&a)?;
    let p: Vec<[f64; 4]> = b
        .iter()
        .map(|bd| std::array::from_fn(|c| (0..4).map(|k| inv[c][k] * bd[k]).sum()))
        .collect();
    let r1 = normalise([p[0][0], p[0][1], p[0][2]]);
    let r2 = normalise([p[1][0], p[1][1], p[1][2]]);
    Some(angles([r1, r2, cross(r1, r2)], PoseSource::Landmark3d68))
}

/// Gauss–Jordan inverse of a 4×4 matrix; `None` when singular.
fn invert4(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for k in 0..4 {
            a[col][k] /= d;
            inv[col][k] /= d;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col];
                for k in 0..4 {
                    a[r][k] -= f * a[col][k];
                    inv[r][k] -= f * inv[col][k];
                }
            }
        }
    }
    Some(inv)
}

fn mean3(points: &[[f64; 3]]) -> [f64; 3] {
    #[expect(clippy::cast_precision_loss, reason = "five points")]
    let n = points.len() as f64;
    std::array::from_fn(|i| points.iter().map(|p| p[i]).sum::<f64>() / n)
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    a.map(|v| v * s)
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn normalise(a: [f64; 3]) -> [f64; 3] {
    let n = dot(a, a).sqrt();
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn invert3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let cof = |r: usize, c: usize| {
        let rows: Vec<usize> = (0..3).filter(|&i| i != r).collect();
        let cols: Vec<usize> = (0..3).filter(|&i| i != c).collect();
        let minor =
            m[rows[0]][cols[0]] * m[rows[1]][cols[1]] - m[rows[0]][cols[1]] * m[rows[1]][cols[0]];
        if (r + c).is_multiple_of(2) {
            minor
        } else {
            -minor
        }
    };
    // Inverse = adjugate / det (adjugate = transposed cofactors).
    std::array::from_fn(|r| std::array::from_fn(|c| cof(c, r) / det))
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;

    /// The rotation `Rz(roll) · Ry(yaw) · Rx(pitch)` (degrees), which `matrix2angle`
    /// decomposes.
    fn rotation(pitch: f64, yaw: f64, roll: f64) -> [[f64; 3]; 3] {
        let (p, y, r) = (pitch.to_radians(), yaw.to_radians(), roll.to_radians());
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, p.cos(), -p.sin()],
            [0.0, p.sin(), p.cos()],
        ];
        let ry = [
            [y.cos(), 0.0, y.sin()],
            [0.0, 1.0, 0.0],
            [-y.sin(), 0.0, y.cos()],
        ];
        let rz = [
            [r.cos(), -r.sin(), 0.0],
            [r.sin(), r.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| -> [[f64; 3]; 3] {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum())
            })
        };
        mul(rz, mul(ry, rx))
    }

    /// Projects the mean face rotated by (pitch, yaw, roll) degrees into an image.
    fn project(pitch: f64, yaw: f64, roll: f64) -> [[f32; 2]; 5] {
        let rot = rotation(pitch, yaw, roll);
        MEAN_FACE.map(|x| {
            let v: [f64; 3] = std::array::from_fn(|i| (0..3).map(|k| rot[i][k] * x[k]).sum());
            [(300.0 + 2.0 * v[0]) as f32, (300.0 - 2.0 * v[1]) as f32]
        })
    }

    #[test]
    fn recovers_known_rotations() {
        for (pitch, yaw, roll) in [
            (0.0, 0.0, 0.0),
            (0.0, 30.0, 0.0),
            (15.0, -20.0, 10.0),
            (-10.0, 45.0, -5.0),
        ] {
            let pose = pose_from_keypoints(&project(pitch, yaw, roll));
            assert!(
                (f64::from(pose.yaw) - yaw).abs() < 1.0,
                "yaw {} vs {yaw}",
                pose.yaw
            );
            assert!(
                (f64::from(pose.pitch) - pitch).abs() < 1.0,
                "pitch {} vs {pitch}",
                pose.pitch
            );
            assert!(
                (f64::from(pose.roll) - roll).abs() < 1.0,
                "roll {} vs {roll}",
                pose.roll
            );
        }
    }

    #[test]
    fn landmarks_3d_pose_recovers_a_known_rotation() {
        let mean = mean_shape_68();
        assert_eq!(mean.len(), 68);
        for (pitch, yaw, roll) in [
            (0.0f64, 0.0f64, 0.0f64),
            (10.0, -25.0, 5.0),
            (-15.0, 40.0, -12.0),
        ] {
            let rot = rotation(pitch, yaw, roll);
            // Scaled to pixels and moved, as 1k3d68's output is.
            let landmarks: Vec<[f32; 3]> = mean
                .iter()
                .map(|x| {
                    std::array::from_fn(|i| {
                        (120.0 * (0..3).map(|k| rot[i][k] * x[k]).sum::<f64>()
                            + [300.0, 200.0, 0.0][i]) as f32
                    })
                })
                .collect();
            let pose = pose_from_landmarks_3d(&landmarks).unwrap();
            assert_eq!(pose.source, PoseSource::Landmark3d68);
            assert!((f64::from(pose.pitch) - pitch).abs() < 0.1, "{pose:?}");
            assert!((f64::from(pose.yaw) - yaw).abs() < 0.1, "{pose:?}");
            assert!((f64::from(pose.roll) - roll).abs() < 0.1, "{pose:?}");
        }
        assert!(pose_from_landmarks_3d(&[[0.0; 3]; 5]).is_none());
    }

    #[test]
    fn mirroring_flips_yaw_and_roll() {
        let kps = project(5.0, 25.0, 8.0);
        // Mirror horizontally; the detector names keypoints by image side, so swap pairs.
        let m = |p: [f32; 2]| [600.0 - p[0], p[1]];
        let mirrored = [m(kps[1]), m(kps[0]), m(kps[2]), m(kps[4]), m(kps[3])];
        let (a, b) = (pose_from_keypoints(&kps), pose_from_keypoints(&mirrored));
        assert!((a.yaw + b.yaw).abs() < 1.0 && a.yaw > 20.0);
        assert!((a.roll + b.roll).abs() < 1.0);
        assert!((a.pitch - b.pitch).abs() < 1.0);
    }
}
