//! Inputs shaped like real ones, for tests and benchmarks: camera-size photos made from
//! small real ones, and a library of 50,000 faces ([`library`]).
//!
//! Phones write 12-megapixel JPEGs (4032×3024). The fixture photos are web-sized, and a
//! 250-pixel photo hides what a real library costs: decoding a 12-MP JPEG takes longer
//! than detecting and embedding its faces. [`camera_photo`] scales a fixture up to that
//! size, [`Framing::Fill`] as a portrait (the face large) or [`Framing::Distant`] at its
//! own size in the middle of the frame (faces of 60–200 pixels, as in a group shot), and
//! adds sensor-like noise: a smooth upscale would compress to a fifth of a real photo's
//! bytes and decode far faster than one.

#![warn(missing_docs)]

pub mod library;
#[cfg(feature = "library")]
pub mod review;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{RgbImage, codecs::jpeg::JpegEncoder};

/// The repository's `fixtures/` folder: real photos, their labels and licences.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The fixture photos, `fixtures/images/`.
pub fn images() -> PathBuf {
    dir().join("images")
}

/// The headless Chromium on this machine (`chromium`, `chromium-browser` or
/// `google-chrome`, the first that answers `--version`), for tests and benchmarks that
/// load a page.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// A phone's main camera: 12 megapixels, 4:3.
pub const CAMERA_SIZE: (u32, u32) = (4032, 3024);

/// How a fixture fills the camera frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Scaled up to cover the frame (cropped to 4:3): a portrait, faces hundreds of
    /// pixels wide.
    Fill,
    /// At its own size, centred on a textured background: a distant shot whose faces
    /// are small in a large frame.
    Distant,
}

/// `source` made into a camera-size photo (landscape or portrait as `source` is),
/// with noise drawn from `seed` (so copies differ in every byte, not just in name).
pub fn camera_photo(source: &RgbImage, framing: Framing, seed: u64) -> RgbImage {
    let (long, short) = CAMERA_SIZE;
    let (w, h) = if source.width() >= source.height() {
        (long, short)
    } else {
        (short, long)
    };
    let mut noise = Noise(seed | 1);
    let mut frame = match framing {
        Framing::Fill => {
            let cover = (f64::from(w) / f64::from(source.width()))
                .max(f64::from(h) / f64::from(source.height()));
            let (sw, sh) = (
                scaled(source.width(), cover),
                scaled(source.height(), cover),
            );
            let big = fs_detect::decode::resize_lanczos(source, sw, sh);
            image::imageops::crop_imm(&big, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
        }
        Framing::Distant => {
            let mut frame = RgbImage::from_fn(w, h, |x, y| {
                let g = u8::try_from((x / 16 + y / 24) % 64 + 96).expect("below 256");
                image::Rgb([g, g.saturating_sub(10), g.saturating_add(12)])
            });
            let (x, y) = (
                (w.saturating_sub(source.width())) / 2,
                (h.saturating_sub(source.height())) / 2,
            );
            image::imageops::replace(&mut frame, source, i64::from(x), i64::from(y));
            frame
        }
    };
    for pixel in frame.pixels_mut() {
        for channel in &mut pixel.0 {
            *channel = channel.saturating_add_signed(noise.next_offset());
        }
    }
    frame
}

/// `file name → identity` from `labels.csv` in the `fixtures` folder: an empty identity
/// for a photo with no face, `multi` for a group photo.
pub fn labels(fixtures: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let path = fixtures.join("labels.csv");
    std::fs::read_to_string(&path)?
        .lines()
        .skip(1)
        .map(|line| {
            let (file, identity) = line.split_once(',').ok_or_else(|| {
                std::io::Error::other(format!("{}: no comma in {line:?}", path.display()))
            })?;
            Ok((
                file.trim_start_matches("images/").to_string(),
                identity.to_string(),
            ))
        })
        .collect()
}

/// `image` as a JPEG of the quality phones use.
pub fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut out), 90)
        .encode_image(image)
        .expect("encoding into memory");
    out
}

