//! Square crops of one face from a decoded photo, with every other face kept out, and
//! the contact-sheet thumbnail cut the same way.
//!
//! The export's PNG crops, the report's and the review page's thumbnails and the
//! thumbnails the embed pass cuts from the image it has already decoded all come from
//! [`crop_single_face`], so a face looks the same wherever it is shown.

use image::RgbImage;

/// Side of a face's contact-sheet thumbnail, in pixels (shown at 96 CSS px: sharp on a
/// screen of 1.33 device pixels per CSS pixel, and still small).
pub const THUMB_SIDE: u32 = 128;

/// Padding around a face in its thumbnail, as a fraction of its box's longer side.
pub const THUMB_PAD: f32 = 0.3;

/// JPEG quality of a thumbnail.
const THUMB_QUALITY: u8 = 85;

/// The thumbnail of the face at `bbox` in `image`, `others` (the photo's other faces,
/// in the same coordinates) kept out: [`THUMB_SIDE`]², [`THUMB_PAD`] around the box.
pub fn face_thumbnail(image: &RgbImage, bbox: [f32; 4], others: &[[f32; 4]]) -> RgbImage {
    crop_single_face(image, bbox, others, THUMB_PAD, THUMB_SIDE)
}

/// `pixels` as a JPEG at the thumbnails' quality (an empty image is an error).
pub fn thumbnail_jpeg(pixels: &RgbImage) -> image::ImageResult<Vec<u8>> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, THUMB_QUALITY)
        .encode_image(pixels)?;
    Ok(jpeg)
}

fn intersects(a: [f32; 4], b: [f32; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The long side to decode a photo of `full` size (upright) at, for a crop of
/// `out_size`² around `bbox` (full-size coordinates) not to be upsampled: the crop's
/// padding may shrink to a tenth of the box, so that is what is assumed. A 12-MP
/// portrait whose face is 1,500 px decodes at 1/2; `u32::MAX` (full size) when the size
/// is unknown.
pub fn crop_decode_side(full: (u32, u32), bbox: [f32; 4], out_size: u32) -> u32 {
    let full_long = full.0.max(full.1);
    let region = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) * (1.0 + 2.0 * MIN_PAD);
    if full_long == 0 || region <= 0.0 {
        return u32::MAX;
    }
    let wanted = (f64::from(full_long) * f64::from(out_size) / f64::from(region)).ceil();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "positive, and clamped to the photo's side below"
    )]
    let wanted = wanted.min(f64::from(full_long)) as u32;
    wanted
}

/// The least padding [`crop_single_face`] shrinks to, as a fraction of the box's longer
/// side, to keep other faces out.
const MIN_PAD: f32 = 0.1;

/// A square crop around `bbox`, padded by `pad_ratio` of the box's longer side on each
/// side, with no other face in it: the padding shrinks (down to a tenth) until `others`
/// fall outside, and any that still overlap are painted with the crop's mean colour
/// outside the target box. Areas beyond the photo are black. Resized to `out_size`².
pub fn crop_single_face(
    image: &RgbImage,
    bbox: [f32; 4],
    others: &[[f32; 4]],
    pad_ratio: f32,
    out_size: u32,
) -> RgbImage {
    let (cx, cy) = (
        f32::midpoint(bbox[0], bbox[2]),
        f32::midpoint(bbox[1], bbox[3]),
    );
    let long = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]).max(1.0);
    let square = |pad: f32| {
        let half = long * (0.5 + pad);
        [cx - half, cy - half, cx + half, cy + half]
    };
    let mut pad = pad_ratio.max(0.0);
    let mut area = square(pad);
    while pad > MIN_PAD && others.iter().any(|o| intersects(*o, area)) {
        pad = (pad - 0.05).max(MIN_PAD);
        area = square(pad);
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "bounded crop sizes"
    )]
    let side = (area[2] - area[0]).round().max(1.0) as u32;
    #[expect(clippy::cast_possible_truncation, reason = "pixel offsets")]
    let (ox, oy) = (area[0].round() as i64, area[1].round() as i64);
    let mut crop = RgbImage::new(side, side);
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = (ox + i64::from(x), oy + i64::from(y));
            if sx >= 0 && sy >= 0 && sx < i64::from(image.width()) && sy < i64::from(image.height())
            {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "bounds checked"
                )]
                crop.put_pixel(x, y, *image.get_pixel(sx as u32, sy as u32));
            }
        }
    }
    let overlapping: Vec<[f32; 4]> = others
        .iter()
        .copied()
        .filter(|o| intersects(*o, area))
        .collect();
    if !overlapping.is_empty() {
        let fill = mean_colour(&crop);
        for y in 0..side {
            for x in 0..side {
                #[expect(clippy::cast_precision_loss, reason = "pixel coordinates")]
                let (px, py) = (
                    (ox + i64::from(x)) as f32 + 0.5,
                    (oy + i64::from(y)) as f32 + 0.5,
                );
                let inside = |b: &[f32; 4]| px >= b[0] && px < b[2] && py >= b[1] && py < b[3];
                if !inside(&bbox) && overlapping.iter().any(|o| inside(&grow(*o, 0.15))) {
                    crop.put_pixel(x, y, fill);
                }
            }
        }
    }
    resize_lanczos(&crop, out_size)
}

