//! The model files this project knows by name, and the checksums they are pinned to.

/// The pack of new caches when none is named.
pub const DEFAULT_PACK: &str = "buffalo_s";

/// What a model file does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Face detector with five keypoints (SCRFD or YuNet).
    Detector,
    /// Recogniser: an aligned 112×112 face in, an embedding out (ArcFace or SFace).
    Recognizer,
    /// 106-point 2D landmarks (`2d106det`).
    Landmarks2d106,
    /// 68-point 3D landmarks and pose (`1k3d68`).
    Landmarks3d68,
}

/// The network family of a model file: what input it wants and what its output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// InsightFace's SCRFD detector.
    Scrfd,
    /// OpenCV's YuNet detector.
    YuNet,
    /// InsightFace's ArcFace recognisers: RGB scaled to `[-1, 1]`, 512-d.
    ArcFace,
    /// OpenCV's SFace recogniser: RGB 0–255, 128-d.
    SFace,
    /// InsightFace's landmark models.
    Landmarks,
}

impl Architecture {
    /// The detector family trained alongside a recogniser: its keypoints are the ones
    /// the recogniser's alignment was made for.
    pub fn companion_detector(self) -> Option<Architecture> {
        match self {
            Architecture::ArcFace => Some(Architecture::Scrfd),
            Architecture::SFace => Some(Architecture::YuNet),
            _ => None,
        }
    }
}

/// A model file this project knows by name.
#[derive(Clone, Copy, Debug)]
pub struct KnownModel {
    /// Pack it belongs to (`buffalo_s`, `buffalo_l` or `yunet_sface`).
    pub pack: &'static str,
    /// File name inside the pack directory.
    pub file: &'static str,
    /// Its role.
    pub role: Role,
    /// Its network family.
    pub architecture: Architecture,
    /// Pinned SHA-256, where the project has verified the file. `buffalo_l` cannot be
    /// obtained on the machines this project is tested on, so its files are pinned on
    /// first install instead (see `SHA256SUMS` in the pack directory).
    pub sha256: Option<&'static str>,
}

/// Every model file by name. When a folder holds files of several packs, the later
/// pack's are preferred (`buffalo_l` over `buffalo_s` over `yunet_sface`).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        pack: "yunet_sface",
        file: YUNET_2026MAY_FILE,
        role: Role::Detector,
        architecture: Architecture::YuNet,
        sha256: Some(YUNET_2026MAY_SHA256),
    },
    KnownModel {
        pack: "yunet_sface",
        file: SFACE_INT8BQ_ORTFIX_FILE,
        role: Role::Recognizer,
        architecture: Architecture::SFace,
        sha256: Some(SFACE_INT8BQ_ORTFIX_SHA256),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "scrfd_500m_bnkps.onnx",
        role: Role::Detector,
        architecture: Architecture::Scrfd,
        sha256: Some("a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "det_500m.onnx",
        role: Role::Detector,
        architecture: Architecture::Scrfd,
        sha256: Some("5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "w600k_mbf.onnx",
        role: Role::Recognizer,
        architecture: Architecture::ArcFace,
        sha256: Some("9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"),
    },
    KnownModel {
        pack: "buffalo_s",
        file: "2d106det.onnx",
        role: Role::Landmarks2d106,
        architecture: Architecture::Landmarks,
        sha256: Some("f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf"),
    },
    KnownModel {
        pack: "buffalo_l",
        file: "det_10g.onnx",
        role: Role::Detector,
        architecture: Architecture::Scrfd,
        sha256: None,
    },
    KnownModel {
        pack: "buffalo_l",
        file: "w600k_r50.onnx",
        role: Role::Recognizer,
        architecture: Architecture::ArcFace,
        sha256: None,
    },
    KnownModel {
        pack: "buffalo_l",
        file: "2d106det.onnx",
        role: Role::Landmarks2d106,
        architecture: Architecture::Landmarks,
        sha256: Some("f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf"),
    },
    KnownModel {
        pack: "buffalo_l",
        file: "1k3d68.onnx",
        role: Role::Landmarks3d68,
        architecture: Architecture::Landmarks,
        sha256: None,
    },
];

/// YuNet as OpenCV's zoo published it in May 2026 (MIT licence).
pub const YUNET_2026MAY_FILE: &str = "face_detection_yunet_2026may.onnx";

/// OpenCV's int8 SFace as setup installs it, once ONNX Runtime can load it.
pub const SFACE_INT8BQ_ORTFIX_FILE: &str = "face_recognition_sface_2021dec_int8bq_ortfix.onnx";

/// SHA-256 of [`YUNET_2026MAY_FILE`].
pub const YUNET_2026MAY_SHA256: &str =
    "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0";

/// SHA-256 of OpenCV's int8 SFace after setup drops the graph inputs no node reads
/// (see `fs-setup`); the original is [`SFACE_INT8BQ_SHA256`].
pub const SFACE_INT8BQ_ORTFIX_SHA256: &str =
    "315cf7731828324997bbeff994c2788726ff1ab605939f30bd5f5dc24f1fab47";

/// SHA-256 of OpenCV's int8 block-quantised SFace as published (Apache-2.0), which
/// ONNX Runtime refuses to load.
pub const SFACE_INT8BQ_SHA256: &str =
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee";

/// The architecture of a model file, by its name.
pub fn architecture_of(file: &str) -> Option<Architecture> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.file == file)
        .map(|m| m.architecture)
}

/// The pinned checksum of a pack's file, if the project pins it.
pub fn pinned_sha256(pack: &str, file: &str) -> Option<&'static str> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.pack == pack && m.file == file)
        .and_then(|m| m.sha256)
}