/// Writes camera-size JPEGs of every photo in `fixtures` that `has_face` accepts, in
/// both framings and `copies` noise-distinct copies each, into `out`. Returns the files.
pub fn write_camera_set(
    fixtures: &Path,
    out: &Path,
    copies: u64,
    has_face: impl Fn(&Path) -> bool,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(fixtures)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sources.sort();
    let mut written = Vec::new();
    for (index, path) in sources.iter().filter(|p| has_face(p)).enumerate() {
        let bytes = std::fs::read(path)?;
        let source = fs_detect::decode::decode_image(&bytes)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        for (framing, tag) in [(Framing::Fill, "fill"), (Framing::Distant, "distant")] {
            for copy in 0..copies {
                let seed = (index as u64) << 32 | copy << 1 | u64::from(framing == Framing::Fill);
                let file = out.join(format!("{stem}_{tag}_{copy}.jpg"));
                std::fs::write(&file, jpeg(&camera_photo(&source, framing, seed)))?;
                written.push(file);
            }
        }
    }
    Ok(written)
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a side in pixels"
)]
fn scaled(side: u32, by: f64) -> u32 {
    (f64::from(side) * by).ceil() as u32
}

/// xorshift64: cheap, deterministic, and plenty for noise.
struct Noise(u64);

impl Noise {
    /// An offset in −4..=4, roughly bell-shaped (the sum of two uniform draws), like a
    /// phone sensor's noise at base ISO after its denoiser.
    fn next_offset(&mut self) -> i8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let a = i8::try_from(self.0 % 7).expect("below 7") - 3;
        let b = i8::try_from((self.0 >> 8) % 3).expect("below 3") - 1;
        a + b
    }
}

/// Where the tests find the runtime and the models: what the `face-sets` binary would
/// use in this process (its variables, else the defaults). The harness is part of each
/// test binary, so it reads the environment as the binary does.
pub fn locations() -> fs_packs::Locations {
    use fs_packs::locations::{MODELS_VARIABLE, RUNTIME_VARIABLE};
    fs_packs::Locations::with_overrides(
        std::env::var_os(MODELS_VARIABLE),
        std::env::var_os(RUNTIME_VARIABLE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_photos_are_twelve_megapixels_in_the_source_orientation() {
        let wide = RgbImage::from_pixel(300, 200, image::Rgb([120, 90, 60]));
        let tall = RgbImage::from_pixel(200, 300, image::Rgb([120, 90, 60]));
        for framing in [Framing::Fill, Framing::Distant] {
            assert_eq!(camera_photo(&wide, framing, 1).dimensions(), (4032, 3024));
            assert_eq!(camera_photo(&tall, framing, 1).dimensions(), (3024, 4032));
        }
    }

    #[test]
    fn distant_keeps_the_source_at_its_own_size_in_the_middle() {
        let source = RgbImage::from_pixel(100, 80, image::Rgb([250, 0, 0]));
        let frame = camera_photo(&source, Framing::Distant, 7);
        let centre = frame.get_pixel(2016, 1512).0;
        assert!(centre[0] > 240 && centre[1] < 10, "red centre: {centre:?}");
        let outside = frame.get_pixel(2016 - 60, 1512).0;
        assert!(outside[0] < 200, "background beside it: {outside:?}");
    }

    #[test]
    fn copies_differ_and_noise_stays_small() {
        let source = RgbImage::from_pixel(40, 30, image::Rgb([128, 128, 128]));
        let a = camera_photo(&source, Framing::Fill, 1);
        let b = camera_photo(&source, Framing::Fill, 2);
        assert_ne!(a, b);
        assert!(
            a.pixels()
                .all(|p| p.0.iter().all(|&c| (124..=132).contains(&c)))
        );
    }
}