fn grow(b: [f32; 4], by: f32) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    [b[0] - w * by, b[1] - h * by, b[2] + w * by, b[3] + h * by]
}

fn mean_colour(img: &RgbImage) -> image::Rgb<u8> {
    let n = u64::from(img.width()) * u64::from(img.height());
    let mut sum = [0u64; 3];
    for p in img.pixels() {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += u64::from(v);
        }
    }
    #[expect(clippy::cast_possible_truncation, reason = "a mean of bytes")]
    image::Rgb(sum.map(|s| (s / n.max(1)) as u8))
}

fn resize_lanczos(img: &RgbImage, side: u32) -> RgbImage {
    crate::decode::resize_lanczos(img, side, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_tightens_away_from_a_neighbour_and_masks_what_remains() {
        let img = RgbImage::from_fn(400, 200, |x, _| {
            if x < 200 {
                image::Rgb([200, 10, 10])
            } else {
                image::Rgb([10, 10, 200])
            }
        });
        let target = [60.0, 50.0, 140.0, 150.0];
        // A neighbour just right of the target: inside the 50 % padding.
        let other = [150.0, 50.0, 230.0, 150.0];
        let crop = crop_single_face(&img, target, &[other], 0.5, 64);
        assert_eq!(crop.dimensions(), (64, 64));
        // No pure blue (the neighbour's colour) survives in the crop.
        assert!(
            crop.pixels().all(|p| !(p.0[2] > 150 && p.0[0] < 50)),
            "neighbour visible"
        );
    }

    #[test]
    fn crop_beyond_the_photo_is_black() {
        let img = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        let crop = crop_single_face(&img, [0.0, 0.0, 50.0, 50.0], &[], 0.5, 100);
        assert_eq!(crop.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(crop.get_pixel(60, 60).0, [255, 255, 255]);
    }

    #[test]
    fn a_thumbnail_is_the_padded_face_at_the_thumbnail_side() {
        // A white face on black: with 30 % padding the face fills the middle 1/1.6.
        let mut img = RgbImage::new(1000, 800);
        for y in 300..500 {
            for x in 400..600 {
                img.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let thumb = face_thumbnail(&img, [400.0, 300.0, 600.0, 500.0], &[]);
        assert_eq!(thumb.dimensions(), (THUMB_SIDE, THUMB_SIDE));
        let middle = THUMB_SIDE / 2;
        assert!(thumb.get_pixel(middle, middle).0[0] > 240);
        // The padding: 0.3 / 1.6 of the side on each edge is outside the face.
        assert!(thumb.get_pixel(THUMB_SIDE / 10, middle).0[0] < 15);
        let jpeg = thumbnail_jpeg(&thumb).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (THUMB_SIDE, THUMB_SIDE));
        assert!(thumbnail_jpeg(&RgbImage::new(0, 0)).is_err());
    }
}
