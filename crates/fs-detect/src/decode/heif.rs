//! HEIC/HEIF and AVIF through libheif. libheif applies the container's rotation and
//! mirroring (`irot`, `imir`) while decoding, so the pixels come out upright.

use image::RgbImage;
use libheif_rs::{ColorSpace, HeifContext, RgbChroma};

use super::{Format, check_size};
use crate::error::{Error, Result};

pub(super) fn decode(format: Format, bytes: &[u8]) -> Result<RgbImage> {
    let fail = |e: libheif_rs::HeifError| Error::Format {
        format: format.name(),
        message: e.message,
    };
    let context = HeifContext::read_from_bytes(bytes).map_err(fail)?;
    let handle = context.primary_image_handle().map_err(fail)?;
    check_size(format, handle.width().into(), handle.height().into())?;
    let image = handle
        .decode(ColorSpace::Rgb(RgbChroma::Rgb), None)
        .map_err(fail)?;
    let plane = image.planes().interleaved.ok_or_else(|| Error::Format {
        format: format.name(),
        message: "libheif gave no interleaved RGB plane".into(),
    })?;
    let (width, height) = (plane.width, plane.height);
    let row = width as usize * 3;
    let mut pixels = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let start = y * plane.stride;
        let line = plane
            .data
            .get(start..start + row)
            .ok_or_else(|| Error::Format {
                format: format.name(),
                message: format!("row {y} lies outside the decoded plane"),
            })?;
        pixels.extend_from_slice(line);
    }
    Ok(RgbImage::from_raw(width, height, pixels).expect("rows of width × 3 bytes"))
}
