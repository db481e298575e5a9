//! Thumbnails of faces for the contact sheets: made once, kept on disk, shared by every
//! library (their names are hashes of what they show, so one never goes stale).

use std::path::{Path, PathBuf};

use fs_identities::faces::FaceRow;
use image::RgbImage;

/// Side of a thumbnail, in pixels: the report's and the embed pass's.
pub(crate) const SIDE: u32 = fs_detect::crop::THUMB_SIDE;

/// Bumped when thumbnails are made differently, so old ones are not shown.
const RECIPE: &str = "thumb-v1";

/// Where a face's pixels come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A crop the library exported (a PNG in an identity's folder or `_candidates/`).
    Crop(PathBuf),
    /// A face with no crop of its own (dropped by the gates, a singleton): cropped from
    /// its photo, which is only read.
    Photo {
        /// The face.
        face: FaceRow,
        /// The boxes of the photo's other faces, masked out of the crop.
        others: Vec<[f32; 4]>,
        /// The photo's size, upright, as the cache recorded it (0 when unknown).
        size: (u32, u32),
    },
}

impl Source {
    /// The thumbnail's file name: a hash of what it shows. A crop is named by its
    /// path, length and modification time (an export that changes it changes them); a
    /// face from a photo by its key, which holds the photo's content hash. Also what a
    /// browser's copy is checked against.
    pub(crate) fn file_name(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(RECIPE.as_bytes());
        match self {
            Source::Crop(path) => {
                hasher.update(b"crop\0");
                hasher.update(path.as_os_str().as_encoded_bytes());
                if let Ok(meta) = std::fs::metadata(path) {
                    hasher.update(&meta.len().to_le_bytes());
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    hasher.update(&modified.to_le_bytes());
                }
            }
            Source::Photo { face, .. } => {
                hasher.update(b"photo\0");
                hasher.update(face.key.as_bytes());
            }
        }
        format!("{}.jpg", hasher.finalize().to_hex())
    }
}

/// The thumbnails folder.
#[derive(Clone, Debug)]
pub(crate) struct Thumbnails {
    dir: PathBuf,
}

impl Thumbnails {
    /// Thumbnails kept under `dir` (created when the first is made).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The JPEG thumbnail of `source`: read from disk when it was made before, else
    /// made and kept. `None` when its pixels cannot be read.
    pub(crate) fn get(&self, source: &Source) -> Option<Vec<u8>> {
        let name = source.file_name();
        let path = self.dir.join(&name[..2]).join(&name);
        if let Ok(bytes) = std::fs::read(&path) {
            return Some(bytes);
        }
        let pixels = match source {
            Source::Crop(png) => {
                let bytes = std::fs::read(png).ok()?;
                image::load_from_memory(&bytes).ok()?.to_rgb8()
            }
            Source::Photo { face, others, size } => from_photo(face, others, *size)?,
        };
        let jpeg =
            fs_detect::crop::thumbnail_jpeg(&image::imageops::thumbnail(&pixels, SIDE, SIDE))
                .ok()?;
        // A thumbnail that cannot be kept is still shown.
        if let Err(e) = keep(&path, &jpeg) {
            tracing::debug!("thumbnail not kept at {}: {e}", path.display());
        }
        Some(jpeg)
    }
}

/// The face of `face` cropped from its photo, decoded only as finely as the thumbnail
/// needs (a 12-MP JPEG is decoded at 1/8 for a face of 400 px).
fn from_photo(face: &FaceRow, others: &[[f32; 4]], size: (u32, u32)) -> Option<RgbImage> {
    let paths = face.paths.iter().chain([&face.path]);
    let source = fs_export::swap::CropSource::decode(paths, size, face.bbox, others, SIDE).ok()?;
    Some(source.crop(fs_detect::crop::THUMB_PAD, SIDE))
}

