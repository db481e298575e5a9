//! Model packs: which ONNX file plays which role, and the checksums they are pinned to.

use std::path::{Path, PathBuf};

use fs_cache::ModelId;

use crate::catalogue::{Architecture, KNOWN_MODELS, Role};

/// A model pack directory is missing a model, or one of its files cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("model pack {}: {message}", dir.display())]
pub struct PackError {
    /// The pack directory.
    pub dir: PathBuf,
    /// What is wrong.
    pub message: String,
}

type Result<T> = std::result::Result<T, PackError>;

/// The model files of one pack, by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPack {
    /// The pack directory.
    pub dir: PathBuf,
    /// SCRFD detector.
    pub detector: PathBuf,
    /// ArcFace recogniser.
    pub recognizer: PathBuf,
    /// 106-point landmarks, when present.
    pub landmarks_2d_106: Option<PathBuf>,
    /// 68-point 3D landmarks, when present (`buffalo_l`).
    pub landmarks_3d_68: Option<PathBuf>,
}

impl ModelPack {
    /// Finds the models in `dir` by their InsightFace file names (any pack's names are
    /// accepted, so a directory mixing `det_10g.onnx` with `w600k_mbf.onnx` works).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(PackError {
                dir,
                message: "no such directory; install the pack (`face-sets setup`) or name another"
                    .into(),
            });
        }
        // Prefer the later pack's files when several are present (buffalo_l's over
        // buffalo_s's), and a detector of the recogniser's own family.
        let find_in = |role: Role, architecture: Option<Architecture>| {
            KNOWN_MODELS
                .iter()
                .filter(|m| m.role == role && architecture.is_none_or(|a| a == m.architecture))
                .rev()
                .find(|m| dir.join(m.file).is_file())
        };
        let find = |role: Role| find_in(role, None).map(|m| dir.join(m.file));
        let missing = |role: Role, what: &str| PackError {
            dir: dir.clone(),
            message: format!("no {what} model found (looked for {})", names_of(role)),
        };
        let recognizer = find_in(Role::Recognizer, None)
            .ok_or_else(|| missing(Role::Recognizer, "recognition"))?;
        let detector = find_in(Role::Detector, recognizer.architecture.companion_detector())
            .or_else(|| find_in(Role::Detector, None))
            .map(|m| dir.join(m.file))
            .ok_or_else(|| missing(Role::Detector, "detector"))?;
        let recognizer = dir.join(recognizer.file);
        Ok(Self {
            landmarks_2d_106: find(Role::Landmarks2d106),
            landmarks_3d_68: find(Role::Landmarks3d68),
            detector,
            recognizer,
            dir,
        })
    }

    /// Resolves `--models`: an existing directory is used as the pack; otherwise the
    /// value names a pack under `models_root` (e.g. `buffalo_s`).
    pub fn resolve(models_root: &Path, name_or_dir: &str) -> Result<Self> {
        let as_dir = Path::new(name_or_dir);
        if as_dir.is_dir() {
            Self::from_dir(as_dir)
        } else {
            Self::from_dir(models_root.join(name_or_dir))
        }
    }
}

impl ModelPack {
    /// The pack's name: its directory's.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map_or_else(|| "models".into(), |n| n.to_string_lossy().into_owned())
    }

    /// The id of the embeddings this pack makes: file names and SHA-256 of its detector
    /// and recogniser, and `embedding_size` (the recogniser's output width).
    pub fn model_id(&self, embedding_size: usize) -> Result<ModelId> {
        let file_name = |p: &Path| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        Ok(ModelId {
            pack: self.name(),
            recognizer: file_name(&self.recognizer),
            recognizer_sha256: self.sha256_of(&self.recognizer)?,
            embedding_size: u32::try_from(embedding_size).unwrap_or(u32::MAX),
            detector: file_name(&self.detector),
            detector_sha256: self.sha256_of(&self.detector)?,
        })
    }

    fn sha256_of(&self, file: &Path) -> Result<String> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let mut reader = std::fs::File::open(file).map_err(|e| PackError {
            dir: self.dir.clone(),
            message: format!("cannot read {}: {e}", file.display()),
        })?;
        std::io::copy(&mut reader, &mut hasher).map_err(|e| PackError {
            dir: self.dir.clone(),
            message: format!("cannot read {}: {e}", file.display()),
        })?;
        Ok(format!("{:x}", hasher.finalize()))
    }
}

