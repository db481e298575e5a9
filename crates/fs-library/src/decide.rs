//! Applying a [`Decision`] to the library: its entries, their exported folders, and the
//! decisions log, at once.

use std::collections::BTreeMap;

use fs_cache::Cache;
use fs_export::swap::{CacheFaces, ExportRequest, SwapOptions, export_faceset};
use fs_identities::faces::FaceRow;
use fs_identities::manifest::{self, Faceset};

use crate::review::{self, Decision, DecisionLog, Record, Review};
use crate::{Entry, Error, Kind, Library, Provenance, Result, now};

/// What a decision did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The log record's `seq`: the library's revision now.
    pub revision: u64,
    /// The decision, described (for an undo: what it undid).
    pub description: String,
    /// Entries whose folder was exported again.
    pub exported: Vec<String>,
    /// The entry a split created.
    pub created: Option<String>,
}

impl Library {
    /// The decisions made so far.
    pub fn decisions(&self) -> Result<DecisionLog> {
        Ok(DecisionLog::of(self.records.clone()))
    }

    /// Applies `decision` in one transaction: changes the entries' reviews on a copy,
    /// makes the crops of the entries whose members changed, commits the copy with the
    /// decision, then writes the folders, bundles and `manifest.json` from it. With
    /// `expected`, the library must still be at that revision ([`Error::Conflict`]
    /// otherwise), so that a page deciding on what it saw never overwrites what
    /// changed since. A decision that names no entry, a face not in it, a label that
    /// cannot name files, or that would leave an entry without a face is refused
    /// ([`Error::Decision`]); a refused or failed decision changes nothing, in memory,
    /// in the database or on disk.
    pub fn decide(
        &mut self,
        cache: &Cache,
        decision: Decision,
        expected: Option<u64>,
        options: &SwapOptions,
    ) -> Result<Applied> {
        let faces = CacheFaces::of(cache);
        self.begin(Some(&faces))?;
        match self.apply(cache, &faces, decision, expected, options) {
            Ok((record, applied)) => {
                let revision = self.commit(Some(record))?;
                Ok(Applied {
                    revision,
                    ..applied
                })
            }
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }

    /// Changes the working copy and makes the crops for `decision`; the caller commits
    /// or abandons.
    fn apply(
        &mut self,
        cache: &Cache,
        faces: &CacheFaces<'_>,
        decision: Decision,
        expected: Option<u64>,
        options: &SwapOptions,
    ) -> Result<(Record, Applied)> {
        if let Some(expected) = expected
            && expected != self.revision
        {
            return Err(Error::Conflict {
                expected,
                found: self.revision,
            });
        }
        let (decision, redoes) = match decision {
            Decision::Redo => {
                let undo = review::redoable(&self.records).ok_or_else(|| Error::Decision {
                    decision: "redo".into(),
                    why: "nothing to redo".into(),
                })?;
                let undone = self
                    .records
                    .iter()
                    .find(|r| Some(r.seq) == undo.undoes)
                    .expect("an undo names a record of the log");
                (undone.decision.clone(), Some(undo.seq))
            }
            other => (other, None),
        };
        let refuse = |why: String| Error::Decision {
            decision: decision.describe(),
            why,
        };
        let mut before: BTreeMap<String, Review> = BTreeMap::new();
        let mut rows_before: BTreeMap<String, Vec<FaceRow>> = BTreeMap::new();
        // Undo re-exports from the faces as they were, not as they are.
        let mut proposed: BTreeMap<String, Vec<FaceRow>> = BTreeMap::new();
        let mut created = None;
        let mut accepted = None;
        let mut undoes = None;
        let mut to_export: Vec<String> = Vec::new();
        let mut description = match redoes {
            Some(_) => format!("redo: {}", self.describe(&decision)),
            None => self.describe(&decision),
        };
        match &decision {
            Decision::Rename { entry, label } => {
                let label = check_label(label).map_err(refuse)?;
                let label = label.as_str();
                let e = self
                    .entry_mut(entry)
                    .ok_or_else(|| refuse(no_entry(entry)))?;
                remember(&mut before, &mut rows_before, entry, e);
                e.review.label = Some(label.to_string());
                to_export.push(entry.clone());
            }
            Decision::Reject {
                entry,
                face,
                reason,
            } => {
                let e = self
                    .entry_mut(entry)
                    .ok_or_else(|| refuse(no_entry(entry)))?;
                member(e, face).ok_or_else(|| {
                    refuse(format!(
                        "{} is not in {}",
                        review::short(face),
                        review::short(entry)
                    ))
                })?;
                remember(&mut before, &mut rows_before, entry, e);
                // Its copies (re-encodes, resizes of the same photo) go with it.
                let copies: Vec<String> = e
                    .review
                    .members(&e.face_rows())
                    .into_iter()
                    .filter(|f| crate::is_copy(faces, &f.key, face))
                    .map(|f| f.key)
                    .collect();
                for key in std::iter::once(face).chain(&copies) {
                    e.review
                        .excluded
                        .insert(key.clone(), reason.describe().into());
                    e.review.included.retain(|f| f.key != *key);
                }
                to_export.push(entry.clone());
            }
            Decision::Move { face, from, to } => {
                if from == to {
                    return Err(refuse("it is already there".into()));
                }
                let target = self.entry(to).ok_or_else(|| refuse(no_entry(to)))?;
                remember(&mut before, &mut rows_before, to, target);
                let source = self.entry_mut(from).ok_or_else(|| refuse(no_entry(from)))?;
                let row = member(source, face)
                    .ok_or_else(|| refuse(format!("{} is not in {from}", review::short(face))))?;
                remember(&mut before, &mut rows_before, from, source);
                source
                    .review
                    .excluded
                    .insert(face.clone(), format!("moved to {to}"));
                source.review.included.retain(|f| f.key != *face);
                let target = self.entry_mut(to).expect("checked above");
                target.review.excluded.remove(face);
                target.review.included.push(row);
                to_export.extend([from.clone(), to.clone()]);
            }
            Decision::Split {
                entry,
                faces: keys,
                label,
            } => {
                if keys.is_empty() {
                    return Err(refuse("a split needs faces".into()));
                }
                let label = check_label(label).map_err(refuse)?;
                let name = manifest::numbered("faceset", self.next_number());
                let source = self
                    .entry_mut(entry)
                    .ok_or_else(|| refuse(no_entry(entry)))?;
                let rows: Vec<FaceRow> = keys
                    .iter()
                    .map(|f| {
                        member(source, f).ok_or_else(|| {
                            refuse(format!(
                                "{} is not in {}",
                                review::short(f),
                                review::short(entry)
                            ))
                        })
                    })
                    .collect::<Result<_>>()?;
                remember(&mut before, &mut rows_before, entry, source);
                for face in keys {
                    source
                        .review
                        .excluded
                        .insert(face.clone(), format!("split into {name}"));
                    source.review.included.retain(|f| f.key != *face);
                }
                let model = source.model.clone();
                let exported_with = source.exported_with.clone();
                let now = now();
                self.manifest.facesets.push(Entry {
                    export: fs_export::swap::FacesetExport {
                        name: name.clone(),
                        faces: Vec::new(),
                        dropped: Vec::new(),
                        top_bundle: String::new(),
                        all_bundle: String::new(),
                        mean_quality: 0.0,
                        dir: None,
                        label: Some(label.clone()),
                    },
                    provenance: Provenance {
                        kind: Kind::Review,
                        label: label.clone(),
                        sources: Vec::new(),
                        params: serde_json::json!({ "split_from": entry }),
                        distances: None,
                        bundles: None,
                        created: now,
                        updated: now,
                    },
                    centroid: Vec::new(),
                    model,
                    errors: Vec::new(),
                    review: Review {
                        label: Some(label),
                        included: rows,
                        ..Review::default()
                    },
                    exported_with,
                });
                created = Some(name.clone());
                to_export.extend([entry.clone(), name]);
            }
            Decision::Merge { from, into } => {
                if from == into {
                    return Err(refuse("an identity cannot be merged into itself".into()));
                }
                let target = self.entry(into).ok_or_else(|| refuse(no_entry(into)))?;
                if target.review.merged_into.is_some() {
                    return Err(refuse(format!("{into} was itself merged away")));
                }
                remember(&mut before, &mut rows_before, into, target);
                let source = self.entry_mut(from).ok_or_else(|| refuse(no_entry(from)))?;
                if source.review.merged_into.is_some() {
                    return Err(refuse(format!("{from} is merged already")));
                }
                remember(&mut before, &mut rows_before, from, source);
                source.review.merged_into = Some(into.clone());
                let rows = source.review.members(&source.face_rows());
                let target = self.entry_mut(into).expect("checked above");
                // Both sides' faces are the person's choice now: the merged centroid
                // must not push either side out.
                let own = target.review.members(&target.face_rows());
                for row in own.into_iter().chain(rows) {
                    target.review.excluded.remove(&row.key);
                    if !target.review.included.iter().any(|f| f.key == row.key) {
                        target.review.included.push(row);
                    }
                }
                to_export.push(into.clone());
            }
            Decision::Accept { face, entry } => {
                // A candidate, or any face of the cache no identity holds (a singleton).
                let candidate = self
                    .manifest
                    .candidates
                    .iter()
                    .position(|c| c.face.key == *face);
                let row = match candidate {
                    Some(i) => self.manifest.candidates[i].face.clone(),
                    None => FaceRow::from_cache(cache, face).ok_or_else(|| {
                        refuse(format!("the cache holds no face {}", review::short(face)))
                    })?,
                };
                if let Some(holder) = self
                    .entries()
                    .find(|e| e.export.name != *entry && member(e, face).is_some())
                {
                    return Err(refuse(format!(
                        "{face} is in {}: move it from there instead",
                        holder.export.name
                    )));
                }
                let e = self
                    .entry_mut(entry)
                    .ok_or_else(|| refuse(no_entry(entry)))?;
                if member(e, face).is_some() {
                    return Err(refuse(format!("{face} is in {entry} already")));
                }
                remember(&mut before, &mut rows_before, entry, e);
                e.review.excluded.remove(face);
                e.review.included.push(row);
                if let Some(i) = candidate {
                    accepted = Some(self.manifest.candidates.remove(i));
                }
                to_export.push(entry.clone());
            }
            Decision::Lock { entry, locked } => {
                let e = self
                    .entry_mut(entry)
                    .ok_or_else(|| refuse(no_entry(entry)))?;
                remember(&mut before, &mut rows_before, entry, e);
                e.review.locked = *locked;
            }
            Decision::NotAFace { face } => {
                if let Some(holder) = self.entries().find(|e| member(e, face).is_some()) {
                    return Err(refuse(format!(
                        "{} is in {}: reject it from there instead",
                        review::short(face),
                        holder.export.name
                    )));
                }
                if faces.embedding(face).is_none() {
                    return Err(refuse(format!(
                        "the cache holds no face {}",
                        review::short(face)
                    )));
                }
                if self.manifest.not_faces.contains_key(face) {
                    return Err(refuse("it was said to be no face already".into()));
                }
                self.manifest.not_faces.insert(
                    face.clone(),
                    crate::review::RejectReason::NotAFace.describe().into(),
                );
                // No face is no candidate either (an undo offers it again).
                if let Some(i) = self
                    .manifest
                    .candidates
                    .iter()
                    .position(|c| c.face.key == *face)
                {
                    accepted = Some(self.manifest.candidates.remove(i));
                }
            }
            Decision::Redo => {
                return Err(refuse("a redo makes again a decision, not a redo".into()));
            }
            Decision::Undo => {
                let last = review::undoable(&self.records)
                    .cloned()
                    .ok_or_else(|| refuse("nothing left to undo".into()))?;
                description = format!("undo: {}", self.describe(&last.decision));
                undoes = Some(last.seq);
                for (name, review) in &last.before {
                    let Some(e) = self.entry(name) else { continue };
                    remember(&mut before, &mut rows_before, name, e);
                    self.entry_mut(name).expect("found above").review = review.clone();
                    if let Some(rows) = last.rows_before.get(name) {
                        proposed.insert(name.clone(), rows.clone());
                    }
                    if !matches!(last.decision, Decision::Lock { .. }) {
                        to_export.push(name.clone());
                    }
                }
                if let Decision::NotAFace { face } = &last.decision {
                    self.manifest.not_faces.remove(face);
                }
                if let Some(candidate) = &last.accepted
                    && !self
                        .manifest
                        .candidates
                        .iter()
                        .any(|c| c.face.key == candidate.face.key)
                {
                    self.manifest.candidates.push(candidate.clone());
                }
                if let Some(made) = &last.created
                    && let Some(i) = self
                        .manifest
                        .facesets
                        .iter()
                        .position(|e| e.export.name == *made)
                {
                    // Its folder goes with the views of this change.
                    self.manifest.facesets.remove(i);
                }
            }
        }

        // Make the crops of what changed; nothing is committed unless every entry
        // keeps a face.
        let mut exported = Vec::new();
        let mut touched = dedup(to_export);
        let dirs: Vec<String> = touched
            .iter()
            .filter_map(|n| self.entry(n).map(|e| e.dir().to_string()))
            .collect();
        self.stage(&dirs)?;
        // Entries that gain faces first, while the crops of those faces are still in
        // the folders they leave.
        touched.sort_by_key(|name| {
            let entry = self.entry(name).expect("named by the decision");
            let had: std::collections::HashSet<&str> = entry
                .export
                .faces
                .iter()
                .map(|f| f.face.key.as_str())
                .collect();
            let members = entry.review.members(
                &proposed
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| entry.face_rows()),
            );
            !members.iter().any(|f| !had.contains(f.key.as_str()))
        });
        for name in &touched {
            let neighbours: Vec<String> = touched.iter().filter(|n| *n != name).cloned().collect();
            self.export_entry(name, proposed.remove(name), faces, options, &neighbours)
                .map_err(|e| match e {
                    Error::Decision { why, .. } => refuse(why),
                    other => other,
                })?;
            exported.push(name.clone());
        }
        let seq = self.records.last().map_or(0, |r| r.seq) + 1;
        let record = Record {
            seq,
            at: now(),
            decision,
            undoes,
            redoes,
            before,
            rows_before,
            created: created.clone(),
            accepted,
        };
        Ok((
            record,
            Applied {
                revision: self.revision,
                description,
                exported,
                created,
            },
        ))
    }

