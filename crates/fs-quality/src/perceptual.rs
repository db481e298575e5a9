use image::RgbImage;

use crate::sharpness::to_gray;

/// 64-bit difference hash: the picture shrunk to 9×8 grey pixels, one bit per
/// horizontally adjacent pair (left brighter than right). Re-encodes, resizes and
/// greyscale copies keep nearly all bits; different pictures differ in about half.
pub fn dhash(image: &RgbImage) -> u64 {
    let small =
        image::imageops::resize(&to_gray(image), 9, 8, image::imageops::FilterType::Triangle);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash <<= 1;
            if small.get_pixel(x, y).0[0] > small.get_pixel(x + 1, y).0[0] {
                hash |= 1;
            }
        }
    }
    hash
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 3) % 97 + (x * y) % 50) as u8;
            image::Rgb([v, v.wrapping_mul(3), 255 - v])
        })
    }

    #[test]
    fn resized_and_grey_copies_stay_close_and_others_do_not() {
        let original = picture(400, 300);
        let resized =
            image::imageops::resize(&original, 133, 100, image::imageops::FilterType::Triangle);
        let grey = image::DynamicImage::ImageLuma8(to_gray(&original)).to_rgb8();
        let other = image::imageops::rotate90(&picture(300, 400));
        let h = dhash(&original);
        assert!(hamming(h, dhash(&resized)) <= 6);
        assert!(hamming(h, dhash(&grey)) <= 6);
        assert!(hamming(h, dhash(&other)) > 12);
    }
}
