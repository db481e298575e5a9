//! Decoding photos into RGB with their orientation applied, and resizing.
//!
//! Formats ([`Format`]): JPEG, PNG, WebP, TIFF (8/16-bit, RGB, grey, CMYK), BMP and GIF
//! (first frame) through `image`, JPEGs through libjpeg-turbo first (feature
//! `turbojpeg`), which can decode them at a reduced scale ([`decode_photo_scaled`]);
//! HEIC/HEIF and AVIF through the system libheif
//! (feature `heif`); JPEG XL through `jxl-oxide` (feature `jxl`); camera RAW files
//! through the JPEG preview the camera embeds ([`raw`]). The format is read from the
//! content, except for RAW files, which are TIFF (or ISO-BMFF) containers and are told
//! apart by their extension. A format left out of the build is an error naming the
//! feature, never a silent skip.

use std::io::Cursor;
use std::path::Path;

use fast_image_resize::{self as fr, images::Image as FrImage};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, metadata::Orientation};

use crate::error::{Error, Result};

#[cfg(feature = "heif")]
mod heif;
#[cfg(feature = "jxl")]
mod jxl;
pub mod raw;
#[cfg(feature = "turbojpeg")]
mod turbo;

/// A photo format this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    WebP,
    /// TIFF.
    Tiff,
    /// BMP.
    Bmp,
    /// GIF (its first frame).
    Gif,
    /// HEIC/HEIF (HEVC in ISO-BMFF), as iPhones write.
    Heic,
    /// AVIF (AV1 in ISO-BMFF).
    Avif,
    /// JPEG XL.
    JpegXl,
    /// A camera RAW file, read through its embedded JPEG preview.
    Raw,
}

impl Format {
    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::WebP => "WebP",
            Format::Tiff => "TIFF",
            Format::Bmp => "BMP",
            Format::Gif => "GIF",
            Format::Heic => "HEIC",
            Format::Avif => "AVIF",
            Format::JpegXl => "JPEG XL",
            Format::Raw => "RAW",
        }
    }

    /// The format a file name says (lower or upper case), if it names one.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "jpg" | "jpeg" | "jpe" | "jfif" => Format::Jpeg,
            "png" => Format::Png,
            "webp" => Format::WebP,
            "tif" | "tiff" => Format::Tiff,
            "bmp" => Format::Bmp,
            "gif" => Format::Gif,
            "heic" | "heif" | "hif" => Format::Heic,
            "avif" => Format::Avif,
            "jxl" => Format::JpegXl,
            _ if raw::EXTENSIONS.contains(&ext.as_str()) => Format::Raw,
            _ => return None,
        })
    }

    /// The format of `bytes`, read from their first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if let Some(brand) = iso_bmff_brand(bytes) {
            return match &brand {
                b"avif" | b"avis" => Some(Format::Avif),
                b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                    Some(Format::Heic)
                }
                b"crx " => Some(Format::Raw),
                _ => None,
            };
        }
        if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
            return Some(Format::JpegXl);
        }
        match image::guess_format(bytes).ok()? {
            image::ImageFormat::Jpeg => Some(Format::Jpeg),
            image::ImageFormat::Png => Some(Format::Png),
            image::ImageFormat::WebP => Some(Format::WebP),
            image::ImageFormat::Tiff => Some(Format::Tiff),
            image::ImageFormat::Bmp => Some(Format::Bmp),
            image::ImageFormat::Gif => Some(Format::Gif),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The major brand of an ISO-BMFF file (`ftyp` box first), as HEIF, AVIF and CR3 are.
fn iso_bmff_brand(bytes: &[u8]) -> Option<[u8; 4]> {
    (bytes.len() >= 12 && &bytes[4..8] == b"ftyp").then(|| {
        let mut brand = [0; 4];
        brand.copy_from_slice(&bytes[8..12]);
        brand
    })
}

/// Refuses sizes past [`MAX_SIDE`] or [`MAX_ALLOC_BYTES`] (as RGB) before decoding.
pub(crate) fn check_size(format: Format, width: u64, height: u64) -> Result<()> {
    if width == 0
        || height == 0
        || width > u64::from(MAX_SIDE)
        || height > u64::from(MAX_SIDE)
        || width * height * 3 > MAX_ALLOC_BYTES
    {
        return Err(Error::TooLarge {
            max_side: MAX_SIDE,
            max_mib: MAX_ALLOC_BYTES >> 20,
            format: format.name(),
            width,
            height,
        });
    }
    Ok(())
}

/// Largest width or height accepted, in pixels. Larger images are refused with a
/// limits error instead of allocating gigabytes (a 100-megapixel panorama is ~13k wide).
pub const MAX_SIDE: u32 = 30_000;

/// Most memory one decoded image may take.
pub const MAX_ALLOC_BYTES: u64 = 1 << 30;

/// Decodes a photo (format sniffed from the content, not the name) into RGB, with its
/// orientation applied so that faces are upright as a viewer shows them. RAW files need
/// their name: see [`decode_photo`].
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    decode_photo(None, bytes)
}