    /// `decision` for a person: identities by their label, faces by identity and
    /// rank ("face #3 of Ann"), never by key.
    fn describe(&self, decision: &Decision) -> String {
        let who = |name: &str| match self.entry(name) {
            Some(e) if e.display_label() != name => {
                format!("{} ({name})", review::short(e.display_label()))
            }
            _ => review::short(name),
        };
        let face = |key: &str| {
            self.entries()
                .find_map(|e| {
                    e.export.faces.iter().find(|f| f.face.key == key).map(|f| {
                        format!("face #{} of {}", f.rank, review::short(e.display_label()))
                    })
                })
                .unwrap_or_else(|| "a face in no identity".into())
        };
        decision.describe_with(&who, &face)
    }

    fn entry_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.manifest
            .facesets
            .iter_mut()
            .chain(&mut self.manifest.thin_eras)
            .find(|e| e.export.name == name)
    }

    /// Exports entry `name` with the members its review gives: its faces as they
    /// stand (or `proposed`), plus those put in by hand, less those taken out. It is
    /// exported with the settings it was last exported with (`fallback` when none were
    /// recorded), reusing crops made with them, here or in `neighbours` (the other
    /// entries the decision touches). Its bundles are named after its label when a
    /// person gave one; the views of the commit write them and remove the old ones.
    fn export_entry(
        &mut self,
        name: &str,
        proposed: Option<Vec<FaceRow>>,
        faces: &CacheFaces<'_>,
        fallback: &SwapOptions,
        neighbours: &[String],
    ) -> Result<()> {
        let entry = self.entry(name).expect("named by the decision");
        let members = entry
            .review
            .members(&proposed.unwrap_or_else(|| entry.face_rows()));
        if members.is_empty() {
            return Err(Error::Decision {
                decision: String::new(),
                why: format!("{name} would be left with no face (merge it into another instead)"),
            });
        }
        let options = entry
            .exported_with
            .as_ref()
            .map_or(fallback, |s| &s.options)
            .clone();
        let settings = self.settings(&options);
        let reuse_crops = std::iter::once(name)
            .chain(neighbours.iter().map(String::as_str))
            .filter_map(|n| self.entry(n))
            .filter(|e| e.exported_with.as_ref() == Some(&settings))
            .map(|e| e.dir().to_string())
            .collect();
        let faceset = Faceset::of(name.to_string(), members);
        let chosen = entry.review.exempt_from_outlier_gate();
        let request = ExportRequest {
            faceset: &faceset,
            dir: entry.dir().to_string(),
            bundle_stem: entry.bundle_stem(),
            label: entry.export.label.clone(),
            chosen: &chosen,
            reuse_crops,
        };
        let outcome = export_faceset(faces, &request, &self.dir, &options, self.check.as_ref())?;
        if outcome.is_empty() {
            return Err(Error::Decision {
                decision: String::new(),
                why: format!("{name} would keep no crop (every face fails the export gates)"),
            });
        }
        let entry = self.entry_mut(name).expect("named by the decision");
        let (keep_dir, keep_label) = (entry.export.dir.take(), entry.export.label.take());
        // Faces the gates dropped before stay listed (this export saw only the members),
        // unless they are members now or a person took them out.
        let mut outcome = outcome;
        let listed: std::collections::BTreeSet<String> = outcome
            .export
            .faces
            .iter()
            .map(|f| f.face.key.clone())
            .chain(outcome.export.dropped.iter().map(|d| d.face.key.clone()))
            .collect();
        outcome.export.dropped.extend(
            std::mem::take(&mut entry.export.dropped)
                .into_iter()
                .filter(|d| {
                    !listed.contains(&d.face.key)
                        && !entry.review.excluded.contains_key(&d.face.key)
                }),
        );
        entry.export = outcome.export;
        entry.export.dir = keep_dir;
        entry.export.label = keep_label;
        entry.centroid = outcome.centroid;
        entry.errors = outcome.errors;
        entry.exported_with = Some(settings);
        entry.provenance.updated = now();
        Ok(())
    }
}

