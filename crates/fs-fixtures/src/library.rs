//! A library the size of a family's: hundreds of identities, tens of thousands of
//! faces, a few large identities and a long tail of small ones. Only the library's
//! manifest and crop files are made (every crop a hard link to one PNG), so a test can
//! have 50,000 faces in seconds; the photos they name do not exist.

use std::path::Path;

use image::RgbImage;
use serde_json::json;

/// What [`write_large`] made.
#[derive(Clone, Debug)]
pub struct Large {
    /// Each identity's name (`faceset_NNN`) and number of faces, largest first.
    pub identities: Vec<(String, usize)>,
}

impl Large {
    /// Faces in all.
    pub fn faces(&self) -> usize {
        self.identities.iter().map(|(_, n)| n).sum()
    }
}

/// Writes a library of `identities` identities holding `faces` faces in all into
/// `dir` (a `facesets_swap_ready/`): its `manifest.json` (the current format) and one
/// crop file per face. Sizes fall off as in real libraries (identity `i` holds about
/// `1 / (i + 1)^0.8` of the faces), with at least two faces each.
#[expect(
    clippy::cast_precision_loss,
    reason = "counts are far below 2^52; the weights are approximate by nature"
)]
pub fn write_large(dir: &Path, identities: usize, faces: usize) -> std::io::Result<Large> {
    assert!(
        identities > 0 && faces >= 2 * identities,
        "two faces an identity at least"
    );
    std::fs::create_dir_all(dir)?;
    let weights: Vec<f64> = (0..identities)
        .map(|i| 1.0 / ((i + 1) as f64).powf(0.8))
        .collect();
    let total: f64 = weights.iter().sum();
    let spare = faces - 2 * identities;
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| 2 + (w / total * spare as f64) as usize)
        .collect();
    // What rounding left over goes to the largest.
    sizes[0] += faces - sizes.iter().sum::<usize>();

    let template = dir.join(".template.png");
    let byte = |v: u32| u8::try_from(v & 0xff).expect("masked to a byte");
    RgbImage::from_fn(512, 512, |x, y| {
        image::Rgb([byte(x / 2), byte(y / 2), byte(x ^ y)])
    })
    .save(&template)
    .map_err(std::io::Error::other)?;

    let mut entries = Vec::with_capacity(identities);
    let mut serial = 0u64;
    let mut made = Vec::with_capacity(identities);
    for (i, &size) in sizes.iter().enumerate() {
        let name = format!("faceset_{:03}", i + 1);
        let folder = dir.join(&name);
        std::fs::create_dir_all(&folder)?;
        let mut crops = Vec::with_capacity(size);
        for rank in 0..size {
            serial += 1;
            // Distinct in the 16 characters a crop's file is named by.
            let hash = format!(
                "{serial:016x}{:048x}",
                serial.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            );
            let png = format!("{}_0.png", &hash[..16]);
            std::fs::hard_link(&template, folder.join(&png))
                .or_else(|_| std::fs::copy(&template, folder.join(&png)).map(|_| ()))?;
            let quality = 0.9 - 0.5 * rank as f64 / size as f64;
            let photo = format!(
                "/photos/{}/{:04}/IMG_{serial:06}.HEIC",
                2010 + serial % 15,
                serial % 997
            );
            crops.push(json!({
                "rank": rank,
                "png": png,
                "face": {
                    "key": format!("{hash}:0"),
                    "path": photo,
                    "paths": [photo],
                    "bbox": [1000.0, 800.0, 1400.0, 1300.0],
                    "det_score": 0.8,
                    "sharpness": 120.0,
                },
                "quality": {
                    "frontality": quality, "det_score": 0.8, "symmetry": quality,
                    "size": 0.9, "sharpness": quality, "composite": quality,
                },
            }));
        }
        entries.push(json!({
            "name": name,
            "faces": crops,
            "dropped": [],
            "top_bundle": format!("{name}_top30.fsz"),
            "all_bundle": format!("{name}_all.fsz"),
            "mean_quality": 0.65,
            "provenance": {
                "kind": "refined", "label": name, "params": null,
                "created": 1_700_000_000u64, "updated": 1_700_000_000u64,
            },
        }));
        made.push((name, size));
    }
    std::fs::remove_file(&template)?;
    let manifest = json!({
        "version": 3,
        "facesets": entries,
        "thin_eras": [],
        "candidates": [],
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).map_err(std::io::Error::other)?,
    )?;
    Ok(Large { identities: made })
}
