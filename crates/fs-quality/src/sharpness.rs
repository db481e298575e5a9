use image::{GrayImage, RgbImage};

/// Converts RGB to 8-bit grey with OpenCV's `BGR2GRAY` weights (0.299, 0.587, 0.114),
/// rounded, so sharpness figures are comparable with the original tool's.
pub fn to_gray(image: &RgbImage) -> GrayImage {
    GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let [r, g, b] = image.get_pixel(x, y).0;
        let v = 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "0..=255"
        )]
        image::Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// Variance of the 3×3 Laplacian `[0 1 0; 1 -4 1; 0 1 0]` over the image, with
/// reflect-101 borders, as `cv2.Laplacian(gray, cv2.CV_64F).var()` computes it.
/// Higher is sharper; the refine gate's default floor is 40.
pub fn laplacian_variance(gray: &GrayImage) -> f64 {
    let (w, h) = gray.dimensions();
    if w < 2 || h < 2 {
        return 0.0;
    }
    let reflect = |v: i64, n: u32| -> u32 {
        let n = i64::from(n);
        let r = if v < 0 {
            -v
        } else if v >= n {
            2 * n - 2 - v
        } else {
            v
        };
        u32::try_from(r).expect("reflected index is in range")
    };
    let px = |x: i64, y: i64| f64::from(gray.get_pixel(reflect(x, w), reflect(y, h)).0[0]);
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for y in 0..i64::from(h) {
        for x in 0..i64::from(w) {
            let v = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            sum += v;
            sum_sq += v * v;
        }
    }
    let n = f64::from(w) * f64::from(h);
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0)
}

/// Sharpness of the face inside `bbox` (clipped to the image): the Laplacian variance
/// of its grey crop. Returns 0 for an empty crop.
pub fn face_sharpness(image: &RgbImage, bbox: [f32; 4]) -> f64 {
    let clamp = clamp_to_side;
    let (x1, y1) = (
        clamp(bbox[0], image.width()),
        clamp(bbox[1], image.height()),
    );
    let (x2, y2) = (
        clamp(bbox[2], image.width()),
        clamp(bbox[3], image.height()),
    );
    if x2 <= x1 + 1 || y2 <= y1 + 1 {
        return 0.0;
    }
    let crop = image::imageops::crop_imm(image, x1, y1, x2 - x1, y2 - y1).to_image();
    laplacian_variance(&to_gray(&crop))
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "clamped to the image, whose sides are far below 2^24"
)]
fn clamp_to_side(v: f32, side: u32) -> u32 {
    v.max(0.0).min(side as f32) as u32
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    #[test]
    fn checkerboard_is_sharper_than_its_blur() {
        let sharp = GrayImage::from_fn(40, 40, |x, y| {
            Luma([if (x / 2 + y / 2) % 2 == 0 { 0 } else { 255 }])
        });
        let blurred = image::imageops::blur(&sharp, 2.0);
        assert!(laplacian_variance(&sharp) > 10.0 * laplacian_variance(&blurred));
    }

    #[test]
    fn single_bright_pixel_matches_hand_computation() {
        // One 255 pixel in a 5x5 field of zeros, away from borders: the Laplacian is -1020
        // at it and 255 at its four neighbours, 0 elsewhere.
        let mut img = GrayImage::new(5, 5);
        img.put_pixel(2, 2, Luma([255]));
        let vals = [-1020.0f64, 255.0, 255.0, 255.0, 255.0];
        let mean = vals.iter().sum::<f64>() / 25.0;
        let var = vals.iter().map(|v| v * v).sum::<f64>() / 25.0 - mean * mean;
        assert!((laplacian_variance(&img) - var).abs() < 1e-9);
    }

    #[test]
    fn crop_outside_the_image_is_zero() {
        let img = RgbImage::from_pixel(10, 10, Rgb([1, 2, 3]));
        assert_eq!(face_sharpness(&img, [20.0, 20.0, 30.0, 30.0]), 0.0);
    }
}
