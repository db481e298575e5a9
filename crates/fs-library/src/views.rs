//! The library as a database: taking the writer lock, committing a change, and the
//! views of the state (`manifest.json`, `decisions.jsonl`, each identity's folder),
//! written after each commit and put right on open.
//!
//! A change goes: lock → move to the newest revision → mark the folders it will write
//! (`pending`) → write new crops only (nothing committed is replaced or removed) →
//! commit → write the views of the folders it changed → clear the marks → unlock. A
//! crash at any point leaves marks; whoever takes the lock next makes those folders
//! show the committed state again: an uncommitted change's crops and folders go, a
//! committed one's bundles and manifests are written.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use fs_export::swap::{CacheFaces, SWAP_MANIFEST, SwapOptions};

use crate::error::{Error, Result};
use crate::lock::WriterLock;
use crate::review::{DECISIONS_FILE, Record};
use crate::store::{DATABASE, Store};
use crate::{
    Entry, Library, LibraryManifest, VERSION, read_manifest_versioned, safe_label, write_file,
};

/// The marker a merged-away identity's folder keeps (its bundles are removed).
pub const MERGED_MARKER: &str = "MERGED.txt";

impl Library {
    /// Reads the newest state from the database, importing a legacy manifest the first
    /// time.
    pub(crate) fn load(&mut self) -> Result<()> {
        let db = self.dir.join(DATABASE);
        if self.store.is_none() && db.is_file() {
            self.store = Some(Store::open(&db)?);
        }
        let initialised = match &self.store {
            Some(store) => store.is_initialised()?,
            None => false,
        };
        if !initialised && self.dir.join(SWAP_MANIFEST).is_file() {
            self.import()?;
            return Ok(());
        }
        if let Some(store) = &mut self.store
            && initialised
        {
            let snapshot = store.load()?;
            self.revision = snapshot.revision;
            self.records = snapshot.records;
            self.committed = snapshot.manifest;
            self.manifest = self.committed.clone();
        }
        Ok(())
    }

    /// Imports the `manifest.json` (any version this build reads) and `decisions.jsonl`
    /// of a library that has no database yet, once, under the writer lock.
    fn import(&mut self) -> Result<()> {
        let path = self.dir.join(SWAP_MANIFEST);
        // Read and checked before anything is written: a manifest this build cannot
        // read leaves the folder as it was.
        let (manifest, version) = read_manifest_versioned(&path)?;
        let log = crate::review::DecisionLog::open(&self.dir)?;
        let lock = self.take_lock()?;
        let db = self.dir.join(DATABASE);
        let mut store = match self.store.take() {
            Some(store) => store,
            None => Store::open(&db)?,
        };
        if !store.is_initialised()? {
            // The old files stay beside the database, as they were.
            let keep = |name: &str, kept: String| -> Result<()> {
                let from = self.dir.join(name);
                let to = self.dir.join(kept);
                if from.is_file() && !to.exists() {
                    fs::copy(&from, &to).map_err(|source| Error::Io {
                        path: to,
                        action: "keep a copy of the old file",
                        source,
                    })?;
                }
                Ok(())
            };
            keep(SWAP_MANIFEST, format!("manifest.v{version}.json"))?;
            keep(DECISIONS_FILE, format!("decisions.v{version}.jsonl"))?;
            let revision = log.revision();
            store.import(
                &manifest,
                log.records(),
                revision,
                &format!("manifest.json version {version}"),
            )?;
            self.healed.push(format!(
                "imported {} identities and {} decisions from manifest.json version {version} \
                 into {DATABASE} (the old files are kept as manifest.v{version}.json)",
                manifest.facesets.len() + manifest.thin_eras.len(),
                log.records().len()
            ));
        }
        let snapshot = store.load()?;
        self.store = Some(store);
        self.revision = snapshot.revision;
        self.records = snapshot.records;
        self.committed = snapshot.manifest;
        self.manifest = self.committed.clone();
        self.lock = Some(lock);
        self.write_top_views()?;
        self.lock = None;
        Ok(())
    }

