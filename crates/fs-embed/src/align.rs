//! Five-point similarity alignment onto the 112×112 ArcFace template, as InsightFace's
//! `utils/face_align.py` (`estimate_norm` + `norm_crop`) does it.

use image::RgbImage;

/// ArcFace's reference keypoints for a 112×112 crop (`arcface_dst` in `face_align.py`).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Side of an aligned face crop.
pub const ALIGNED_SIZE: u32 = 112;

/// A 2×3 affine matrix `[[a, b, tx], [c, d, ty]]` mapping source to destination pixels.
pub type Affine = [[f64; 3]; 2];

/// The least-squares similarity transform (rotation, uniform scale, translation; no
/// reflection) taking `src` onto `dst`: Umeyama's method, in its closed 2D form.
pub fn umeyama(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Affine {
    assert_eq!(src.len(), dst.len(), "point sets differ in size");
    #[expect(clippy::cast_precision_loss, reason = "a handful of points")]
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(ax, ay), p| {
            (ax + f64::from(p[0]), ay + f64::from(p[1]))
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut dot, mut cross, mut var) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (dx, dy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    if var == 0.0 {
        return [[1.0, 0.0, mdx - msx], [0.0, 1.0, mdy - msy]];
    }
    // scale·cos θ and scale·sin θ.
    let (a, b) = (dot / var, cross / var);
    [
        [a, -b, mdx - (a * msx - b * msy)],
        [b, a, mdy - (b * msx + a * msy)],
    ]
}

/// Applies `m` to a point.
pub fn transform_point(m: &Affine, p: [f32; 2]) -> [f32; 2] {
    let (x, y) = (f64::from(p[0]), f64::from(p[1]));
    #[expect(clippy::cast_possible_truncation, reason = "pixel coordinates")]
    [
        (m[0][0] * x + m[0][1] * y + m[0][2]) as f32,
        (m[1][0] * x + m[1][1] * y + m[1][2]) as f32,
    ]
}

/// Inverts an affine matrix; `None` when it is singular.
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if det.abs() < 1e-12 {
        return None;
    }
    let (a, b, c, d) = (m[1][1] / det, -m[0][1] / det, -m[1][0] / det, m[0][0] / det);
    Some([
        [a, b, -(a * m[0][2] + b * m[1][2])],
        [c, d, -(c * m[0][2] + d * m[1][2])],
    ])
}

/// Warps `image` by `m` into a `width`×`height` image with bilinear sampling and black
/// outside the source (`cv2.warpAffine` with `borderValue=0`).
pub fn warp_affine(image: &RgbImage, m: &Affine, width: u32, height: u32) -> RgbImage {
    let inv = invert(m).unwrap_or([[0.0; 3]; 2]);
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let raw = image.as_raw();
    let mut out = RgbImage::new(width, height);
    for oy in 0..height {
        for ox in 0..width {
            let (fx, fy) = (f64::from(ox), f64::from(oy));
            let sx = inv[0][0] * fx + inv[0][1] * fy + inv[0][2];
            let sy = inv[1][0] * fx + inv[1][1] * fy + inv[1][2];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - x0, sy - y0);
            #[expect(clippy::cast_possible_truncation, reason = "floored pixel index")]
            let (x0, y0) = (x0 as i64, y0 as i64);
            let mut acc = [0.0f64; 3];
            for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
                for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
                    let (x, y) = (x0 + dx, y0 + dy);
                    let weight = wx * wy;
                    if weight == 0.0 || x < 0 || y < 0 || x >= w || y >= h {
                        continue;
                    }
                    #[expect(
                        clippy::cast_sign_loss,
                        clippy::cast_possible_truncation,
                        reason = "bounds checked"
                    )]
                    let at = ((y * w + x) * 3) as usize;
                    for c in 0..3 {
                        acc[c] += weight * f64::from(raw[at + c]);
                    }
                }
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "0..=255"
            )]
            out.put_pixel(
                ox,
                oy,
                image::Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8)),
            );
        }
    }
    out
}

/// Aligns the face with keypoints `kps` into a 112×112 ArcFace crop.
pub fn align_face(image: &RgbImage, kps: &[[f32; 2]; 5]) -> RgbImage {
    let m = umeyama(kps, &ARCFACE_TEMPLATE);
    warp_affine(image, &m, ALIGNED_SIZE, ALIGNED_SIZE)
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
    use proptest::prelude::*;

    fn similarity(scale: f64, angle: f64, tx: f64, ty: f64) -> Affine {
        let (s, c) = angle.sin_cos();
        [[scale * c, -scale * s, tx], [scale * s, scale * c, ty]]
    }

    proptest! {
        #[test]
        fn recovers_a_known_similarity(
            scale in 0.2f64..5.0, angle in -3.0f64..3.0, tx in -500.0f64..500.0, ty in -500.0f64..500.0,
        ) {
            let truth = similarity(scale, angle, tx, ty);
            let dst: Vec<[f32; 2]> = ARCFACE_TEMPLATE.iter().map(|&p| transform_point(&truth, p)).collect();
            let got = umeyama(&ARCFACE_TEMPLATE, &dst);
            for r in 0..2 {
                for c in 0..3 {
                    let tol = if c == 2 { 1e-2 } else { 1e-4 * scale.max(1.0) };
                    prop_assert!((got[r][c] - truth[r][c]).abs() < tol, "{got:?} vs {truth:?}");
                }
            }
        }

        #[test]
        fn inverse_round_trips(scale in 0.2f64..5.0, angle in -3.0f64..3.0, tx in -50.0f64..50.0) {
            let m = similarity(scale, angle, tx, -tx);
            let inv = invert(&m).unwrap();
            let p = [12.5f32, -7.25];
            let back = transform_point(&inv, transform_point(&m, p));
            prop_assert!((back[0] - p[0]).abs() < 1e-3 && (back[1] - p[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn reflection_is_not_used() {
        // Mirrored points: the best proper similarity cannot flip them, so the
        // determinant stays positive.
        let mirrored: Vec<[f32; 2]> = ARCFACE_TEMPLATE
            .iter()
            .map(|p| [112.0 - p[0], p[1]])
            .collect();
        let m = umeyama(&mirrored, &ARCFACE_TEMPLATE);
        assert!(m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0.0);
    }

    #[test]
    fn identity_warp_copies_and_shift_fills_black() {
        let img = RgbImage::from_fn(8, 8, |x, y| image::Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert_eq!(warp_affine(&img, &id, 8, 8), img);
        let shifted = warp_affine(&img, &[[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]], 8, 8);
        assert_eq!(shifted.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(shifted.get_pixel(3, 2), img.get_pixel(0, 2));
    }

    #[test]
    fn aligning_template_points_is_identity() {
        let img = RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, 0]));
        assert_eq!(align_face(&img, &ARCFACE_TEMPLATE), img);
    }
}
