//! Boxes and embeddings match Python InsightFace on the fixture photos.
//!
//! The reference numbers come from `scripts/insightface_reference.py` (insightface +
//! onnxruntime from PyPI, the same model files) and are checked in as JSON.

use crate::util::{cosine, iou};

#[test]
fn detections_and_embeddings_match_insightface() {
    let _guard = crate::util::MODELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reference = crate::util::reference("insightface_buffalo_s.json");
    let mut analyzer = crate::util::analyzer();
    let (mut worst_iou, mut worst_cos) = (1.0f32, 1.0f32);
    let mut compared = 0;
    for image in &reference.images {
        let faces = analyzer.analyze(&crate::util::load(&image.file)).unwrap();
        assert_eq!(faces.len(), image.faces.len(), "{}: face count", image.file);
        for expected in &image.faces {
            let best = faces
                .iter()
                .max_by(|a, b| {
                    iou(a.detection.bbox, expected.bbox)
                        .total_cmp(&iou(b.detection.bbox, expected.bbox))
                })
                .unwrap();
            let box_iou = iou(best.detection.bbox, expected.bbox);
            let cos = cosine(&best.embedding, &expected.embedding);
            println!("{}: IoU {box_iou:.4}, cosine {cos:.5}", image.file);
            // What the README claims (worst measured: IoU 0.9957, cosine 0.9977).
            assert!(box_iou >= 0.995, "{}: IoU {box_iou} < 0.995", image.file);
            assert!(cos >= 0.997, "{}: cosine {cos} < 0.997", image.file);
            worst_iou = worst_iou.min(box_iou);
            worst_cos = worst_cos.min(cos);
            compared += 1;
        }
    }
    println!("{compared} faces compared; worst IoU {worst_iou:.4}, worst cosine {worst_cos:.5}");
    assert!(compared >= 12);
}

/// The face-size bands in which `embed`'s own pipeline differs from InsightFace by
/// design: under 64 px the detector's box gets a second, closer look; from 224 px (twice
/// the 112-pixel crop) the face is shrunk by area averaging before it is aligned.
const BANDS: [(&str, f32, f32); 3] = [
    ("small (< 64 px)", 0.0, 64.0),
    ("mid (64-224 px)", 64.0, 224.0),
    ("large (>= 224 px)", 224.0, f32::INFINITY),
];

#[test]
fn the_embed_pipeline_matches_insightface_within_each_face_size_band() {
    let _guard = crate::util::MODELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reference = crate::util::reference("insightface_buffalo_s.json");
    let tmp = tempfile::tempdir().unwrap();
    let mut cache = fs_cache::Cache::open(tmp.path().join("fixtures.fsc")).unwrap();
    let mut analyzer = crate::util::analyzer();
    let summary = fs_embedder::pipeline::embed(
        &[fs_embedder::pipeline::Source::Tree(fs_fixtures::images())],
        &mut cache,
        &mut analyzer,
        &fs_embedder::pipeline::EmbedOptions::default(),
        &fs_progress::Silent,
    )
    .unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    // (IoU, cosine) of every reference face, by band.
    let mut bands: Vec<Vec<(f32, f32)>> = vec![Vec::new(); BANDS.len()];
    for image in &reference.images {
        let record = cache
            .images()
            .find(|r| r.all_paths().any(|p| p.ends_with(&image.file)))
            .unwrap_or_else(|| panic!("{} is not in the cache", image.file));
        assert_eq!(record.faces().len(), image.faces.len(), "{}", image.file);
        for expected in &image.faces {
            let best = record
                .faces()
                .iter()
                .max_by(|a, b| iou(a.bbox, expected.bbox).total_cmp(&iou(b.bbox, expected.bbox)))
                .unwrap();
            let side =
                (expected.bbox[2] - expected.bbox[0]).min(expected.bbox[3] - expected.bbox[1]);
            let band = BANDS
                .iter()
                .position(|(_, lo, hi)| side >= *lo && side < *hi)
                .unwrap();
            let pair = (
                iou(best.bbox, expected.bbox),
                cosine(best.embedding.unit(), &expected.embedding),
            );
            println!(
                "{} ({side:.0} px): IoU {:.4}, cosine {:.5}",
                image.file, pair.0, pair.1
            );
            bands[band].push(pair);
        }
    }
    // What the README states per band (the fixtures' worst, rounded down).
    let bounds = [(0.99, 0.999), (0.998, 0.9995), (0.98, 0.97)];
    for (((name, ..), faces), (min_iou, min_cos)) in BANDS.iter().zip(&bands).zip(bounds) {
        assert!(!faces.is_empty(), "no fixture face is {name}");
        let worst_iou = faces.iter().map(|f| f.0).fold(1.0, f32::min);
        let worst_cos = faces.iter().map(|f| f.1).fold(1.0, f32::min);
        println!(
            "{name}: {} faces, worst IoU {worst_iou:.4}, worst cosine {worst_cos:.5}",
            faces.len()
        );
        assert!(worst_iou >= min_iou, "{name}: IoU {worst_iou} < {min_iou}");
        assert!(
            worst_cos >= min_cos,
            "{name}: cosine {worst_cos} < {min_cos}"
        );
    }
}