/// Decodes the photo `bytes` read from `name`, at full size: by its content, except
/// that a RAW extension (`.dng`, `.cr2`, `.nef`, …) means its embedded JPEG preview.
pub fn decode_photo(name: Option<&Path>, bytes: &[u8]) -> Result<RgbImage> {
    decode_photo_scaled(name, bytes, u32::MAX).map(|decoded| decoded.image)
}

/// A photo decoded upright, perhaps at a reduced scale ([`decode_photo_scaled`]).
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The pixels, upright.
    pub image: RgbImage,
    /// Width of the full-size photo, upright.
    pub full_width: u32,
    /// Height of the full-size photo, upright.
    pub full_height: u32,
}

impl Decoded {
    /// A photo decoded at its full size.
    pub fn full(image: RgbImage) -> Self {
        Self {
            full_width: image.width(),
            full_height: image.height(),
            image,
        }
    }

    /// The `[x1, y1, x2, y2]` box `b`, in full-size coordinates, on these pixels.
    #[expect(clippy::cast_precision_loss, reason = "sides are below 2^24")]
    pub fn map_box(&self, b: [f32; 4]) -> [f32; 4] {
        let sx = self.image.width() as f32 / self.full_width.max(1) as f32;
        let sy = self.image.height() as f32 / self.full_height.max(1) as f32;
        [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]
    }

    /// Whether this is the photo at its full size.
    pub fn is_full(&self) -> bool {
        self.image.dimensions() == (self.full_width, self.full_height)
    }
}

/// Decodes the photo `bytes` read from `name` as [`decode_photo`] does, but needing
/// only `long_side` pixels on its longer side: JPEGs decode at the coarsest scale of
/// 1/8, 1/4, 1/2 or 1 that gives at least that (with feature `turbojpeg`), which costs a
/// fraction of the full decode. Other formats, and JPEGs smaller than twice
/// `long_side`, decode at full size.
pub fn decode_photo_scaled(name: Option<&Path>, bytes: &[u8], long_side: u32) -> Result<Decoded> {
    let by_name = name.and_then(Format::from_extension);
    let format = match (by_name, Format::sniff(bytes)) {
        (Some(Format::Raw), _) | (_, Some(Format::Raw)) => Format::Raw,
        (_, Some(sniffed)) => sniffed,
        (Some(named), None) => {
            return Err(Error::Format {
                format: named.name(),
                message: "the content is not that format (or any this program reads)".into(),
            });
        }
        (None, None) => return decode_with_image(bytes).map(Decoded::full),
    };
    let image = match format {
        Format::Heic | Format::Avif => decode_heif(format, bytes),
        Format::JpegXl => decode_jxl(bytes),
        Format::Raw => raw::decode_preview(bytes),
        Format::Jpeg => return decode_jpeg(bytes, long_side),
        _ => decode_with_image(bytes).map_err(|e| named_error(format, e)),
    };
    image.map(Decoded::full)
}

/// Names the format in a decoder's error.
fn named_error(format: Format, error: Error) -> Error {
    match error {
        Error::Decode(e) => Error::Format {
            format: format.name(),
            message: e.to_string(),
        },
        other => other,
    }
}

