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

/// Aligns the face with keypoints `kps` into a 112×112 ArcFace crop, sampling the
/// source bilinearly exactly as InsightFace's `norm_crop` does.
///
/// A face much larger than the crop is then point-sampled: the crop depends on where the
/// samples fall, and two decodes of one photo at different sizes give crops that differ
/// in their fine detail. [`align_face_smooth`] averages instead.
pub fn align_face(image: &RgbImage, kps: &[[f32; 2]; 5]) -> RgbImage {
    let m = umeyama(kps, &ARCFACE_TEMPLATE);
    warp_affine(image, &m, ALIGNED_SIZE, ALIGNED_SIZE)
}

/// Aligns like [`align_face`], but a face at least twice the crop's resolution is first
/// shrunk by area averaging (by a whole factor, to between one and two source pixels per
/// crop pixel), so every crop pixel stands for the source pixels it covers. The crop is
/// then the same whether the photo was decoded at full size or at a reduced scale that
/// still holds the face at the crop's resolution.
pub fn align_face_smooth(image: &RgbImage, kps: &[[f32; 2]; 5]) -> RgbImage {
    let m = umeyama(kps, &ARCFACE_TEMPLATE);
    // Crop pixels per source pixel: a similarity's scale is the length of a column.
    let scale = m[0][0].hypot(m[1][0]);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a small positive factor"
    )]
    let shrink = (1.0 / scale).floor().min(64.0) as u32;
    let Some(inverse) = invert(&m) else {
        return warp_affine(image, &m, ALIGNED_SIZE, ALIGNED_SIZE);
    };
    if shrink < 2 {
        return warp_affine(image, &m, ALIGNED_SIZE, ALIGNED_SIZE);
    }
    // The source region under the crop, a few shrunk pixels wider for the bilinear taps,
    // snapped to the shrink grid so that the averaging cells do not depend on the face.
    #[expect(clippy::cast_precision_loss, reason = "112")]
    let side = ALIGNED_SIZE as f32;
    let corners = [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]]
        .map(|corner| transform_point(&inverse, corner));
    let pad = 2.0 * f64::from(shrink);
    let bound = |pick: fn(&[f32; 2]) -> f32, limit: u32, grow: f64| -> u32 {
        let values = corners.iter().map(pick).map(f64::from);
        let v = if grow < 0.0 {
            values.fold(f64::INFINITY, f64::min) + grow
        } else {
            values.fold(f64::NEG_INFINITY, f64::max) + grow
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to the image"
        )]
        let v = v.clamp(0.0, f64::from(limit)) as u32;
        v / shrink * shrink
    };
    let (x0, y0) = (
        bound(|p| p[0], image.width(), -pad),
        bound(|p| p[1], image.height(), -pad),
    );
    let (x1, y1) = (
        bound(|p| p[0], image.width(), pad + f64::from(shrink)),
        bound(|p| p[1], image.height(), pad + f64::from(shrink)),
    );
    let (w, h) = ((x1 - x0) / shrink, (y1 - y0) / shrink);
    if w < 2 || h < 2 {
        return warp_affine(image, &m, ALIGNED_SIZE, ALIGNED_SIZE);
    }
    let region = image::imageops::crop_imm(image, x0, y0, w * shrink, h * shrink).to_image();
    let small = fs_detect::decode::resize_area(&region, w, h);
    // A shrunk pixel's centre sits at the centre of the cell it averages.
    #[expect(clippy::cast_precision_loss, reason = "pixel coordinates")]
    let (ox, oy, k) = (x0 as f32, y0 as f32, shrink as f32);
    let moved = kps.map(|[x, y]| [(x - ox) / k - 0.5 + 0.5 / k, (y - oy) / k - 0.5 + 0.5 / k]);
    warp_affine(
        &small,
        &umeyama(&moved, &ARCFACE_TEMPLATE),
        ALIGNED_SIZE,
        ALIGNED_SIZE,
    )
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "test values: exact copies compared, small counts cast"
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
        assert_eq!(align_face_smooth(&img, &ARCFACE_TEMPLATE), img);
    }

    /// A face-sized pattern: smooth shading plus a one-pixel checker, the detail that
    /// point sampling aliases.
    fn detailed(side: u32) -> RgbImage {
        RgbImage::from_fn(side, side, |x, y| {
            let shade = 100.0 + 60.0 * (f64::from(x) / 37.0).sin() * (f64::from(y) / 53.0).cos();
            let checker = if (x + y) % 2 == 0 { 40.0 } else { -40.0 };
            let v = (shade + checker).clamp(0.0, 255.0) as u8;
            image::Rgb([v, v / 2, 255 - v])
        })
    }

    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        let total: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).abs())
            .sum();
        total / a.as_raw().len() as f64
    }

    #[test]
    fn smooth_alignment_gives_one_crop_whatever_the_decoded_size() {
        // A face eight times the crop's resolution, and the same photo at a quarter of
        // its side (as a reduced JPEG decode gives it).
        let big = detailed(1200);
        let kps: [[f32; 2]; 5] = ARCFACE_TEMPLATE.map(|[x, y]| [x * 8.0 + 101.0, y * 8.0 + 77.0]);
        let small = fs_detect::decode::resize_area(&big, 300, 300);
        let small_kps = kps.map(|[x, y]| [x / 4.0 - 0.375, y / 4.0 - 0.375]);

        let smooth = mean_abs_diff(
            &align_face_smooth(&big, &kps),
            &align_face_smooth(&small, &small_kps),
        );
        let sampled = mean_abs_diff(&align_face(&big, &kps), &align_face(&small, &small_kps));
        assert!(smooth < 2.0, "smooth crops differ by {smooth}");
        assert!(
            sampled > 4.0 * smooth,
            "point sampling differs more ({sampled} vs {smooth})"
        );
    }

    #[test]
    fn smooth_alignment_keeps_the_face_in_place() {
        // A bright square where the nose is, in a photo five times the crop's size.
        let mut big = RgbImage::from_pixel(900, 700, image::Rgb([0, 0, 0]));
        let kps: [[f32; 2]; 5] = ARCFACE_TEMPLATE.map(|[x, y]| [x * 5.0 + 60.0, y * 5.0 + 30.0]);
        let [nx, ny] = kps[2];
        for y in (ny as u32 - 25)..(ny as u32 + 25) {
            for x in (nx as u32 - 25)..(nx as u32 + 25) {
                big.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let crop = align_face_smooth(&big, &kps);
        let [tx, ty] = ARCFACE_TEMPLATE[2];
        assert!(
            crop.get_pixel(tx as u32, ty as u32).0[0] > 250,
            "nose bright"
        );
        assert!(
            crop.get_pixel(tx as u32 + 8, ty as u32).0[0] < 5,
            "beside it dark"
        );
        assert!(
            crop.get_pixel(tx as u32, ty as u32 - 8).0[0] < 5,
            "above it dark"
        );
    }
}