    /// Takes the writer lock for this value.
    fn take_lock(&self) -> Result<WriterLock> {
        fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            action: "create the library folder",
            source,
        })?;
        let notice = |holder: &crate::Holder| {
            if let Some(notice) = &self.on_busy {
                notice(holder);
            } else {
                tracing::warn!("library busy: {holder}; waiting");
            }
        };
        WriterLock::acquire(&self.dir, &self.writer, self.busy_timeout, &notice)
    }

    /// Puts right what an interrupted change left, when no other writer is at work
    /// (its marks may be its own work in progress).
    pub(crate) fn heal_if_free(&mut self) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        if store.load_pending()?.is_empty() && self.top_views_current() {
            return Ok(());
        }
        let Ok(lock) =
            WriterLock::acquire(&self.dir, &self.writer, std::time::Duration::ZERO, &|_| {})
        else {
            return Ok(());
        };
        self.lock = Some(lock);
        self.load()?;
        let healed = self.heal(None);
        self.lock = None;
        healed
    }

    /// Starts a change, once: takes the writer lock, moves to the newest revision and
    /// puts right what an interrupted change left (remaking missing crops from `faces`
    /// when given).
    pub(crate) fn begin(&mut self, faces: Option<&CacheFaces<'_>>) -> Result<()> {
        if self.views_due {
            self.finish()?;
        }
        if self.lock.is_some() {
            return Ok(());
        }
        let lock = self.take_lock()?;
        if self.store.is_none() {
            self.store = Some(Store::open(&self.dir.join(DATABASE))?);
        }
        self.lock = Some(lock);
        // The working copy changes only under the lock, so it is the committed state
        // here; that may be an older revision than the database's.
        if self.current_revision()? != self.revision {
            self.load()?;
        }
        self.heal(faces)
    }

    /// Marks `dirs` as being written by the change under way.
    pub(crate) fn stage(&mut self, dirs: &[String]) -> Result<()> {
        let new: Vec<String> = dirs
            .iter()
            .filter(|d| !self.touched.contains(*d))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let store = self.store.as_mut().expect("a change has begun");
        store.mark_pending(&new, self.revision + 1)?;
        self.touched.extend(new);
        Ok(())
    }

    /// Commits the change under way (with `record` for a decision), writes its views
    /// and ends it; returns the revision now.
    pub(crate) fn commit(&mut self, record: Option<Record>) -> Result<u64> {
        if self.lock.is_none() {
            return Ok(self.revision);
        }
        let decision = record.is_some();
        let changed = changed_dirs(&self.committed, &self.manifest);
        if !changed.is_empty() || record.is_some() || self.manifest != self.committed {
            let dirs: Vec<String> = changed.iter().map(|c| c.dir.clone()).collect();
            let store = self.store.as_mut().expect("a change has begun");
            let committed = store.commit(
                self.revision,
                &self.committed,
                &self.manifest,
                &dirs,
                record.as_ref(),
            );
            match committed {
                Ok(revision) => {
                    self.revision = revision;
                    self.records.extend(record);
                    catch_up(&mut self.committed, &self.manifest, &changed);
                    debug_assert!(self.committed == self.manifest);
                    for Changed { dir, files } in changed {
                        if files {
                            self.touched.insert(dir);
                        } else {
                            self.relabelled.insert(dir);
                        }
                    }
                }
                Err(e) => {
                    self.abandon();
                    return Err(e);
                }
            }
        }
        if self.deferred_views && decision {
            self.views_due = true;
            return Ok(self.revision);
        }
        self.finish().map(|()| self.revision)
    }

    /// Writes the views a committed change left to write and releases the writer lock
    /// (see [`Library::with_deferred_views`]); nothing to do when none are due.
    pub fn finish(&mut self) -> Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        self.views_due = false;
        // The change is committed: a folder whose views cannot all be written now is
        // not its failure, and stays marked to be put right by the next writer.
        let finished = self.write_views_of_touched().and_then(|missing| {
            for why in &missing {
                tracing::warn!("{why}");
            }
            if missing.is_empty() {
                self.store
                    .as_mut()
                    .expect("a change has begun")
                    .clear_pending()
            } else {
                Ok(())
            }
        });
        self.touched.clear();
        self.relabelled.clear();
        self.lock = None;
        self.clear_staging();
        finished
    }

    /// Rolls the change under way back: the working copy becomes the committed state
    /// again and the folders it touched show that state. Never fails: what cannot be
    /// put right now stays marked for the next writer.
    pub(crate) fn abandon(&mut self) {
        if self.lock.is_none() {
            return;
        }
        if self.views_due {
            // Committed: only its views are left to write.
            let _ = self.finish();
            return;
        }
        self.manifest = self.committed.clone();
        if self
            .write_views_of_touched()
            .is_ok_and(|missing| missing.is_empty())
            && let Some(store) = self.store.as_mut()
        {
            let _ = store.clear_pending();
        }
        self.touched.clear();
        self.relabelled.clear();
        self.lock = None;
    }

    /// Writes the views of every folder the change touched, and the top-level views.
    /// Returns the folders whose crops are missing: they stay marked, for the next
    /// writer with the cache.
    fn write_views_of_touched(&mut self) -> Result<Vec<String>> {
        let dirs: Vec<String> = self.touched.iter().cloned().collect();
        let mut missing = Vec::new();
        for dir in &dirs {
            if let Some(why) = self.write_folder_views(dir, None)? {
                missing.push(why);
            }
        }
        // Only a decision about them changed (a lock, a name): their crops, bundles and
        // manifest are as they were; their markers follow.
        for dir in self.relabelled.difference(&self.touched) {
            if let Some(entry) = self.committed_entries().find(|e| e.dir() == *dir) {
                write_markers(&self.dir.join(dir), entry)?;
            }
        }
        self.write_top_views()?;
        Ok(missing)
    }

    /// Puts right the folders an interrupted change marked, and the top-level views.
    fn heal(&mut self, faces: Option<&CacheFaces<'_>>) -> Result<()> {
        let store = self.store.as_mut().expect("the lock is held");
        let pending = store.load_pending()?;
        let top_stale = !self.top_views_current();
        if pending.is_empty() && !top_stale {
            return Ok(());
        }
        let mut left = Vec::new();
        for dir in &pending {
            match self.write_folder_views(dir, faces)? {
                None => self
                    .healed
                    .push(format!("{dir}: put right after an interrupted change")),
                Some(why) => left.push(why),
            }
        }
        if top_stale {
            self.write_top_views()?;
            self.healed
                .push(format!("{SWAP_MANIFEST}: written again from {DATABASE}"));
        }
        let store = self.store.as_mut().expect("the lock is held");
        if left.is_empty() {
            store.clear_pending()?;
        } else {
            // Kept marked: a writer with the cache makes the crops again.
            self.healed.extend(left);
        }
        Ok(())
    }

    /// Makes the folder `dir` show the committed state: the views of the entry that has
    /// it, or, when none has (an uncommitted new identity, an undone split), none of
    /// the library's files. Returns why it could not when crops are missing and cannot
    /// be made again here.
    fn write_folder_views(
        &self,
        dir: &str,
        faces: Option<&CacheFaces<'_>>,
    ) -> Result<Option<String>> {
        let folder = self.dir.join(dir);
        let Some(entry) = self.committed_entries().find(|e| e.dir() == dir) else {
            remove_library_files(&folder)?;
            return Ok(None);
        };
        let options = entry
            .exported_with
            .as_ref()
            .map(|s| s.options.clone())
            .unwrap_or_default();
        let missing = match faces {
            Some(faces) => {
                let failed = fs_export::swap::remake_crops(
                    faces,
                    &self.dir,
                    &entry.export,
                    &options,
                    self.check.as_ref(),
                )?;
                for (key, why) in &failed {
                    tracing::warn!("{dir}: crop of {key} cannot be made again: {why}");
                }
                failed.len()
            }
            None => fs_export::swap::missing_crops(&self.dir, &entry.export).len(),
        };
        if missing > 0 {
            return Ok(Some(format!(
                "{dir}: {missing} crops missing (made again by the next run or decision with its cache)"
            )));
        }
        write_entry_views(&self.dir, entry, &options)?;
        Ok(None)
    }

    fn committed_entries(&self) -> impl Iterator<Item = &Entry> {
        self.committed
            .facesets
            .iter()
            .chain(&self.committed.thin_eras)
    }

    /// Whether `manifest.json` and `decisions.jsonl` show the committed state (the
    /// database records the revision its views were written at).
    fn top_views_current(&self) -> bool {
        let Some(store) = &self.store else {
            return true;
        };
        store.views_revision().ok() == Some(self.revision) && self.dir.join(SWAP_MANIFEST).is_file()
    }

    /// Writes `manifest.json` and `decisions.jsonl` from the committed state, unless
    /// they hold those bytes already.
    fn write_top_views(&mut self) -> Result<()> {
        let manifest = manifest_bytes(&self.committed);
        let path = self.dir.join(SWAP_MANIFEST);
        let written_at = self.store.as_ref().map(Store::views_revision).transpose()?;
        let behind = written_at != Some(self.revision);
        if behind {
            // A newer revision: the bytes differ, no need to read the old ones.
            write_file(&path, &manifest)?;
        } else {
            write_if_changed(&path, &manifest)?;
        }
        let path = self.dir.join(DECISIONS_FILE);
        if self.records.is_empty() {
            if path.is_file() {
                remove_file(&path)?;
            }
        } else {
            self.write_decisions_view(&path)?;
        }
        if let Some(store) = &self.store
            && behind
        {
            store.set_views_revision(self.revision)?;
        }
        Ok(())
    }

    /// `decisions.jsonl`: one line a decision. When the file holds exactly the lines
    /// written before the newest decision (as the database recorded), the newest is
    /// appended; else the whole file is written again.
    fn write_decisions_view(&mut self, path: &Path) -> Result<()> {
        let line = |record: &Record| {
            let mut line = serde_json::to_vec(record).expect("a record always serialises");
            line.push(b'\n');
            line
        };
        let store = self.store.as_mut().expect("written with a database");
        let size = fs::metadata(path).map(|m| m.len()).ok();
        let (count, bytes) = store.decisions_view()?;
        if Some((count, bytes)) == size.map(|s| (self.records.len() as u64, s)) {
            return Ok(());
        }
        let appendable = size == Some(bytes) && count + 1 == self.records.len() as u64;
        let written = if appendable {
            let last = line(self.records.last().expect("one more than written"));
            let mut file = fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    action: "open",
                    source,
                })?;
            std::io::Write::write_all(&mut file, &last)
                .and_then(|()| file.sync_all())
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    action: "append",
                    source,
                })?;
            bytes + last.len() as u64
        } else {
            let mut log = Vec::new();
            for record in &self.records {
                log.extend(line(record));
            }
            write_if_changed(path, &log)?;
            log.len() as u64
        };
        store.set_decisions_view(self.records.len() as u64, written)
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        self.abandon();
        self.clear_staging();
    }
}

