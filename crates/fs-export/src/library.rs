//! A `facesets_swap_ready/` folder as a growing library of exported identities.
//!
//! Workflows add identities to it (hand-sorted imports, era splits, discoveries) without
//! touching the ones already there: new facesets are numbered past the highest existing
//! `faceset_NNN`, exported into their own folders, and appended to the top-level
//! `manifest.json`, which is rewritten atomically.

use std::fs;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, FaceKey};
use fs_cluster::Embeddings;
use fs_cluster::centroid::centroid;

use crate::error::{Result, io_err};
use crate::manifest::{self, Faceset};
use crate::swap::{
    ExportRequest, FacesetExport, SWAP_MANIFEST, SwapManifest, SwapOptions, export_facesets,
};

/// Folder of era buckets too small to stand alone.
pub const THIN: &str = "_thin";

/// An opened `facesets_swap_ready/`.
#[derive(Debug)]
pub struct SwapLibrary {
    dir: PathBuf,
    manifest: SwapManifest,
}

/// How one new faceset is added.
#[derive(Clone, Debug)]
pub struct NewFaceset {
    /// Its faces (the name is assigned by [`SwapLibrary::add`]).
    pub faces: Vec<crate::faces::FaceRow>,
    /// Provenance label, recorded in the manifest; names the bundles
    /// (`<label>_top30.fsz`) when `label_bundles`.
    pub label: String,
    /// Stem of the marker file written in its folder (`<marker>.txt`).
    pub marker: String,
    /// Name the bundles after the label instead of the faceset.
    pub label_bundles: bool,
    /// Put it under `_thin/` and list it in `thin_eras` (with a `THIN.txt` marker).
    pub thin: bool,
    /// Name suffix after `faceset_NNN` (e.g. an era `_2005-2010`), if any.
    pub suffix: String,
}

impl SwapLibrary {
    /// Opens `dir` (created on [`SwapLibrary::save`] if missing).
    pub fn open(dir: impl Into<PathBuf>, cache: &Cache, options: &SwapOptions) -> Result<Self> {
        let dir = dir.into();
        let path = dir.join(SWAP_MANIFEST);
        let manifest = if path.is_file() {
            manifest::read(&path)?
        } else {
            SwapManifest {
                version: manifest::VERSION,
                cache: std::path::absolute(cache.path())
                    .unwrap_or_else(|_| cache.path().to_path_buf()),
                params: options.clone(),
                facesets: Vec::new(),
                thin_eras: Vec::new(),
                candidates: Vec::new(),
                errors: Vec::new(),
            }
        };
        Ok(Self { dir, manifest })
    }

    /// The top-level manifest as it stands.
    pub fn manifest(&self) -> &SwapManifest {
        &self.manifest
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One past the highest `faceset_NNN` in the manifest or on disk.
    pub fn next_number(&self) -> usize {
        let in_manifest = self
            .manifest
            .facesets
            .iter()
            .chain(&self.manifest.thin_eras)
            .filter_map(|f| leading_number(&f.name));
        let on_disk = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| leading_number(&e.file_name().to_string_lossy()));
        in_manifest.chain(on_disk).max().unwrap_or(0) + 1
    }

    /// Whether a faceset with this provenance label exists already.
    pub fn has_label(&self, label: &str) -> bool {
        self.manifest
            .facesets
            .iter()
            .chain(&self.manifest.thin_eras)
            .any(|f| f.label.as_deref() == Some(label))
    }

    /// Centroids of the canonical identities (`faceset_NNN` exactly: not era buckets,
    /// not `_thin/`), from the embeddings of their exported faces. Face keys are content
    /// hashes, so each is looked up in whichever of `caches` holds it (identities may
    /// come from several caches, e.g. a local one and an Immich one).
    pub fn canonical_centroids(&self, caches: &[&Cache]) -> Vec<(String, Vec<f32>)> {
        self.manifest
            .facesets
            .iter()
            .filter(|f| manifest::number_of("faceset", &f.name).is_some())
            .filter_map(|f| {
                let vectors: Vec<&[f32]> = f
                    .faces
                    .iter()
                    .filter_map(|e| {
                        let key: FaceKey = e.face.key.parse().ok()?;
                        caches
                            .iter()
                            .find_map(|c| c.image(&key.hash))?
                            .faces()
                            .get(key.index as usize)
                            .map(|x| x.embedding.unit())
                    })
                    .collect();
                let first = vectors.first()?;
                let e = Embeddings::from_rows(first.len(), &vectors);
                let all: Vec<usize> = (0..e.len()).collect();
                Some((f.name.clone(), centroid(&e, &all)))
            })
            .collect()
    }

    /// Exports new facesets, numbered past the current maximum, with their markers, and
    /// appends them to the manifest (call [`SwapLibrary::save`] to write it).
    pub fn add(
        &mut self,
        cache: &Cache,
        new: &[NewFaceset],
        options: &SwapOptions,
    ) -> Result<Vec<FacesetExport>> {
        let mut next = self.next_number();
        let facesets: Vec<Faceset> = new
            .iter()
            .map(|n| {
                let name = format!("{}{}", manifest::numbered("faceset", next), n.suffix);
                next += 1;
                Faceset {
                    name,
                    images: crate::faces::distinct_images(&n.faces),
                    faces: n.faces.clone(),
                    dropped: Vec::new(),
                }
            })
            .collect();
        let requests: Vec<ExportRequest<'_>> = facesets
            .iter()
            .zip(new)
            .map(|(f, n)| ExportRequest {
                faceset: f,
                dir: if n.thin {
                    format!("{THIN}/{}", f.name)
                } else {
                    f.name.clone()
                },
                bundle_stem: if n.label_bundles {
                    n.label.clone()
                } else {
                    f.name.clone()
                },
                label: Some(n.label.clone()),
            })
            .collect();
        let (exports, _, errors) = export_facesets(cache, &requests, &self.dir, options)?;
        for ((export, request), n) in exports.iter().zip(&requests).zip(new) {
            let folder = self.dir.join(&request.dir);
            let marker = folder.join(format!("{}.txt", safe_label(&n.marker)));
            let note = format!(
                "{}: {} faces from {}\n",
                export.name,
                export.faces.len(),
                n.label
            );
            fs::write(&marker, note).map_err(io_err(&marker, "write marker"))?;
            if n.thin {
                let thin = folder.join("THIN.txt");
                fs::write(&thin, "fewer faces than an era needs; kept for review\n")
                    .map_err(io_err(&thin, "write marker"))?;
                self.manifest.thin_eras.push(export.clone());
            } else {
                self.manifest.facesets.push(export.clone());
            }
        }
        self.manifest.errors.extend(errors);
        Ok(exports)
    }

    /// Writes the top-level manifest atomically.
    pub fn save(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir, "create output directory"))?;
        manifest::write_atomically(&self.dir.join(SWAP_MANIFEST), &self.manifest)
    }
}

/// `NNN` of a name starting `faceset_NNN`.
fn leading_number(name: &str) -> Option<usize> {
    let digits: String = name
        .strip_prefix("faceset_")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A label usable as a file name.
pub fn safe_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels() {
        assert_eq!(leading_number("faceset_012"), Some(12));
        assert_eq!(leading_number("faceset_012_2005-2010"), Some(12));
        assert_eq!(leading_number("_thin"), None);
        assert_eq!(safe_label("nic's photos/2020"), "nic_s_photos_2020");
    }
}