/// Writes `bytes` at `path` through a temporary file, so a reader never sees half.
fn keep(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a thumbnail lies in a folder");
    std::fs::create_dir_all(dir)?;
    // A thumbnail can be made again: no sync per file.
    fs_cache::atomic::replace(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(dir: &Path) -> FaceRow {
        // A gradient stands in for a photo: only the geometry matters here.
        let byte = |v: u32| u8::try_from(v % 256).expect("below 256");
        let image = RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([byte(x / 7), byte(y / 5), byte((x + y) / 11)])
        });
        let path = dir.join("photo.jpg");
        image.save(&path).unwrap();
        FaceRow {
            key: "00ff:0".into(),
            path: path.clone(),
            paths: vec![path],
            bbox: [600.0, 400.0, 1000.0, 900.0],
            det_score: 0.9,
            sharpness: None,
        }
    }

    #[test]
    fn a_thumbnail_is_made_once_and_then_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let face = photo(tmp.path());
        let thumbs = Thumbnails::new(tmp.path().join("thumbs"));
        let source = Source::Photo {
            face,
            others: Vec::new(),
            size: (1600, 1200),
        };
        let first = thumbs.get(&source).expect("made");
        let made = image::load_from_memory(&first).unwrap();
        assert_eq!((made.width(), made.height()), (SIDE, SIDE));
        let kept: Vec<_> = walk(&tmp.path().join("thumbs"));
        assert_eq!(kept.len(), 1, "{kept:?}");
        // Read back, not made again: change the kept file and see the change.
        std::fs::write(&kept[0], b"kept").unwrap();
        assert_eq!(thumbs.get(&source).unwrap(), b"kept");
    }

    #[test]
    fn a_changed_crop_gets_a_new_thumbnail() {
        let tmp = tempfile::tempdir().unwrap();
        let png = tmp.path().join("crop.png");
        RgbImage::from_pixel(512, 512, image::Rgb([200, 10, 10]))
            .save(&png)
            .unwrap();
        let thumbs = Thumbnails::new(tmp.path().join("thumbs"));
        let red = thumbs.get(&Source::Crop(png.clone())).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        RgbImage::from_pixel(256, 256, image::Rgb([10, 10, 200]))
            .save(&png)
            .unwrap();
        let blue = thumbs.get(&Source::Crop(png)).unwrap();
        let pixel = |jpeg: &[u8]| image::load_from_memory(jpeg).unwrap().to_rgb8()[(64, 64)];
        assert!(pixel(&red)[0] > 150, "{:?}", pixel(&red));
        assert!(pixel(&blue)[2] > 150, "{:?}", pixel(&blue));
        assert_eq!(walk(&tmp.path().join("thumbs")).len(), 2);
    }

    #[test]
    fn a_face_from_a_photo_is_cropped_where_its_box_is() {
        let tmp = tempfile::tempdir().unwrap();
        let mut face = photo(tmp.path());
        // A white square where the face is, on black.
        let mut image = RgbImage::new(1600, 1200);
        for y in 400..900 {
            for x in 600..1000 {
                image.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        image.save(&face.path).unwrap();
        face.key = "00fe:0".into();
        let crop = from_photo(&face, &[], (1600, 1200)).unwrap();
        assert_eq!(crop.width(), SIDE);
        let centre = crop[(SIDE / 2, SIDE / 2)];
        let corner = crop[(2, 2)];
        assert!(centre[0] > 200, "{centre:?}");
        assert!(corner[0] < 60, "{corner:?}");
    }

    #[test]
    fn an_unreadable_photo_gives_no_thumbnail() {
        let tmp = tempfile::tempdir().unwrap();
        let mut face = photo(tmp.path());
        std::fs::write(&face.path, b"not a photo").unwrap();
        face.paths = vec![face.path.clone()];
        let thumbs = Thumbnails::new(tmp.path().join("thumbs"));
        let source = Source::Photo {
            face,
            others: Vec::new(),
            size: (1600, 1200),
        };
        assert!(thumbs.get(&source).is_none());
        assert!(walk(&tmp.path().join("thumbs")).is_empty());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .flat_map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    vec![e.path()]
                }
            })
            .collect()
    }
}