/// The manifest view: the state, as version [`VERSION`].
pub(crate) fn manifest_bytes(state: &LibraryManifest) -> Vec<u8> {
    debug_assert_eq!(state.version, VERSION);
    let mut json = serde_json::to_vec_pretty(state).expect("a manifest always serialises");
    json.push(b'\n');
    json
}

/// An entry that differs between two states.
pub(crate) struct Changed {
    /// Its folder.
    pub(crate) dir: String,
    /// Whether its files change (its export, or whether it is merged away), not only its
    /// markers (a lock, a label on an identity whose bundle names stay).
    pub(crate) files: bool,
}

/// The entries that differ between two states (added, removed or changed).
fn changed_dirs(old: &LibraryManifest, new: &LibraryManifest) -> Vec<Changed> {
    let differ = |a: &Entry, b: &Entry| {
        (a != b).then(|| Changed {
            dir: b.dir().to_string(),
            files: a.export != b.export || a.review.merged_into != b.review.merged_into,
        })
    };
    if old.same_layout(new) {
        // Entry by entry, in place: no index to build.
        return old
            .facesets
            .iter()
            .zip(&new.facesets)
            .chain(old.thin_eras.iter().zip(&new.thin_eras))
            .filter_map(|(a, b)| differ(a, b))
            .collect();
    }
    let index = |m: &LibraryManifest| -> std::collections::HashMap<String, usize> {
        m.facesets
            .iter()
            .chain(&m.thin_eras)
            .enumerate()
            .map(|(i, e)| (e.dir().to_string(), i))
            .collect()
    };
    let (before, after) = (index(old), index(new));
    let all: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    all.into_iter()
        .filter_map(|dir| match (before.get(dir), after.get(dir)) {
            (Some(&i), Some(&j)) => differ(entry_at(old, i), entry_at(new, j)),
            _ => Some(Changed {
                dir: dir.clone(),
                files: true,
            }),
        })
        .collect()
}

