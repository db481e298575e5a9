//! Camera-size photos: a 12-megapixel JPEG is decoded only as finely as detection and
//! alignment need, and that gives the faces and embeddings of the full-size decode.
//!
//! The photos are made at test time from fixtures (`fs-fixtures`): portraits filling a
//! 4032×3024 frame (decoded at 1/4 and aligned from that) and the group photo small in
//! the middle of one (its faces need a finer decode to be aligned).

use std::path::{Path, PathBuf};

use crate::util::{face_sets, fixtures, run, stderr};
use fs_cache::{Cache, Face, ImageOutcome};
use fs_detect::nms::iou;
use fs_fixtures::{Framing, camera_photo, jpeg};

/// Embeds `photos` into a new cache, with `extra` flags, and returns it.
fn embed(photos: &Path, cache: &Path, extra: &[&str]) -> Cache {
    let out = run(face_sets()
        .arg("embed")
        .args(extra)
        .arg(photos)
        .arg(cache)
        .arg("--quiet"));
    assert!(out.status.success(), "{}", stderr(&out));
    Cache::open_read_only(cache).unwrap()
}

/// Faces of each photo, by file name.
fn faces_by_file(cache: &Cache) -> Vec<(String, (u32, u32), Vec<Face>)> {
    let mut all: Vec<_> = cache
        .images()
        .map(|record| {
            let faces = match &record.outcome {
                ImageOutcome::Faces(faces) => faces.clone(),
                ImageOutcome::NoFace => Vec::new(),
                other @ ImageOutcome::DecodeError(_) => {
                    panic!("{}: {other:?}", record.path.display())
                }
            };
            let name = record
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, (record.width, record.height), faces)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn scaled_decoding_finds_the_faces_and_embeddings_of_the_full_decode() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let made: [(&str, Framing); 4] = [
        ("f0002.jpg", Framing::Fill),
        ("f0009.jpg", Framing::Fill),
        ("f0003.png", Framing::Distant),
        ("f0014.jpg", Framing::Distant),
    ];
    for (seed, (name, framing)) in (1..).zip(made) {
        let source = fs_detect::decode::decode_image(
            &std::fs::read(fixtures().join("images").join(name)).unwrap(),
        )
        .unwrap();
        let photo = camera_photo(&source, framing, seed);
        let file: PathBuf = photos.join(format!("{name}.{framing:?}.jpg"));
        std::fs::write(file, jpeg(&photo)).unwrap();
    }

    let scaled = faces_by_file(&embed(&photos, &dir.path().join("scaled.fsc"), &[]));
    let full = faces_by_file(&embed(
        &photos,
        &dir.path().join("full.fsc"),
        &["--full-decode"],
    ));

    assert_eq!(scaled.len(), 4);
    let mut faces = 0;
    for ((name, size, ours), (_, full_size, theirs)) in scaled.iter().zip(&full) {
        assert_eq!(
            size, full_size,
            "{name}: the full size is recorded either way"
        );
        assert!(size.0 * size.1 == 4032 * 3024, "{name}: {size:?}");
        assert_eq!(ours.len(), theirs.len(), "{name}: same faces found");
        assert!(!ours.is_empty(), "{name}: faces found");
        for face in ours {
            let twin = theirs
                .iter()
                .max_by(|a, b| iou(&face.bbox, &a.bbox).total_cmp(&iou(&face.bbox, &b.bbox)))
                .unwrap();
            // The bounds the README states (measured lowest: IoU 0.962, cosine 0.991).
            let overlap = iou(&face.bbox, &twin.bbox);
            assert!(
                overlap >= 0.96,
                "{name}: box {:?} vs {:?}, IoU {overlap:.4}",
                face.bbox,
                twin.bbox
            );
            let cosine = face.embedding.cosine(&twin.embedding);
            assert!(
                cosine >= 0.99,
                "{name}: cosine {cosine:.4} to the full-size embedding"
            );
            faces += 1;
        }
    }
    assert!(faces >= 5, "the group photo's faces count too: {faces}");
}
