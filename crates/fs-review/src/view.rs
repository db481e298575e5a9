//! What the page shows, as JSON, and every face it may ask a thumbnail of.
//!
//! The first view is small however large the library: each identity with its best
//! faces and its counts. An identity's full sheet, its dropped faces and the
//! singletons are fetched when the person opens them.

use std::collections::{HashMap, HashSet};

use fs_cache::Cache;
use fs_identities::faces::FaceRow;
use fs_identities::manifest::RawManifest;
use fs_library::{Entry, Library};
use serde_json::{Value, json};

use crate::thumbs::Source;

/// Faces of each identity in the first view (its best, by rank): one row of the sheet.
pub(crate) const PREVIEW: usize = 12;

/// Most singletons in one page.
pub(crate) const SINGLETONS_PAGE: usize = 200;

/// Where a face's thumbnail comes from.
enum Origin {
    /// An exported crop (its path under the library).
    Crop(std::path::PathBuf),
    /// A face without a crop of its own.
    Photo(FaceRow),
}

/// The library's faces, by key, and the singletons to show.
pub(crate) struct View {
    faces: HashMap<String, Origin>,
    /// Faces that joined no identity (not even as one its gates dropped), that nobody
    /// placed or said is no face, and that are no candidate; largest first.
    singletons: Vec<FaceRow>,
}

impl View {
    /// Indexes `library` (with its candidates) and the singletons of `raw`.
    pub(crate) fn of(library: &Library, cache: &Cache, raw: Option<&RawManifest>) -> Self {
        let mut faces = HashMap::new();
        // Faces placed by hand or said to be no face are no singletons.
        let mut held: HashSet<String> = library.not_faces();
        held.extend(library.placed().into_keys());
        for entry in library.entries() {
            for dropped in &entry.export.dropped {
                held.insert(dropped.face.key.clone());
                faces.insert(
                    dropped.face.key.clone(),
                    Origin::Photo(dropped.face.clone()),
                );
            }
        }
        for entry in library.entries() {
            let folder = library.dir().join(entry.dir());
            for face in &entry.export.faces {
                held.insert(face.face.key.clone());
                faces.insert(face.face.key.clone(), Origin::Crop(folder.join(&face.png)));
            }
        }
        for candidate in &library.manifest().candidates {
            held.insert(candidate.face.key.clone());
            faces.insert(
                candidate.face.key.clone(),
                Origin::Crop(library.dir().join(&candidate.png)),
            );
        }
        let mut singletons: Vec<FaceRow> = raw
            .map(|raw| {
                raw.singletons
                    .iter()
                    .filter(|f| !held.contains(f.key.as_str()))
                    // Faces the cache no longer holds cannot be placed.
                    .filter(|f| {
                        f.key
                            .parse::<fs_cache::FaceKey>()
                            .is_ok_and(|k| cache.image(&k.hash).is_some())
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        singletons.sort_by(|a, b| {
            b.short_side()
                .total_cmp(&a.short_side())
                .then(a.key.cmp(&b.key))
        });
        for s in &singletons {
            faces
                .entry(s.key.clone())
                .or_insert_with(|| Origin::Photo(s.clone()));
        }
        Self { faces, singletons }
    }

    /// Where the thumbnail of face `key` comes from, if the page shows that face.
    pub(crate) fn source(&self, key: &str, cache: &Cache) -> Option<Source> {
        Some(match self.faces.get(key)? {
            Origin::Crop(path) => Source::Crop(path.clone()),
            Origin::Photo(face) => {
                let (others, size) = face
                    .key
                    .parse::<fs_cache::FaceKey>()
                    .ok()
                    .and_then(|k| {
                        let record = cache.image(&k.hash)?;
                        Some((
                            fs_export::swap::other_faces(record, k.index as usize),
                            (record.width, record.height),
                        ))
                    })
                    .unwrap_or_default();
                Source::Photo {
                    face: face.clone(),
                    others,
                    size,
                }
            }
        })
    }

    /// The first view: every identity in brief, the candidates, the singletons'
    /// count, the revision.
    pub(crate) fn summary(&self, library: &Library) -> fs_library::Result<Value> {
        let revision = library.revision();
        let log = library.decisions()?;
        let entries: Vec<Value> = library
            .entries()
            .map(|e| {
                json!({
                    "name": e.export.name,
                    "label": e.display_label(),
                    "named": e.review.label.is_some(),
                    "kind": e.provenance.kind,
                    "sources": e.provenance.sources,
                    "created": e.provenance.created,
                    "locked": e.review.locked,
                    "merged_into": e.review.merged_into,
                    "mean_quality": e.export.mean_quality,
                    "count": e.export.faces.len(),
                    "faces": faces(&e.export.faces[..e.export.faces.len().min(PREVIEW)]),
                    "dropped": e.export.dropped.len(),
                    "excluded": e.review.excluded.len(),
                })
            })
            .collect();
        let candidates: Vec<Value> = library
            .manifest()
            .candidates
            .iter()
            .map(|c| {
                json!({
                    "faceset": c.faceset,
                    "key": c.face.key,
                    "photo": c.face.path,
                    "distance": c.distance,
                })
            })
            .collect();
        Ok(json!({
            "revision": revision,
            "library": library.dir(),
            "can_undo": log.undoable().is_some(),
            "can_redo": log.redoable().is_some(),
            "entries": entries,
            "candidates": candidates,
            "singletons": self.singletons.len(),
        }))
    }

    /// Singletons `offset..offset + limit`, and how many there are.
    pub(crate) fn singletons(&self, offset: usize, limit: usize) -> Value {
        let page: Vec<Value> = self
            .singletons
            .iter()
            .skip(offset)
            .take(limit)
            .map(|f| {
                json!({
                    "key": f.key,
                    "photo": f.path,
                    "size": f.short_side().round(),
                })
            })
            .collect();
        json!({ "total": self.singletons.len(), "offset": offset, "faces": page })
    }
}

/// One identity whole.
pub(crate) fn entry_detail(entry: &Entry) -> Value {
    json!({
        "name": entry.export.name,
        "faces": faces(&entry.export.faces),
        "dropped": entry.export.dropped.iter().map(|d| json!({
            "key": d.face.key,
            "photo": d.face.path,
            "reason": d.reason,
        })).collect::<Vec<_>>(),
    })
}

fn faces(faces: &[fs_export::swap::ExportedFace]) -> Vec<Value> {
    faces
        .iter()
        .map(|f| {
            json!({
                "key": f.face.key,
                "rank": f.rank,
                "photo": f.face.path,
                "quality": f.quality.composite,
            })
        })
        .collect()
}
