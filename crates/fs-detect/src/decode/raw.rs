//! Camera RAW files through the JPEG preview the camera embeds.
//!
//! Every common RAW format (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF, PEF, …) carries a
//! full- or near-full-size JPEG of the picture as the camera rendered it, which is all
//! a face needs; demosaicing the sensor data would cost seconds a photo for nothing.
//! Rather than one parser per maker, the file is searched for embedded JPEG streams
//! (`FF D8 FF`, walked marker by marker to their `FF D9`) and the largest one with a
//! baseline or progressive frame is decoded. Lossless JPEG (the sensor data of DNG and
//! CR2) is passed over. The preview's own EXIF orientation applies, else the RAW
//! container's (IFD0 of a TIFF-based RAW).

use image::RgbImage;
use image::metadata::Orientation;

use super::{Format, check_size};
use crate::error::{Error, Result};

/// File extensions (lower case) read as camera RAW.
pub const EXTENSIONS: &[&str] = &[
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2", "raf", "pef",
    "srw", "3fr", "erf", "kdc", "mrw", "iiq",
];

/// Candidates looked at in one file; a RAW holds a handful of JPEGs (thumbnail,
/// preview, sometimes a mid-size one), never hundreds.
const MAX_CANDIDATES: usize = 256;

/// An embedded JPEG stream: where it lies and its frame size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Byte range in the file.
    pub start: usize,
    /// One past its `FF D9`.
    pub end: usize,
    /// Frame width.
    pub width: u16,
    /// Frame height.
    pub height: u16,
}

/// The largest embedded baseline or progressive JPEG in `bytes`.
pub fn largest_preview(bytes: &[u8]) -> Option<Preview> {
    let mut best: Option<Preview> = None;
    let mut from = 0;
    for _ in 0..MAX_CANDIDATES {
        let Some(offset) = bytes[from..]
            .windows(3)
            .position(|w| w == [0xFF, 0xD8, 0xFF])
        else {
            break;
        };
        let start = from + offset;
        if let Some(found) = walk_jpeg(bytes, start) {
            let area = |p: &Preview| u32::from(p.width) * u32::from(p.height);
            if best.is_none_or(|b| area(&found) > area(&b)) {
                best = Some(found);
            }
            // A stream nested in this one (an EXIF thumbnail) is smaller: skip it.
            from = found.end;
        } else {
            from = start + 2;
        }
    }
    best
}

/// Walks a JPEG stream from its SOI at `start`: marker segments, then entropy-coded
/// data up to the next marker, until EOI. `None` for anything that is not a complete
/// baseline or progressive JPEG.
fn walk_jpeg(bytes: &[u8], start: usize) -> Option<Preview> {
    let mut at = start + 2;
    let mut size = None;
    loop {
        // Markers may be preceded by fill bytes (FF).
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            0xD9 => {
                let (width, height) = size?;
                return Some(Preview {
                    start,
                    end: at + 2,
                    width,
                    height,
                });
            }
            0xD0..=0xD7 | 0x01 => {
                at += 2;
                continue;
            }
            0x00 | 0xD8 => return None,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        if length < 2 {
            return None;
        }
        let segment = bytes.get(at + 4..at + 2 + length)?;
        match marker {
            // Baseline, extended and progressive Huffman frames.
            0xC0..=0xC2 => {
                let height = u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]);
                let width = u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]);
                if width == 0 || height == 0 {
                    return None;
                }
                size = Some((width, height));
            }
            // Lossless, hierarchical or arithmetic-coded frames: not a preview.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            _ => {}
        }
        at += 2 + length;
        if marker == 0xDA {
            // Entropy-coded data: up to the next FF not followed by 00 or a restart.
            loop {
                let next = bytes[at..].iter().position(|&b| b == 0xFF)?;
                at += next;
                match *bytes.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => at += 2,
                    _ => break,
                }
            }
        }
    }
}

/// Decodes the largest embedded preview of a RAW file, upright.
pub(super) fn decode_preview(bytes: &[u8]) -> Result<RgbImage> {
    let preview = largest_preview(bytes).ok_or_else(|| Error::Format {
        format: Format::Raw.name(),
        message: "no embedded JPEG preview found (this RAW file has none this program can read)"
            .into(),
    })?;
    check_size(Format::Raw, preview.width.into(), preview.height.into())?;
    let container = Orientation::from_exif_chunk(bytes).unwrap_or(Orientation::NoTransforms);
    super::decode_with_image_oriented(&bytes[preview.start..preview.end], container).map_err(|e| {
        Error::Format {
            format: Format::Raw.name(),
            message: format!("its embedded preview: {e}"),
        }
    })
}

#[cfg(test)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "test values: exact copies compared, small counts cast"
)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    /// A little-endian TIFF whose IFD0 holds only an orientation, then `blobs`.
    fn tiff_with(orientation: u16, blobs: &[&[u8]]) -> Vec<u8> {
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&274u16.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&u32::from(orientation).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for blob in blobs {
            out.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD8, 0x00]); // noise, a false SOI
            out.extend_from_slice(blob);
        }
        out
    }

    #[test]
    fn the_largest_complete_preview_is_found_among_noise_and_thumbnails() {
        let (thumb, big) = (jpeg(32, 24), jpeg(160, 120));
        let file = tiff_with(1, &[&thumb, &big, &thumb]);
        let p = largest_preview(&file).unwrap();
        assert_eq!((p.width, p.height), (160, 120));
        assert_eq!(&file[p.start..p.end], &big[..]);
        let image = decode_preview(&file).unwrap();
        assert_eq!(image.dimensions(), (160, 120));
    }

    #[test]
    fn the_containers_orientation_turns_the_preview_upright() {
        let file = tiff_with(6, &[&jpeg(160, 120)]);
        assert_eq!(decode_preview(&file).unwrap().dimensions(), (120, 160));
    }

    #[test]
    fn a_truncated_preview_or_none_at_all_is_an_error() {
        let big = jpeg(160, 120);
        let file = tiff_with(1, &[&big[..big.len() - 40]]);
        assert!(largest_preview(&file).is_none());
        let err = decode_preview(&file).unwrap_err().to_string();
        assert!(err.contains("no embedded JPEG preview"), "{err}");
        assert!(decode_preview(b"").is_err());
    }
}