/// A JPEG through libjpeg-turbo at the scale `long_side` needs, or through `image` at
/// full size when libjpeg-turbo declines it (CMYK, damaged data it warns about).
fn decode_jpeg(bytes: &[u8], long_side: u32) -> Result<Decoded> {
    if !jpeg_is_complete(bytes) {
        return Err(Error::Truncated);
    }
    #[cfg(feature = "turbojpeg")]
    match turbo::decode(bytes, long_side) {
        Ok(scaled) => {
            let orientation = image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes))
                .ok()
                .and_then(|mut d| d.orientation().ok())
                .unwrap_or(Orientation::NoTransforms);
            let mut image = DynamicImage::ImageRgb8(scaled.image);
            image.apply_orientation(orientation);
            let (w, h) = scaled.full;
            let quarter_turn = matches!(
                orientation,
                Orientation::Rotate90
                    | Orientation::Rotate270
                    | Orientation::Rotate90FlipH
                    | Orientation::Rotate270FlipH
            );
            let (full_width, full_height) = if quarter_turn { (h, w) } else { (w, h) };
            return Ok(Decoded {
                image: image.into_rgb8(),
                full_width,
                full_height,
            });
        }
        Err(e @ Error::TooLarge { .. }) => return Err(e),
        Err(e) => tracing::debug!("libjpeg-turbo declined a JPEG ({e}); decoding it with image"),
    }
    #[cfg(not(feature = "turbojpeg"))]
    let _ = long_side;
    decode_with_image(bytes)
        .map(Decoded::full)
        .map_err(|e| named_error(Format::Jpeg, e))
}

/// Whether the photo in `file` decodes, read as a file called `name` (whose extension
/// tells RAW files apart): the check before a copy is kept, as Immich staging does.
pub fn check_readable(file: &Path, name: &Path) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| Error::Decode(image::ImageError::IoError(e)))?;
    decode_photo(Some(name), &bytes).map(drop)
}

#[cfg(feature = "heif")]
fn decode_heif(format: Format, bytes: &[u8]) -> Result<RgbImage> {
    heif::decode(format, bytes)
}

#[cfg(not(feature = "heif"))]
fn decode_heif(format: Format, _bytes: &[u8]) -> Result<RgbImage> {
    Err(Error::NotBuiltIn {
        format: format.name(),
        feature: "heif",
        how: "install libheif (Debian: libheif-dev) and build with default features",
    })
}

#[cfg(feature = "jxl")]
fn decode_jxl(bytes: &[u8]) -> Result<RgbImage> {
    jxl::decode(bytes)
}

#[cfg(not(feature = "jxl"))]
fn decode_jxl(_bytes: &[u8]) -> Result<RgbImage> {
    Err(Error::NotBuiltIn {
        format: Format::JpegXl.name(),
        feature: "jxl",
        how: "build with default features",
    })
}

/// JPEG, PNG, WebP, TIFF, BMP and GIF through `image`, within the size limits.
pub(crate) fn decode_with_image(bytes: &[u8]) -> Result<RgbImage> {
    decode_with_image_oriented(bytes, Orientation::NoTransforms)
}