fn entry_at(m: &LibraryManifest, i: usize) -> &Entry {
    if i < m.facesets.len() {
        &m.facesets[i]
    } else {
        &m.thin_eras[i - m.facesets.len()]
    }
}

/// Makes `committed` equal to `working` again after a commit: the changed entries only,
/// when the layout stayed (a decision about one identity of hundreds), else whole.
fn catch_up(committed: &mut LibraryManifest, working: &LibraryManifest, changed: &[Changed]) {
    if !committed.same_layout(working) {
        *committed = working.clone();
        return;
    }
    let dirs: BTreeSet<&str> = changed.iter().map(|c| c.dir.as_str()).collect();
    for (old, new) in committed
        .facesets
        .iter_mut()
        .zip(&working.facesets)
        .chain(committed.thin_eras.iter_mut().zip(&working.thin_eras))
    {
        if dirs.contains(new.dir()) {
            old.clone_from(new);
        }
    }
    if committed.candidates != working.candidates {
        committed.candidates.clone_from(&working.candidates);
    }
    committed.calibrated.clone_from(&working.calibrated);
    if committed.not_faces != working.not_faces {
        committed.not_faces.clone_from(&working.not_faces);
    }
}

/// The files of one identity's folder: bundles (none once merged away, with a
/// [`MERGED_MARKER`] instead), its manifest, its crops and nothing else of ours, and the
/// marker of the label a person gave it.
fn write_entry_views(library: &Path, entry: &Entry, options: &SwapOptions) -> Result<()> {
    let merged = entry.review.merged_into.as_deref();
    fs_export::swap::write_views(library, &entry.export, options.top_n, merged.is_none())?;
    write_markers(&library.join(entry.dir()), entry)
}