fn names_of(role: Role) -> String {
    KNOWN_MODELS
        .iter()
        .filter(|m| m.role == role)
        .map(|m| m.file)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_by_role_and_reports_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("det_500m.onnx"), b"x").unwrap();
        let err = ModelPack::from_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("no recognition model") && err.contains("w600k_mbf.onnx"),
            "{err}"
        );
        std::fs::write(dir.path().join("w600k_mbf.onnx"), b"x").unwrap();
        let pack = ModelPack::from_dir(dir.path()).unwrap();
        assert_eq!(pack.detector, dir.path().join("det_500m.onnx"));
        assert_eq!(pack.landmarks_2d_106, None);
        // buffalo_l's detector wins when present.
        std::fs::write(dir.path().join("det_10g.onnx"), b"x").unwrap();
        assert_eq!(
            ModelPack::from_dir(dir.path()).unwrap().detector,
            dir.path().join("det_10g.onnx")
        );
    }

    #[test]
    fn the_free_pack_is_found_and_a_folder_with_both_keeps_insightfaces() {
        let dir = tempfile::tempdir().unwrap();
        let yunet = dir.path().join("face_detection_yunet_2026may.onnx");
        let sface = dir
            .path()
            .join("face_recognition_sface_2021dec_int8bq_ortfix.onnx");
        std::fs::write(&yunet, b"x").unwrap();
        std::fs::write(&sface, b"x").unwrap();
        let pack = ModelPack::from_dir(dir.path()).unwrap();
        assert_eq!((&pack.detector, &pack.recognizer), (&yunet, &sface));
        assert_eq!(pack.landmarks_2d_106, None);
        // Installing buffalo_s's files beside them picks buffalo_s whole, never a mix.
        for f in ["scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let pack = ModelPack::from_dir(dir.path()).unwrap();
        assert_eq!(pack.detector, dir.path().join("scrfd_500m_bnkps.onnx"));
        assert_eq!(pack.recognizer, dir.path().join("w600k_mbf.onnx"));
        // Without buffalo_s's recogniser, SFace keeps its own detector.
        std::fs::remove_file(dir.path().join("w600k_mbf.onnx")).unwrap();
        assert_eq!(ModelPack::from_dir(dir.path()).unwrap().detector, yunet);
    }

    #[test]
    fn model_id_names_the_files_and_their_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let pack_dir = dir.path().join("my_pack");
        std::fs::create_dir(&pack_dir).unwrap();
        std::fs::write(pack_dir.join("det_500m.onnx"), b"detector").unwrap();
        std::fs::write(pack_dir.join("w600k_mbf.onnx"), b"abc").unwrap();
        let id = ModelPack::from_dir(&pack_dir)
            .unwrap()
            .model_id(512)
            .unwrap();
        assert_eq!(id.pack, "my_pack");
        assert_eq!(id.recognizer, "w600k_mbf.onnx");
        // SHA-256 of "abc".
        assert_eq!(
            id.recognizer_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.embedding_size, 512);
        std::fs::write(pack_dir.join("w600k_mbf.onnx"), b"abd").unwrap();
        let other = ModelPack::from_dir(&pack_dir)
            .unwrap()
            .model_id(512)
            .unwrap();
        assert_ne!(id, other);
    }

    #[test]
    fn resolve_by_name_under_root() {
        let root = tempfile::tempdir().unwrap();
        let pack = root.path().join("buffalo_s");
        std::fs::create_dir(&pack).unwrap();
        std::fs::write(pack.join("scrfd_500m_bnkps.onnx"), b"x").unwrap();
        std::fs::write(pack.join("w600k_mbf.onnx"), b"x").unwrap();
        assert_eq!(
            ModelPack::resolve(root.path(), "buffalo_s").unwrap().dir,
            pack
        );
        assert!(ModelPack::resolve(root.path(), "buffalo_l").is_err());
    }
}