/// [`decode_with_image`], turning the image by `default` when the file itself says
/// nothing of its orientation.
pub(crate) fn decode_with_image_oriented(bytes: &[u8], default: Orientation) -> Result<RgbImage> {
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
    let orientation = match decoder.orientation() {
        Ok(Orientation::NoTransforms) | Err(_) => default,
        Ok(own) => own,
    };
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

/// An area-averaging (box filter) resize: each output pixel is the mean of the input
/// pixels it covers, as `cv2.INTER_AREA` shrinks.
pub fn resize_area(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    resize_with(
        image,
        width,
        height,
        fr::ResizeAlg::Convolution(fr::FilterType::Box),
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
#[expect(
    clippy::cast_possible_truncation,
    clippy::float_cmp,
    reason = "test values: exact copies compared, small counts cast"
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

    /// `jpeg` with an EXIF segment holding only `orientation`, right after its SOI.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
        tiff.extend_from_slice(&274u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&u32::from(orientation).to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_turns_a_jpeg_upright() {
        // A red top row: after orientation 6 (turn 90° clockwise) it is the right column.
        let img = RgbImage::from_fn(64, 48, |_, y| {
            image::Rgb(if y < 8 { [255, 0, 0] } else { [0, 0, 255] })
        });
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let turned = decode_image(&with_exif_orientation(&jpeg, 6)).unwrap();
        assert_eq!(turned.dimensions(), (48, 64));
        assert!(turned.get_pixel(44, 32).0[0] > 200, "red on the right");
        assert!(turned.get_pixel(4, 32).0[0] < 60, "blue on the left");
    }

    fn encode_jpeg(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    #[cfg(feature = "turbojpeg")]
    #[test]
    fn large_jpegs_decode_at_the_coarsest_scale_that_is_large_enough() {
        let img = RgbImage::from_fn(2000, 1500, |x, y| {
            image::Rgb([(x / 8) as u8, (y / 6) as u8, ((x + y) / 14) as u8])
        });
        let jpeg = encode_jpeg(&img);
        let quarter = decode_photo_scaled(None, &jpeg, 500).unwrap();
        assert_eq!(quarter.image.dimensions(), (500, 375));
        assert_eq!((quarter.full_width, quarter.full_height), (2000, 1500));
        assert_eq!(
            quarter.map_box([0.0, 0.0, 2000.0, 1500.0]),
            [0.0, 0.0, 500.0, 375.0]
        );
        assert!(!quarter.is_full());
        let half = decode_photo_scaled(None, &jpeg, 501).unwrap();
        assert_eq!(half.image.dimensions(), (1000, 750));
        let full = decode_photo_scaled(None, &jpeg, u32::MAX).unwrap();
        assert!(full.is_full());
        assert_eq!(full.image, decode_image(&jpeg).unwrap());
        // The reduced decode is the picture, smaller: compare it with a box-filtered copy.
        let shrunk = resize_area(&full.image, 500, 375);
        let worst = quarter
            .image
            .pixels()
            .zip(shrunk.pixels())
            .flat_map(|(a, b)| a.0.into_iter().zip(b.0).map(|(p, q)| p.abs_diff(q)))
            .max()
            .unwrap();
        assert!(
            worst <= 12,
            "differs from the box-filtered full decode by {worst}"
        );
    }

    #[test]
    fn png_and_jpegs_under_twice_the_asked_side_decode_at_full_size() {
        let img = RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 9]));
        for bytes in [encode_png(&img), encode_jpeg(&img)] {
            // 300 pixels hold a 151-pixel long side only at full size.
            let decoded = decode_photo_scaled(None, &bytes, 151).unwrap();
            assert!(decoded.is_full());
            assert_eq!(decoded.image.dimensions(), (300, 200));
        }
    }

    #[cfg(feature = "turbojpeg")]
    #[test]
    fn a_scaled_decode_turns_the_full_size_with_the_photo() {
        let img = RgbImage::from_pixel(1600, 1200, image::Rgb([90, 90, 90]));
        let turned =
            decode_photo_scaled(None, &with_exif_orientation(&encode_jpeg(&img), 6), 400).unwrap();
        assert_eq!(turned.image.dimensions(), (300, 400));
        assert_eq!((turned.full_width, turned.full_height), (1200, 1600));
    }

    #[cfg(feature = "turbojpeg")]
    #[test]
    fn a_hundred_megapixel_jpeg_costs_an_eighth_of_its_side() {
        // 10000×10000: 300 MB as RGB at full size, 4.7 MB at 1/8.
        let img = RgbImage::from_fn(10_000, 10_000, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, 128])
        });
        let jpeg = encode_jpeg(&img);
        drop(img);
        let decoded = decode_photo_scaled(None, &jpeg, 640).unwrap();
        assert_eq!(decoded.image.dimensions(), (1250, 1250));
        assert_eq!((decoded.full_width, decoded.full_height), (10_000, 10_000));
    }

    #[test]
    fn resize_keeps_flat_colour() {
        let img = RgbImage::from_pixel(100, 60, image::Rgb([10, 200, 30]));
        let small = resize(&img, 33, 20);
        assert_eq!(small.dimensions(), (33, 20));
        assert!(small.pixels().all(|p| p.0 == [10, 200, 30]));
    }
}