/// The files of `folder` that follow its entry's review: no bundle but its own, the
/// marker of the label a person gave it and no other, the
/// merged note, and no temp file a killed write left.
fn write_markers(folder: &Path, entry: &Entry) -> Result<()> {
    let merged = entry.review.merged_into.as_deref();
    let listing = fs::read_dir(folder).map_err(|source| Error::Io {
        path: folder.to_path_buf(),
        action: "list",
        source,
    })?;
    let marker = entry
        .review
        .label
        .as_deref()
        .map(|l| format!("{}.txt", safe_label(l)));
    for file in listing.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        let path = file.path();
        let is = |ext: &str| {
            Path::new(&name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        };
        // Its own two are written, or removed once merged, with its other views.
        let stale_bundle =
            is("fsz") && name != entry.export.top_bundle && name != entry.export.all_bundle;
        let stale_label = is("txt")
            && Some(&name) != marker.as_ref()
            && fs::read_to_string(&path).is_ok_and(|t| is_label_marker(&t, &entry.export.name));
        let stale_merge = (name == MERGED_MARKER && merged.is_none())
            || (name.starts_with("MERGED_INTO_") && is("txt"));
        // A temp file of a write that was killed (the lock is ours: no write is under way).
        let torn = name.starts_with('.') && is("tmp");
        if stale_bundle || stale_label || stale_merge || torn {
            remove_file(&path)?;
        }
    }
    if let (Some(label), Some(marker)) = (&entry.review.label, &marker) {
        write_if_changed(
            &folder.join(marker),
            label_marker(&entry.export.name, label).as_bytes(),
        )?;
    }
    if let Some(into) = merged {
        write_if_changed(
            &folder.join(MERGED_MARKER),
            format!(
                "{} was merged into {into}; its faces are there now (its bundles are \
                 removed so roop-unleashed does not load this person twice)\n",
                entry.export.name
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

/// What the marker file of a label given by hand says.
pub(crate) fn label_marker(name: &str, label: &str) -> String {
    format!("{name}: {label} (named by hand)\n")
}

fn is_label_marker(text: &str, name: &str) -> bool {
    text.starts_with(&format!("{name}: ")) && text.ends_with(" (named by hand)\n")
}

/// Removes what the library writes in a folder no identity has (crops, bundles, its
/// manifest, markers), then the folder when nothing else is left in it.
fn remove_library_files(folder: &Path) -> Result<()> {
    let Ok(listing) = fs::read_dir(folder) else {
        return Ok(());
    };
    for file in listing.flatten() {
        let path = file.path();
        let ours = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "png" | "fsz" | "json" | "txt" | "tmp"));
        if ours && path.is_file() {
            remove_file(&path)?;
        }
    }
    let _ = fs::remove_dir(folder);
    Ok(())
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: path.to_path_buf(),
            action: "remove",
            source: e,
        }),
        _ => Ok(()),
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    fs_cache::atomic::write_if_changed(path, bytes).map_err(|source| crate::Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}
