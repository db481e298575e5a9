//! Version 1: the `export-swap` manifest, before entries had provenance.

use std::path::PathBuf;

use fs_export::swap::{Candidate, FacesetExport};
use serde::Deserialize;

use crate::{Entry, Kind, LibraryManifest, Provenance, VERSION};

/// The version-1 manifest (only what the upgrade needs).
#[derive(Deserialize)]
pub(crate) struct ManifestV1 {
    #[serde(default)]
    params: serde_json::Value,
    facesets: Vec<FacesetExport>,
    #[serde(default)]
    thin_eras: Vec<FacesetExport>,
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    errors: Vec<(PathBuf, String)>,
}

/// The same library in the current layout. Version 1 did not say which workflow made
/// a faceset, so it is inferred: no label → refined; thin or an era suffix → era; an
/// `immich-` label → Immich; bundles named after the label → hand-sorted; else
/// discovered. Centroids are computed from the caches until the entry is refreshed.
pub(crate) fn upgrade(v1: ManifestV1) -> LibraryManifest {
    let entry = |export: FacesetExport, thin: bool, params: &serde_json::Value| {
        let (kind, label) = match export.label.clone() {
            None => (Kind::Refined, export.name.clone()),
            Some(label) => {
                let kind = if thin || has_suffix(&export.name) {
                    Kind::Era
                } else if label.starts_with("immich-") {
                    Kind::Immich
                } else if export.top_bundle.starts_with(&label) {
                    Kind::HandSorted
                } else {
                    Kind::Discovered
                };
                (kind, label)
            }
        };
        Entry {
            provenance: Provenance {
                kind,
                label,
                sources: Vec::new(),
                params: params.clone(),
                distances: None,
                bundles: None,
                created: 0,
                updated: 0,
            },
            centroid: Vec::new(),
            model: None,
            errors: Vec::new(),
            review: crate::Review::default(),
            exported_with: None,
            export,
        }
    };
    let mut facesets: Vec<Entry> = v1
        .facesets
        .into_iter()
        .filter(|f| !f.faces.is_empty())
        .map(|f| entry(f, false, &v1.params))
        .collect();
    // Version 1 kept the errors of the last export at the top; they belong to the
    // refined facesets it exported.
    if let Some(first) = facesets
        .iter_mut()
        .find(|e| e.provenance.kind == Kind::Refined)
    {
        first.errors = v1.errors;
    }
    LibraryManifest {
        version: VERSION,
        facesets,
        thin_eras: v1
            .thin_eras
            .into_iter()
            .map(|f| entry(f, true, &v1.params))
            .collect(),
        candidates: v1.candidates,
        calibrated: None,
        not_faces: std::collections::BTreeMap::new(),
    }
}

fn has_suffix(name: &str) -> bool {
    name.strip_prefix("faceset_")
        .is_some_and(|rest| rest.chars().any(|c| !c.is_ascii_digit()))
}
