//! Boxes and embeddings match Python InsightFace on the fixture photos.
//!
//! The reference numbers come from `scripts/insightface_reference.py` (insightface +
//! onnxruntime from PyPI, the same model files) and are checked in as JSON.

mod common;

use common::{cosine, iou};

#[test]
fn detections_and_embeddings_match_insightface() {
    let _guard = common::MODELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reference = common::reference("insightface_buffalo_s.json");
    let mut analyzer = common::analyzer();
    let (mut worst_iou, mut worst_cos) = (1.0f32, 1.0f32);
    let mut compared = 0;
    for image in &reference.images {
        let faces = analyzer.analyze(&common::load(&image.file)).unwrap();
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
