//! JPEG XL through `jxl-oxide` (pure Rust). Its renderer applies the image's
//! orientation, so the pixels come out upright.

use image::RgbImage;
use jxl_oxide::JxlImage;

use super::{Format, check_size};
use crate::error::{Error, Result};

pub(super) fn decode(bytes: &[u8]) -> Result<RgbImage> {
    let fail = |message: String| Error::Format {
        format: Format::JpegXl.name(),
        message,
    };
    let image = JxlImage::builder()
        .read(bytes)
        .map_err(|e| fail(e.to_string()))?;
    check_size(Format::JpegXl, image.width().into(), image.height().into())?;
    if image.num_loaded_keyframes() == 0 {
        return Err(fail("no complete frame (truncated file?)".into()));
    }
    let render = image.render_frame(0).map_err(|e| fail(e.to_string()))?;
    let mut stream = render.stream_no_alpha();
    let (width, height, channels) = (stream.width(), stream.height(), stream.channels());
    let mut samples = vec![0u8; width as usize * height as usize * channels as usize];
    stream.write_to_buffer(&mut samples);
    let pixels: Vec<u8> = match channels {
        1 => samples.iter().flat_map(|&g| [g, g, g]).collect(),
        3 => samples,
        // CMYK (black as the fourth channel, 0 = no ink): an approximate conversion is
        // enough to find faces.
        4 => samples
            .chunks_exact(4)
            .flat_map(|p| {
                let k = 255 - u16::from(p[3]);
                p[..3]
                    .iter()
                    .map(move |&c| u8::try_from((255 - u16::from(c)) * k / 255).unwrap_or(u8::MAX))
            })
            .collect(),
        other => return Err(fail(format!("{other} colour channels"))),
    };
    Ok(RgbImage::from_raw(width, height, pixels).expect("width × height × 3 samples"))
}
