//! JPEGs through libjpeg-turbo, scaled down in the DCT domain when less than the full
//! size is needed: a 12-megapixel photo decodes at 1/4 scale in a fraction of the time
//! its full decode takes, and the scaled image is properly low-passed.

use image::RgbImage;

use super::{Format, check_size};
use crate::error::{Error, Result};

/// Progressive JPEGs with more scans than this are refused: a crafted file with
/// thousands of tiny scans would otherwise take minutes (libjpeg-turbo's advice).
const SCAN_LIMIT: u32 = 500;

/// The DCT scales tried, coarsest first. libjpeg-turbo has fast inverse transforms for
/// these; the other multiples of 1/8 it offers are plain C.
const DENOMINATORS: [usize; 4] = [8, 4, 2, 1];

/// A JPEG decoded by libjpeg-turbo, in its stored orientation.
pub(super) struct Scaled {
    pub image: RgbImage,
    /// Size of the full image, stored orientation.
    pub full: (u32, u32),
}

/// Decodes `bytes` at the coarsest scale (1/8, 1/4, 1/2 or 1) whose longer side is at
/// least `long_side` pixels (the full size if none is).
///
/// Any error here, warnings included, sends the caller to the `image` decoder, which is
/// more lenient with slightly damaged files and reads CMYK JPEGs.
pub(super) fn decode(bytes: &[u8], long_side: u32) -> Result<Scaled> {
    let failed = |e: turbojpeg::Error| Error::Format {
        format: Format::Jpeg.name(),
        message: e.to_string(),
    };
    let mut decompressor = turbojpeg::Decompressor::new().map_err(failed)?;
    let header = decompressor.read_header(bytes).map_err(failed)?;
    let side = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    check_size(Format::Jpeg, side(header.width), side(header.height))?;
    if matches!(
        header.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    ) {
        return Err(Error::Format {
            format: Format::Jpeg.name(),
            message: "CMYK is left to the image decoder".into(),
        });
    }
    let denominator = if header.is_lossless {
        1
    } else {
        scale_for(header.width.max(header.height), long_side as usize)
    };
    let factor = turbojpeg::ScalingFactor::new(1, denominator);
    decompressor.set_scaling_factor(factor).map_err(failed)?;
    decompressor.set_scan_limit(SCAN_LIMIT).map_err(failed)?;
    let scaled = header.scaled(factor);
    let mut pixels = vec![0u8; 3 * scaled.width * scaled.height];
    let output = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch: 3 * scaled.width,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    decompressor.decompress(bytes, output).map_err(failed)?;
    let to_u32 = |v: usize| u32::try_from(v).expect("checked against MAX_SIDE");
    Ok(Scaled {
        image: RgbImage::from_raw(to_u32(scaled.width), to_u32(scaled.height), pixels)
            .expect("buffer matches dimensions"),
        full: (to_u32(header.width), to_u32(header.height)),
    })
}

/// The largest denominator in [`DENOMINATORS`] that keeps `full_long` at or above
/// `wanted` pixels once divided (rounding up, as libjpeg-turbo does).
fn scale_for(full_long: usize, wanted: usize) -> usize {
    DENOMINATORS
        .into_iter()
        .find(|&d| full_long.div_ceil(d) >= wanted)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_coarsest_scale_that_is_still_large_enough() {
        assert_eq!(scale_for(4032, 640), 4, "1008 px; 1/8 would give 504");
        assert_eq!(scale_for(4032, 504), 8);
        assert_eq!(scale_for(4032, 505), 4);
        assert_eq!(scale_for(1280, 640), 2);
        assert_eq!(scale_for(1279, 640), 2, "640 after rounding up");
        assert_eq!(scale_for(1278, 640), 1);
        assert_eq!(scale_for(800, 640), 1);
        assert_eq!(scale_for(300, 640), 1, "small photos are never shrunk");
        assert_eq!(scale_for(4032, usize::MAX), 1);
    }
}
