//! Shared by the integration tests: the real runtime and models, and the fixtures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use fs_embedder::pipeline::FaceAnalyzer;
use fs_packs::ModelPack;

/// Loads ONNX Runtime and the `buffalo_s` pack, or fails with the command that installs them.
pub(crate) fn pack() -> ModelPack {
    pack_named("buffalo_s")
}

/// Loads ONNX Runtime and the installed pack `name`, or fails with the command that
/// installs them.
pub(crate) fn pack_named(name: &str) -> ModelPack {
    let loc = fs_fixtures::locations();
    fs_detect::runtime::init(&loc.runtime).unwrap_or_else(|e| {
        panic!("{e}\n(the tests need the real runtime and models: run `cargo xtask setup`)")
    });
    ModelPack::from_dir(loc.models.join(name))
        .unwrap_or_else(|e| panic!("{e}\n(run `cargo xtask setup`)"))
}

pub(crate) fn analyzer() -> FaceAnalyzer {
    analyzer_of("buffalo_s")
}

pub(crate) fn analyzer_of(pack: &str) -> FaceAnalyzer {
    FaceAnalyzer::new(&pack_named(pack), 640, 2).expect("models load")
}

/// ONNX Runtime sessions are heavy; tests that build one take turns.
pub(crate) static MODELS: Mutex<()> = Mutex::new(());

pub(crate) fn fixture(name: &str) -> PathBuf {
    fs_fixtures::dir().join("images").join(name)
}

/// `(file, identity)` from labels.csv; identity is empty for no-face, `multi` for groups.
pub(crate) fn labels() -> Vec<(String, String)> {
    fs_fixtures::labels(&fs_fixtures::dir())
        .unwrap()
        .into_iter()
        .collect()
}

pub(crate) fn load(name: &str) -> image::RgbImage {
    fs_detect::decode::decode_image(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

pub(crate) fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// A reference file of `fixtures/reference/`, written by a Python script running the
/// models' own implementation (InsightFace, OpenCV) on the fixture photos.
#[derive(serde::Deserialize)]
pub(crate) struct Reference {
    /// Model file name → its SHA-256.
    pub(crate) models: BTreeMap<String, String>,
    pub(crate) images: Vec<RefImage>,
}

#[derive(serde::Deserialize)]
pub(crate) struct RefImage {
    pub(crate) file: String,
    pub(crate) faces: Vec<RefFace>,
}

#[derive(serde::Deserialize)]
pub(crate) struct RefFace {
    pub(crate) bbox: [f32; 4],
    pub(crate) kps: [[f32; 2]; 5],
    pub(crate) det_score: f32,
    /// Normalised.
    pub(crate) embedding: Vec<f32>,
}

/// `fixtures/reference/<name>`.
pub(crate) fn reference(name: &str) -> Reference {
    serde_json::from_str(
        &std::fs::read_to_string(fs_fixtures::dir().join("reference").join(name)).unwrap(),
    )
    .unwrap()
}
