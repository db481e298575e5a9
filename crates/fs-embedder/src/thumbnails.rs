//! Contact-sheet thumbnails of faces, cut by the embed pass from the image it has
//! already decoded, so a report or review page has no photo to decode again.
//!
//! One JPEG per face ([`fs_detect::crop::face_thumbnail`]), named by its face key
//! ([`path`]), and one of each whole photo ([`photo`]), named by its content hash
//! ([`photo_path`]). They can always be made again from the photo: they are written through a
//! temporary file (a reader never sees half of one) but not synced.

use std::path::{Path, PathBuf};

use fs_cache::{ContentHash, FaceKey};
use fs_detect::crop::{THUMB_SIDE, face_thumbnail, thumbnail_jpeg};
use image::RgbImage;

/// Longer side of a whole photo's thumbnail.
pub const PHOTO_SIDE: u32 = THUMB_SIDE * 5 / 4;

/// The file name of the thumbnail of `key`.
pub fn file_name(key: &FaceKey) -> String {
    format!("face_{}_{}.jpg", key.hash, key.index)
}

/// The file name of the thumbnail of the whole photo `hash`.
pub fn photo_file_name(hash: &ContentHash) -> String {
    format!("image_{hash}.jpg")
}

/// Where the thumbnail of `key` lies in the folder `dir`.
pub fn path(dir: &Path, key: &FaceKey) -> PathBuf {
    dir.join(file_name(key))
}

/// Where the thumbnail of the whole photo `hash` lies in the folder `dir`.
pub fn photo_path(dir: &Path, hash: &ContentHash) -> PathBuf {
    dir.join(photo_file_name(hash))
}

/// The thumbnail of a whole photo (any decoded size of it): its longer side
/// [`PHOTO_SIDE`], its shape kept.
pub fn photo(image: &RgbImage) -> image::ImageResult<Vec<u8>> {
    let (w, h) = image.dimensions();
    let long = w.max(h).max(1);
    let fit = |side: u32| {
        u32::try_from(u64::from(side) * u64::from(PHOTO_SIDE) / u64::from(long))
            .unwrap_or(PHOTO_SIDE)
            .max(1)
    };
    let small = if long > PHOTO_SIDE {
        fs_detect::decode::resize_lanczos(image, fit(w), fit(h))
    } else {
        image.clone()
    };
    thumbnail_jpeg(&small)
}

/// The thumbnails of the faces at `boxes` in `image` (in its coordinates), each with
/// the others kept out, as JPEGs in box order (`None` where one cannot be encoded).
pub fn cut(image: &RgbImage, boxes: &[[f32; 4]]) -> Vec<Option<Vec<u8>>> {
    (0..boxes.len()).map(|i| cut_one(image, boxes, i)).collect()
}

/// The thumbnail of the face at `boxes[face]` in `image`, the other boxes kept out.
pub fn cut_one(image: &RgbImage, boxes: &[[f32; 4]], face: usize) -> Option<Vec<u8>> {
    let others: Vec<[f32; 4]> = boxes
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != face)
        .map(|(_, b)| *b)
        .collect();
    thumbnail_jpeg(&face_thumbnail(image, *boxes.get(face)?, &others)).ok()
}

/// Writes `jpeg` as the thumbnail of `key` in `dir` (created when missing).
pub fn write(dir: &Path, key: &FaceKey, jpeg: &[u8]) -> std::io::Result<()> {
    keep(&path(dir, key), jpeg)
}

/// Writes `jpeg` as the thumbnail of the whole photo `hash` in `dir`.
pub fn write_photo(dir: &Path, hash: &ContentHash, jpeg: &[u8]) -> std::io::Result<()> {
    keep(&photo_path(dir, hash), jpeg)
}

fn keep(path: &Path, jpeg: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("a thumbnail lies in a folder"))?;
    fs_cache::atomic::replace(path, jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_thumbnail_keeps_the_photos_shape() {
        let wide = RgbImage::from_pixel(640, 360, image::Rgb([10, 200, 30]));
        let jpeg = photo(&wide).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (PHOTO_SIDE, 90));
        // A photo already smaller is kept at its size.
        let small = RgbImage::from_pixel(100, 150, image::Rgb([0, 0, 0]));
        let back = image::load_from_memory(&photo(&small).unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (100, 150));
    }

    #[test]
    fn each_face_is_cut_with_the_others_kept_out_and_written_by_key() {
        // Two faces side by side: red on the left, blue on the right.
        let image = RgbImage::from_fn(400, 200, |x, _| {
            image::Rgb(if x < 200 {
                [220, 10, 10]
            } else {
                [10, 10, 220]
            })
        });
        let boxes = [[60.0, 50.0, 140.0, 150.0], [150.0, 50.0, 230.0, 150.0]];
        let jpegs = cut(&image, &boxes);
        assert_eq!(jpegs.len(), 2);
        let left = image::load_from_memory(jpegs[0].as_ref().unwrap())
            .unwrap()
            .to_rgb8();
        // The neighbour's blue is masked out of the first face's thumbnail.
        assert!(left.pixels().all(|p| !(p.0[2] > 150 && p.0[0] < 60)));
        let dir = tempfile::tempdir().unwrap();
        let key = FaceKey {
            hash: ContentHash([7; 32]),
            index: 1,
        };
        write(dir.path(), &key, jpegs[1].as_ref().unwrap()).unwrap();
        assert_eq!(
            std::fs::read(path(dir.path(), &key)).unwrap(),
            *jpegs[1].as_ref().unwrap()
        );
    }
}
