//! Decoding photos into RGB with EXIF orientation applied, and resizing.

use std::io::Cursor;

use fast_image_resize::{self as fr, images::Image as FrImage};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, metadata::Orientation};

use crate::error::{Error, Result};

/// Largest width or height accepted, in pixels. Larger images are refused with a
/// limits error instead of allocating gigabytes (a 100-megapixel panorama is ~13k wide).
pub const MAX_SIDE: u32 = 30_000;

/// Most memory one decoded image may take.
pub const MAX_ALLOC_BYTES: u64 = 1 << 30;

/// Decodes JPEG, PNG or WebP bytes (format sniffed from the content, not the name) into
/// RGB, with the EXIF orientation applied so that faces are upright as a viewer shows them.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(image::ImageError::IoError(e)))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(Error::Truncated);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(Error::Decode)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(Error::Decode)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Whether JPEG data has its end-of-image marker after the last start-of-scan.
///
/// The JPEG decoder fills a cut-off scan with grey and reports success, which would put
/// half-grey photos into the cache; a download or copy that broke off should be an error
/// instead. Scan data cannot contain `FF D9` (an `FF` there is stuffed as `FF 00`), and an
/// EXIF thumbnail's own markers come before the main scan, so "the last EOI follows the
/// last SOS" holds exactly for complete files, trailing bytes after EOI included.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

/// Resizes with plain bilinear interpolation, no antialiasing, as `cv2.resize` does by
/// default. The detector's keypoints (and so the embeddings) track the reference far
/// better this way: an antialiased shrink moved one fixture's embedding to cosine 0.963
/// of InsightFace's, plain bilinear keeps every fixture face at 0.997 or better.
pub fn resize(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.width() == width && image.height() == height {
        return image.clone();
    }
    resize_with(
        image,
        width,
        height,
        fr::ResizeAlg::Interpolation(fr::FilterType::Bilinear),
    )
}

/// A Lanczos3 resize, for crops a person looks at (sharper than [`resize`]).
pub fn resize_lanczos(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    resize_with(
        image,
        width,
        height,
        fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3),
    )
}

/// The one place `fast_image_resize` is called: its generic resizer is instantiated
/// once, here, rather than in every crate that resizes (it costs a minute of the first
/// release build each time).
#[inline(never)]
fn resize_with(image: &RgbImage, width: u32, height: u32, algorithm: fr::ResizeAlg) -> RgbImage {
    let src = FrImage::from_vec_u8(
        image.width(),
        image.height(),
        image.as_raw().clone(),
        fr::PixelType::U8x3,
    )
    .expect("buffer matches dimensions");
    let mut dst = FrImage::new(width.max(1), height.max(1), fr::PixelType::U8x3);
    let options = fr::ResizeOptions::new().resize_alg(algorithm);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type");
    RgbImage::from_raw(dst.width(), dst.height(), dst.into_vec())
        .expect("buffer matches dimensions")
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

    fn encode_png(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_by_content_not_name() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let back = decode_image(&encode_png(&img)).unwrap();
        assert_eq!(back, img);
    }

    #[test]
    fn garbage_empty_and_truncated_are_errors() {
        assert!(decode_image(b"").is_err());
        assert!(decode_image(b"this is a text file, not a JPEG").is_err());
        let img = RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let png = encode_png(&img);
        assert!(decode_image(&png[..png.len() / 2]).is_err());
    }

    #[test]
    fn truncated_jpeg_is_an_error_but_trailing_bytes_are_fine() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 9]));
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        assert!(decode_image(&jpeg).is_ok());
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"\0\0junk");
        assert!(decode_image(&trailing).is_ok());
        for cut in [jpeg.len() - 2, jpeg.len() * 2 / 3, 200] {
            assert!(
                matches!(decode_image(&jpeg[..cut]), Err(Error::Truncated)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn resize_keeps_flat_colour() {
        let img = RgbImage::from_pixel(100, 60, image::Rgb([10, 200, 30]));
        let small = resize(&img, 33, 20);
        assert_eq!(small.dimensions(), (33, 20));
        assert!(small.pixels().all(|p| p.0 == [10, 200, 30]));
    }
}