/// Notes `entry`'s review and faces before a decision changes them, for its undo.
fn remember(
    before: &mut BTreeMap<String, Review>,
    rows_before: &mut BTreeMap<String, Vec<FaceRow>>,
    name: &str,
    entry: &Entry,
) {
    before
        .entry(name.to_string())
        .or_insert_with(|| entry.review.clone());
    rows_before
        .entry(name.to_string())
        .or_insert_with(|| entry.face_rows());
}

/// The face `key` among `entry`'s members, if it is one.
fn member(entry: &Entry, key: &str) -> Option<FaceRow> {
    entry
        .review
        .members(&entry.face_rows())
        .into_iter()
        .find(|f| f.key == key)
}

fn no_entry(name: &str) -> String {
    format!("the library has no identity {}", review::short(name))
}

/// The most characters of a name or label a label may have.
pub const MAX_LABEL_CHARS: usize = 100;

/// `label` as a person's name for an identity, trimmed, or why it cannot be one: it
/// names the identity's bundles and marker file, so it must make a file name.
pub fn check_label(label: &str) -> std::result::Result<String, String> {
    let label = label.trim();
    let chars = label.chars().count();
    if label.is_empty() {
        Err("a name cannot be empty".into())
    } else if chars > MAX_LABEL_CHARS {
        Err(format!(
            "a name can have at most {MAX_LABEL_CHARS} characters (this one has {chars})"
        ))
    } else if label.chars().any(char::is_control) {
        Err("a name cannot hold control characters (tabs, line breaks)".into())
    } else if label.contains(['/', '\\']) {
        Err("a name cannot hold / or \\ (it names the identity's files)".into())
    } else if label.chars().all(|c| c == '.') {
        Err("a name cannot be only dots".into())
    } else {
        Ok(label.to_string())
    }
}

fn dedup(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}
