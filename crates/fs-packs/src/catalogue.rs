//! The model files this project knows by name, and the checksums they are pinned to.

/// The pack of new caches when none is named.
pub const DEFAULT_PACK: &str = "buffalo_s";

/// What a model file does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// SCRFD face detector with keypoints.
    Detector,
    /// ArcFace recogniser (512-d embedding).
    Recognizer,
    /// 106-point 2D landmarks (`2d106det`).
    Landmarks2d106,
    /// 68-point 3D landmarks and pose (`1k3d68`).
    Landmarks3d68,
}

/// A model file this project knows by name.
#[derive(Clone, Copy, Debug)]
pub struct KnownModel {
    /// Pack it belongs to (`buffalo_s` or `buffalo_l`).
    pub pack: &'static str,
    /// File name inside the pack directory.
    pub file: &'static str,
    /// Its role.
    pub role: Role,
    /// Pinned SHA-256, where the project has verified the file. `buffalo_l` cannot be
    /// obtained on the machines this project is tested on, so its files are pinned on
    /// first install instead (see `SHA256SUMS` in the pack directory).
    pub sha256: Option<&'static str>,
}

/// Every model file by name. Earlier entries of a role are preferred within a pack.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        pack: "buffalo_s",
        file: "scrfd_500m_bnkps.onnx",
        role: Role::Detector,
        sha256: Some("a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "det_500m.onnx",
        role: Role::Detector,
        sha256: Some("5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "w600k_mbf.onnx",
        role: Role::Recognizer,
        sha256: Some("9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "2d106det.onnx",
        role: Role::Landmarks2d106,
        sha256: Some("f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf"),
    },
    KnownModel {
        pack: "buffalo_l",
        file: "det_10g.onnx",
        role: Role::Detector,
        sha256: None,
    },
    KnownModel {
        pack: "buffalo_l",
        file: "w600k_r50.onnx",
        role: Role::Recognizer,
        sha256: None,
    },
    KnownModel {
        pack: "buffalo_l",
        file: "2d106det.onnx",
        role: Role::Landmarks2d106,
        sha256: Some("f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf"),
    },
    KnownModel {
        pack: "buffalo_l",
        file: "1k3d68.onnx",
        role: Role::Landmarks3d68,
        sha256: None,
    },
];

/// The pinned checksum of a pack's file, if the project pins it.
pub fn pinned_sha256(pack: &str, file: &str) -> Option<&'static str> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.pack == pack && m.file == file)
        .and_then(|m| m.sha256)
}
