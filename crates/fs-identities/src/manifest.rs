//! The JSON manifests, and writing them atomically.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_err};
use crate::faces::FaceRow;

/// Format version of every manifest this crate writes.
pub const VERSION: u32 = 1;

/// File name of the raw clustering manifest.
pub const RAW_MANIFEST: &str = "manifest.json";
/// File name of the refine manifest.
pub const REFINE_MANIFEST: &str = "refine_manifest.json";

/// One identity and its faces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `person_NNN` or `faceset_NNN`; never reused for another identity.
    pub name: String,
    /// Its faces, sorted by path then key.
    pub faces: Vec<FaceRow>,
}

/// What `cluster` (and `extend`) write: `OUT/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawManifest {
    /// [`VERSION`].
    pub version: u32,
    /// The cache clustered.
    pub cache: PathBuf,
    /// Cosine-distance threshold of the clustering.
    pub threshold: f32,
    /// Multi-face clusters, `person_001` first.
    pub clusters: Vec<Cluster>,
    /// Faces that joined no cluster.
    pub singletons: Vec<FaceRow>,
    /// Every path of every image with no face.
    pub noface: Vec<PathBuf>,
    /// Every path of every image that could not be decoded.
    #[serde(default)]
    pub undecodable: Vec<PathBuf>,
}

/// A face left out of a faceset, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroppedFace {
    /// The face.
    pub face: FaceRow,
    /// Which gate dropped it.
    pub reason: String,
}

/// One refined faceset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Faceset {
    /// `faceset_NNN`.
    pub name: String,
    /// Distinct images in it.
    pub images: usize,
    /// The faces that passed every gate.
    pub faces: Vec<FaceRow>,
    /// Faces of the cluster that a gate dropped.
    #[serde(default)]
    pub dropped: Vec<DroppedFace>,
}

impl Faceset {
    /// A faceset of `faces`, none dropped.
    pub fn of(name: String, faces: Vec<FaceRow>) -> Self {
        Self {
            name,
            images: crate::faces::distinct_images(&faces),
            faces,
            dropped: Vec::new(),
        }
    }
}

/// What `refine` writes: `OUT/refine_manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefineManifest {
    /// [`VERSION`].
    pub version: u32,
    /// The cache refined.
    pub cache: PathBuf,
    /// The parameters used.
    pub params: crate::gates::RefineOptions,
    /// The facesets, `faceset_001` first.
    pub facesets: Vec<Faceset>,
}

/// Reads a manifest.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(io_err(path, "read manifest"))?;
    serde_json::from_str(&text).map_err(|source| Error::Manifest {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON to a temp file beside `path`, syncs it and renames it
/// into place, so readers see the old manifest or the new one, never half of one.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value).expect("manifests always serialise");
    json.push(b'\n');
    fs_cache::atomic::write(path, &json).map_err(io_err(path, "write"))
}

/// Checks that `out` may receive a result whose manifest is `manifest_name` with
/// contents `new`: it is missing, empty, or already holds exactly this result (a re-run
/// is then a no-op). Anything else is refused, never mixed.
pub(crate) fn check_out_dir<T: DeserializeOwned + PartialEq>(
    out: &Path,
    manifest_name: &str,
    new: &T,
) -> Result<bool> {
    if !out.exists() {
        return Ok(false);
    }
    let existing = out.join(manifest_name);
    if existing.is_file() {
        let old: T = read(&existing)?;
        if old == *new {
            return Ok(true);
        }
        return Err(Error::Conflict {
            path: out.to_path_buf(),
            message: format!(
                "already holds a different result ({manifest_name} differs: another cache, other \
                 parameters or new photos); use `face-sets extend` to fold new photos in, or write \
                 to an empty directory"
            ),
        });
    }
    let mut entries = fs::read_dir(out).map_err(io_err(out, "list output directory"))?;
    if entries.next().is_some() {
        return Err(Error::Conflict {
            path: out.to_path_buf(),
            message: format!(
                "is not empty and has no {manifest_name}; choose an empty or new directory"
            ),
        });
    }
    Ok(false)
}

/// `prefix_NNN` (at least three digits).
pub fn numbered(prefix: &str, n: usize) -> String {
    format!("{prefix}_{n:03}")
}

/// The number in `prefix_NNN`, if `name` has that form.
pub fn number_of(prefix: &str, name: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.strip_prefix('_')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_round_trips() {
        assert_eq!(numbered("person", 7), "person_007");
        assert_eq!(numbered("person", 1234), "person_1234");
        assert_eq!(number_of("person", "person_1234"), Some(1234));
        assert_eq!(number_of("person", "faceset_001"), None);
    }

    #[test]
    fn out_dir_rules() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        assert!(!check_out_dir(&out, "m.json", &1u32).unwrap());
        fs::create_dir(&out).unwrap();
        assert!(!check_out_dir(&out, "m.json", &1u32).unwrap());
        write_json(&out.join("m.json"), &1u32).unwrap();
        assert!(check_out_dir(&out, "m.json", &1u32).unwrap());
        assert!(matches!(
            check_out_dir(&out, "m.json", &2u32),
            Err(Error::Conflict { .. })
        ));
        fs::remove_file(out.join("m.json")).unwrap();
        fs::write(out.join("other.txt"), "x").unwrap();
        assert!(matches!(
            check_out_dir(&out, "m.json", &1u32),
            Err(Error::Conflict { .. })
        ));
    }
}
