//! The `yunet_sface` pack matches OpenCV's own `FaceDetectorYN` and `FaceRecognizerSF`
//! on the fixture photos.
//!
//! The reference comes from `scripts/opencv_reference.py` (opencv-python-headless from
//! PyPI, the same model files, the photo fitted into 640×640 as face-sets does) and is
//! checked in as JSON.

use crate::util::{cosine, iou};
use fs_embedder::align::align_face;
use fs_packs::ModelPack;

const REFERENCE: &str = "opencv_yunet_sface.json";
#[test]
fn the_reference_was_made_with_the_installed_files() {
    let pack: ModelPack = crate::util::pack_named("yunet_sface");
    let reference = crate::util::reference(REFERENCE);
    let id = pack.model_id(128).unwrap();
    assert_eq!(
        reference.models.get(&id.detector),
        Some(&id.detector_sha256)
    );
    assert_eq!(
        reference.models.get(&id.recognizer),
        Some(&id.recognizer_sha256)
    );
}

#[test]
fn yunet_boxes_and_sface_embeddings_match_opencv() {
    let _guard = crate::util::MODELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reference = crate::util::reference(REFERENCE);
    let mut analyzer = crate::util::analyzer_of("yunet_sface");
    assert_eq!(analyzer.detector().kind(), fs_detect::DetectorKind::YuNet);
    let (mut worst_iou, mut worst_cos, mut worst_own_kps_cos) = (1.0f32, 1.0f32, 1.0f32);
    let mut compared = 0;
    for image in &reference.images {
        let pixels = crate::util::load(&image.file);
        let faces = analyzer.analyze(&pixels).unwrap();
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
            // End to end: our detection, alignment and SFace against OpenCV's.
            let cos = cosine(&best.embedding, &expected.embedding);
            // Alignment and SFace alone: cut at OpenCV's keypoints.
            let crop = align_face(&pixels, &expected.kps);
            let on_their_kps = analyzer.recognizer().embed(&[crop]).unwrap().remove(0);
            let kps_cos = cosine(&on_their_kps, &expected.embedding);
            println!(
                "{}: IoU {box_iou:.4}, score {:.3} vs {:.3}, cosine {cos:.4} (at OpenCV's keypoints {kps_cos:.5})",
                image.file, best.detection.score, expected.det_score
            );
            // The bounds the README and docs/architecture.md state.
            assert!(box_iou >= 0.996, "{}: IoU {box_iou} < 0.996", image.file);
            assert!(cos >= 0.996, "{}: cosine {cos} < 0.996", image.file);
            assert!(
                kps_cos >= 0.9999,
                "{}: cosine {kps_cos} < 0.9999",
                image.file
            );
            assert!(
                (best.detection.score - expected.det_score).abs() <= 0.001,
                "{}: score {} vs OpenCV's {}",
                image.file,
                best.detection.score,
                expected.det_score
            );
            assert_eq!(best.embedding.len(), 128);
            worst_iou = worst_iou.min(box_iou);
            worst_cos = worst_cos.min(cos);
            worst_own_kps_cos = worst_own_kps_cos.min(kps_cos);
            compared += 1;
        }
    }
    println!(
        "{compared} faces compared; worst IoU {worst_iou:.4}, worst cosine {worst_cos:.4}, \
         at OpenCV's keypoints {worst_own_kps_cos:.5}"
    );
    assert!(compared >= 12);
}
