//! The library: one `facesets_swap_ready/` folder that holds every identity a person
//! curates, from every source, and that every command grows and none breaks.
//!
//! [`Library`] is the only writer of the library's `manifest.json`. Each entry has a
//! stable name (`faceset_NNN`, never reused or renumbered), its provenance (which
//! workflow made it, from which sources, with which parameters, when), its exported
//! faces, and its centroid with the id of the model that made it.
//!
//! - **Ownership.** A writer refreshes only the entries of its own kind:
//!   [`Library::refresh_refined`] (`export-swap`, `run`) touches only [`Kind::Refined`]
//!   entries; the workflows only ever add entries of theirs.
//! - **No empty entries.** A faceset whose export keeps no crop is not added, and its
//!   number is not used; a refresh that would empty an entry leaves it as it was.
//! - **Idempotent.** Writing the same inputs twice leaves the manifest byte-identical:
//!   an entry's `updated` time changes only when its content does.
//! - **Versioned.** A manifest of an unknown or newer version is refused, naming the
//!   file and the version, and nothing is written.
//!
//! ```no_run
//! use fs_library::Library;
//! let library = Library::open("out/facesets_swap_ready")?;
//! for entry in library.entries() {
//!     println!("{} ({:?}): {} crops", entry.export.name, entry.provenance.kind, entry.export.faces.len());
//! }
//! # Ok::<(), fs_library::Error>(())
//! ```
#![warn(missing_docs)]

mod decide;
mod error;
mod legacy;
mod lock;
pub mod review;
mod store;
mod views;

use std::fs;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, FaceKey, ModelId};
use fs_cluster::Embeddings;
use fs_cluster::centroid::centroid;
use fs_export::swap::{
    CacheFaces, Candidate, CropCheck, ExportOutcome, ExportRequest, FacesetExport, SWAP_MANIFEST,
    SwapOptions, export_faceset, rescue_candidates,
};
use fs_identities::faces::FaceRow;
use fs_identities::manifest::{self, Faceset, RawManifest, RefineManifest};
use serde::{Deserialize, Serialize};

pub use decide::{Applied, MAX_LABEL_CHARS, check_label};
pub use error::{Error, Result};
pub use fs_packs::thresholds::{Origin, Thresholds};
pub use lock::{Holder, LOCK_FILE};
pub use review::{Decision, DecisionLog, RejectReason, Review};
pub use store::{DATABASE, SCHEMA};
pub use views::MERGED_MARKER;

/// Format version of the library manifest this build writes. Version 1 was the
/// `export-swap` manifest before the library had provenance; it is read and upgraded.
/// Version 3 added decisions made by hand (an entry's `review`, the `review` kind).
/// Version 4 is the same shape, written as a view of the library's database
/// ([`DATABASE`]); a library of version 1 to 3 is imported into it on first open.
pub const VERSION: u32 = 4;

/// How long a writer waits for another by default before it gives up.
pub const DEFAULT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(10);

/// Folder of era buckets too small to stand alone.
pub const THIN: &str = "_thin";

/// Which workflow made an entry; the only one that may refresh it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A refined faceset, exported by `export-swap` or `run` (and refreshed by them).
    Refined,
    /// A hand-sorted folder imported as one person.
    HandSorted,
    /// A new identity discovered in a mixed folder.
    Discovered,
    /// One era of an identity, split by EXIF year.
    Era,
    /// A new identity discovered in an Immich library.
    Immich,
    /// An identity made by hand in `face-sets review` (faces split off another).
    Review,
}

/// Where an entry came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The workflow that made it (and owns it).
    pub kind: Kind,
    /// Its label within that workflow: the refine faceset's name, the hand-sorted
    /// folder's label, the source's name, the era.
    pub label: String,
    /// The source roots its faces were taken from, when the workflow had any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<PathBuf>,
    /// The parameters the workflow used.
    #[serde(default)]
    pub params: serde_json::Value,
    /// The distances in force when it was made or last refreshed, and where their
    /// defaults came from; `None` for entries made before distances were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distances: Option<Distances>,
    /// The stem the workflow named its bundles with (`<stem>_all.fsz`) when not the
    /// entry's name; a label given by hand takes its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundles: Option<String>,
    /// When it was added (seconds since the Unix epoch; 0 when unknown).
    pub created: u64,
    /// When its content last changed.
    pub updated: u64,
}

/// The distances a command used, as recorded in an entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distances {
    /// The values in force (the defaults, or the flags that overrode them).
    pub values: Thresholds,
    /// Where the defaults came from: a pack's table, or this library's calibration.
    pub defaults: Origin,
}

/// Distances measured by `face-sets calibrate` on the user's own labelled folders and
/// kept as this library's defaults for embeddings of `model`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibrated {
    /// The model whose embeddings were measured.
    pub model: Option<ModelId>,
    /// The values.
    pub thresholds: Thresholds,
    /// People the measurement rests on.
    pub people: usize,
    /// Faces the measurement rests on.
    pub faces: usize,
    /// The false-match rate the values were chosen at.
    pub false_match_rate: f32,
    /// When (seconds since the Unix epoch).
    pub created: u64,
}

/// One identity of the library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its name, folder, crops (with their face keys), dropped faces and bundles; the
    /// same as the faceset folder's own `manifest.json`.
    #[serde(flatten)]
    pub export: FacesetExport,
    /// Where it came from.
    pub provenance: Provenance,
    /// Centroid of its exported faces (unit length); empty for an entry read from a
    /// version-1 manifest until it is refreshed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centroid: Vec<f32>,
    /// The model whose embeddings the centroid is in; `None` when the cache did not
    /// record one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelId>,
    /// Photos that could not be read when it was last exported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<(PathBuf, String)>,
    /// What a person decided about it; every later step keeps to it.
    #[serde(default, skip_serializing_if = "Review::is_empty")]
    pub review: Review,
    /// The settings its crops were made with; `None` for entries exported before they
    /// were recorded. A decision exports it again with these, and an export with the
    /// same ones reuses its crops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_with: Option<ExportSettings>,
}

/// The settings an entry's crops were made with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportSettings {
    /// The export options.
    pub options: SwapOptions,
    /// Whether each crop passed the roop re-detection ([`CropCheck`]).
    pub crop_check: bool,
}

impl Entry {
    /// The entry of an export, in the embedding space of `cache`'s model.
    fn exported(
        outcome: ExportOutcome,
        provenance: Provenance,
        cache: &Cache,
        settings: ExportSettings,
    ) -> Self {
        Self {
            export: outcome.export,
            provenance,
            centroid: outcome.centroid,
            model: cache.model().cloned(),
            errors: outcome.errors,
            review: Review::default(),
            exported_with: Some(settings),
        }
    }

    /// Its folder, relative to the library.
    pub fn dir(&self) -> &str {
        self.export.dir.as_deref().unwrap_or(&self.export.name)
    }

    /// Whether it is a canonical identity (not an era bucket, not merged into another):
    /// the identities new faces are matched against.
    pub fn is_canonical(&self) -> bool {
        self.provenance.kind != Kind::Era && self.review.merged_into.is_none()
    }

    /// The name a person gave it, else its workflow's label, else its name.
    pub fn display_label(&self) -> &str {
        self.review
            .label
            .as_deref()
            .or(self.export.label.as_deref())
            .unwrap_or(&self.export.name)
    }

    /// The stem its bundles are named with: its hand-given label, else its workflow's
    /// choice ([`Provenance::bundles`]), else its name.
    pub fn bundle_stem(&self) -> String {
        bundle_stem(
            &self.review,
            self.provenance
                .bundles
                .as_deref()
                .unwrap_or(&self.export.name),
        )
    }

    /// Its faces as exported, as rows.
    pub fn face_rows(&self) -> Vec<FaceRow> {
        self.export.faces.iter().map(|f| f.face.clone()).collect()
    }
}

/// `facesets_swap_ready/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryManifest {
    /// [`VERSION`].
    pub version: u32,
    /// Every identity, in the order they were added.
    pub facesets: Vec<Entry>,
    /// Era buckets too small to stand alone (under `_thin/`).
    #[serde(default)]
    pub thin_eras: Vec<Entry>,
    /// Singletons that resemble a refined faceset, offered for review (replaced by each
    /// refresh of the refined entries).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// This library's own distance defaults, when calibrated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<Calibrated>,
    /// Faces that joined no identity and that a person said are no face at all, by key,
    /// with why ([`Decision::NotAFace`]); no identity takes them or their copies.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub not_faces: std::collections::BTreeMap<String, String>,
}

impl Default for LibraryManifest {
    fn default() -> Self {
        Self {
            version: VERSION,
            facesets: Vec::new(),
            thin_eras: Vec::new(),
            candidates: Vec::new(),
            calibrated: None,
            not_faces: std::collections::BTreeMap::new(),
        }
    }
}

/// A new identity for [`Library::add`].
#[derive(Clone, Debug)]
pub struct NewFaceset {
    /// Its faces (its name is assigned by the library).
    pub faces: Vec<FaceRow>,
    /// The workflow adding it.
    pub kind: Kind,
    /// Its label within the workflow; names the bundles (`<label>_top30.fsz`) when
    /// `label_bundles`.
    pub label: String,
    /// The source roots its faces come from.
    pub sources: Vec<PathBuf>,
    /// The workflow's parameters, recorded in the provenance.
    pub params: serde_json::Value,
    /// Stem of the marker file written in its folder (`<marker>.txt`).
    pub marker: String,
    /// Name the bundles after the label instead of the faceset.
    pub label_bundles: bool,
    /// Put it under `_thin/` and list it in `thin_eras` (with a `THIN.txt` marker).
    pub thin: bool,
    /// Name suffix after `faceset_NNN` (e.g. an era `_2005-2010`), if any.
    pub suffix: String,
}

/// What a write did, for the user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Entries added, by name.
    pub added: Vec<String>,
    /// Entries whose content changed, by name.
    pub updated: Vec<String>,
    /// Entries refreshed to the same content.
    pub unchanged: Vec<String>,
    /// Facesets not added, or entries left as they were, because their export kept no
    /// crop: (name or label, why).
    pub left_out: Vec<(String, String)>,
    /// Photos that could not be read while cropping.
    pub errors: Vec<(PathBuf, String)>,
}

/// An opened `facesets_swap_ready/`.
///
/// Its state lives in `library.sqlite` ([`DATABASE`]); the value holds the state of
/// one revision and a working copy that the writing methods change. The first of them
/// takes the library's writer lock (waiting for another writer, see
/// [`Library::with_busy_timeout`]) and moves to the newest revision first, so a change
/// is always made on top of every change committed before it; [`Library::save`]
/// commits it in one transaction and writes the views (`manifest.json`, the folders,
/// `decisions.jsonl`), and releases the lock. A change dropped without saving is
/// rolled back, on disk too.
pub struct Library {
    dir: PathBuf,
    /// The working copy.
    manifest: LibraryManifest,
    /// The state as of `revision`.
    committed: LibraryManifest,
    revision: u64,
    records: Vec<review::Record>,
    store: Option<store::Store>,
    lock: Option<lock::WriterLock>,
    /// Folders the change being made writes to (marked pending in the database).
    touched: std::collections::BTreeSet<String>,
    /// Folders whose markers only the change being made alters.
    relabelled: std::collections::BTreeSet<String>,
    /// What opening healed (views put right after an interrupted change).
    healed: Vec<String>,
    writer: String,
    /// Decisions answer after their commit and leave their views to [`Library::finish`].
    deferred_views: bool,
    /// A committed change's views are still to write (the lock is held for them).
    views_due: bool,
    busy_timeout: std::time::Duration,
    on_busy: Option<BusyNotice>,
    check: Option<CropCheck>,
    distances: Option<Distances>,
    /// Crops made ahead by [`Library::prepare_refresh`] (a folder relative to the
    /// library), with the options they were made with.
    staging: Option<(String, SwapOptions)>,
}

/// Where [`Library::prepare_refresh`] makes crops ahead, in the library folder.
pub const STAGING: &str = ".staging";

/// Told who holds the library when a writer has to wait.
type BusyNotice = Box<dyn Fn(&Holder) + Send + Sync>;

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("dir", &self.dir)
            .field("revision", &self.revision)
            .field("entries", &self.manifest.facesets.len())
            .field("writing", &self.lock.is_some())
            .finish_non_exhaustive()
    }
}

impl Library {
    /// Opens the library in `dir`: its database, importing a version 1 to 4
    /// `manifest.json` (and `decisions.jsonl`) the first time, in one transaction, and
    /// keeping the old files beside it as `manifest.vN.json` and `decisions.vN.jsonl`.
    /// A folder with neither is an empty library, written on the first
    /// [`Library::save`]. Views left behind by an interrupted change are put right
    /// when no other writer is at work ([`Library::healed`] says what was done). An
    /// unknown or newer manifest or database is refused and nothing is written.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let mut library = Self {
            manifest: LibraryManifest::default(),
            committed: LibraryManifest::default(),
            revision: 0,
            records: Vec::new(),
            store: None,
            lock: None,
            touched: std::collections::BTreeSet::new(),
            relabelled: std::collections::BTreeSet::new(),
            healed: Vec::new(),
            writer: "a face-sets program".into(),
            deferred_views: false,
            views_due: false,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            on_busy: None,
            check: None,
            distances: None,
            staging: None,
            dir,
        };
        library.load()?;
        library.heal_if_free()?;
        Ok(library)
    }

    /// Names this program in the lock file while it writes ("face-sets run"), so a
    /// second writer can say whom it waits for.
    #[must_use]
    pub fn with_writer_name(mut self, name: impl Into<String>) -> Self {
        self.writer = name.into();
        self
    }

    /// Lets [`Library::decide`] return as soon as the decision is committed, leaving
    /// the views it changed (bundles, manifests, markers) and the writer lock to
    /// [`Library::finish`], which the next change, [`Library::reload`] and dropping the
    /// value also call. For a server that answers a decision first and writes its
    /// views after: a crash between the two is healed on the next open.
    #[must_use]
    pub fn with_deferred_views(mut self, deferred: bool) -> Self {
        self.deferred_views = deferred;
        self
    }

    /// How long a write waits for another writer before it fails with
    /// [`Error::Busy`] ([`DEFAULT_BUSY_TIMEOUT`] by default).
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Calls `notice` once with the holder when a write has to wait for another.
    #[must_use]
    pub fn with_busy_notice(mut self, notice: impl Fn(&Holder) + Send + Sync + 'static) -> Self {
        self.on_busy = Some(Box::new(notice));
        self
    }

    /// The revision of the state this value holds: 0 for a library never written,
    /// then one more with every change committed (a decision, a run that changed
    /// something, an import).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The revision committed last, read from the database now (another process may
    /// have committed since this value was opened).
    pub fn current_revision(&self) -> Result<u64> {
        self.store.as_ref().map_or(Ok(0), store::Store::revision)
    }

    /// What opening or the last write put right after an interrupted change, one line
    /// each.
    pub fn healed(&self) -> &[String] {
        &self.healed
    }

    /// Records `distances` in the provenance of every entry this library adds or
    /// refreshes from now on.
    #[must_use]
    pub fn with_distances(mut self, distances: Distances) -> Self {
        self.distances = Some(distances);
        self
    }

    /// This library's calibrated distances for embeddings of `model`, if it has some
    /// for that model.
    pub fn calibrated_for(&self, model: Option<&ModelId>) -> Option<Thresholds> {
        self.manifest
            .calibrated
            .as_ref()
            .filter(|c| c.model.as_ref() == model)
            .map(|c| c.thresholds)
    }

    /// The distance defaults for embeddings of `model` in this library: its calibrated
    /// ones for that model, else [`pack_distances`].
    pub fn distances_for(&self, model: Option<&ModelId>) -> (Thresholds, Origin) {
        match self.calibrated_for(model) {
            Some(calibrated) => (
                calibrated,
                Origin::Calibrated(self.dir.display().to_string()),
            ),
            None => pack_distances(model),
        }
    }

    /// Keeps `calibrated` as this library's distance defaults (replacing earlier ones).
    /// Call [`Library::save`] to write it.
    pub fn set_calibrated(&mut self, calibrated: Calibrated) -> Result<()> {
        self.begin(None)?;
        self.manifest.calibrated = Some(calibrated);
        Ok(())
    }

    /// Re-detects every crop it exports as roop-unleashed will, keeping only crops in
    /// which exactly the target's face is found ([`CropCheck`]).
    #[must_use]
    pub fn with_crop_check(mut self, check: CropCheck) -> Self {
        self.check = Some(check);
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &LibraryManifest {
        &self.manifest
    }

    /// Every entry, thin eras included.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.manifest
            .facesets
            .iter()
            .chain(&self.manifest.thin_eras)
    }

    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries().find(|e| e.export.name == name)
    }

    /// Whether an entry of this kind and label exists already.
    pub fn has_label(&self, kind: Kind, label: &str) -> bool {
        self.entries()
            .any(|e| e.provenance.kind == kind && e.provenance.label == label)
    }

    /// One past the highest `faceset_NNN` in the manifest or on disk (in the library
    /// or under `_thin/`), so a new entry never takes a folder that exists.
    pub fn next_number(&self) -> usize {
        let in_manifest = self
            .entries()
            .filter_map(|e| leading_number(&e.export.name));
        let on_disk = [self.dir.clone(), self.dir.join(THIN)]
            .into_iter()
            .filter_map(|d| fs::read_dir(d).ok())
            .flatten()
            .flatten()
            .filter_map(|e| leading_number(&e.file_name().to_string_lossy()));
        in_manifest.chain(on_disk).max().unwrap_or(0) + 1
    }

    /// The canonical identities (not era buckets, not thin) with their centroids, for
    /// matching new faces of `model` against. An entry made by another model is an
    /// error, never a silent mismatch. Entries read from a version-1 manifest have no
    /// stored centroid; theirs is computed from whichever of `caches` holds their faces.
    pub fn known_identities(
        &self,
        model: Option<&ModelId>,
        caches: &[&Cache],
    ) -> Result<Vec<(String, Vec<f32>)>> {
        let mut known = Vec::new();
        for entry in self.manifest.facesets.iter().filter(|e| e.is_canonical()) {
            if let (Some(own), Some(asked)) = (&entry.model, model)
                && own != asked
            {
                return Err(Error::ModelMismatch {
                    path: self.dir.join(SWAP_MANIFEST),
                    entry: entry.export.name.clone(),
                    library: Box::new(own.clone()),
                    requested: Box::new(asked.clone()),
                });
            }
            let centre = if entry.centroid.is_empty() {
                centroid_from_caches(&entry.export, caches)
            } else {
                Some(entry.centroid.clone())
            };
            if let Some(centre) = centre {
                known.push((entry.export.name.clone(), centre));
            }
        }
        Ok(known)
    }

    /// Adds new identities: each is exported into a new folder numbered past the
    /// highest existing `faceset_NNN`, with its marker file. Faces a person rejected as
    /// no face, and (except in eras) faces a person put in an identity, are left out.
    /// One whose export keeps no crop is left out (listed in [`Changes::left_out`]) and
    /// uses no number. Existing entries are never touched. Call [`Library::save`] to write the manifest.
    pub fn add(
        &mut self,
        cache: &Cache,
        new: &[NewFaceset],
        options: &SwapOptions,
    ) -> Result<Changes> {
        let mut changes = Changes::default();
        let now = now();
        let faces = CacheFaces::of(cache);
        self.begin(Some(&faces))?;
        let not_faces = self.not_faces();
        let placed = self.placed();
        for n in new {
            let name = format!(
                "{}{}",
                manifest::numbered("faceset", self.next_number()),
                n.suffix
            );
            // What a person said is no face is no face for any identity, and a face a
            // person put in an identity stays there (an era, a view of one identity,
            // keeps the faces put in that identity).
            let members: Vec<FaceRow> = n
                .faces
                .iter()
                .filter(|f| !not_faces.contains(f.key.as_str()))
                .filter(|f| !is_copy_of_any(&faces, &f.key, &not_faces))
                .filter(|f| n.kind == Kind::Era || !placed.contains_key(&f.key))
                .cloned()
                .collect();
            let faceset = Faceset::of(name.clone(), members);
            let request = ExportRequest {
                faceset: &faceset,
                dir: if n.thin {
                    format!("{THIN}/{name}")
                } else {
                    name.clone()
                },
                bundle_stem: if n.label_bundles {
                    n.label.clone()
                } else {
                    name.clone()
                },
                label: Some(n.label.clone()),
                chosen: &std::collections::BTreeSet::new(),
                reuse_crops: Vec::new(),
            };
            self.stage(std::slice::from_ref(&request.dir))?;
            let outcome =
                export_faceset(&faces, &request, &self.dir, options, self.check.as_ref())?;
            changes.errors.extend(outcome.errors.iter().cloned());
            if outcome.is_empty() {
                changes
                    .left_out
                    .push((n.label.clone(), empty_reason(&outcome)));
                continue;
            }
            let folder = self.dir.join(&request.dir);
            let marker = folder.join(format!("{}.txt", safe_label(&n.marker)));
            let note = format!(
                "{name}: {} faces from {}\n",
                outcome.export.faces.len(),
                n.label
            );
            write_file(&marker, note.as_bytes())?;
            if n.thin {
                write_file(
                    &folder.join("THIN.txt"),
                    b"fewer faces than an era needs; kept for review\n",
                )?;
            }
            let entry = Entry::exported(
                outcome,
                Provenance {
                    kind: n.kind,
                    label: n.label.clone(),
                    sources: n.sources.clone(),
                    params: n.params.clone(),
                    distances: self.distances.clone(),
                    bundles: n.label_bundles.then(|| n.label.clone()),
                    created: now,
                    updated: now,
                },
                cache,
                self.settings(options),
            );
            if n.thin {
                self.manifest.thin_eras.push(entry);
            } else {
                self.manifest.facesets.push(entry);
            }
            changes.added.push(name);
        }
        Ok(changes)
    }

    /// Makes the crops [`Library::refresh_refined`] will need for `refine` and that no
    /// folder of the library holds yet, before the writer lock is taken: decoding the
    /// photos of new faces is the long part of a refresh, and other writers (a review
    /// page) need not wait for it. The refresh that follows with the same `options`
    /// reads them; they are removed when it is saved. Returns how many were made.
    pub fn prepare_refresh(
        &mut self,
        cache: &Cache,
        refine: &RefineManifest,
        options: &SwapOptions,
    ) -> usize {
        let staging = format!("{STAGING}/{}", std::process::id());
        self.clear_staging();
        // What earlier programs killed mid-way left (not another one's work under way:
        // an hour is far longer than a refresh takes to begin).
        if let Ok(old) = fs::read_dir(self.dir.join(STAGING)) {
            for dir in old.flatten() {
                let stale = dir
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
                if stale {
                    let _ = fs::remove_dir_all(dir.path());
                }
            }
        }
        let folders: Vec<String> = self.entries().map(|e| e.dir().to_string()).collect();
        // Faces an export dropped before (a gate, a visual duplicate) or a person took
        // out have no crop and need none: they would be decoded on every run.
        let settled: std::collections::HashSet<&str> = self
            .entries()
            .flat_map(|e| {
                e.export
                    .dropped
                    .iter()
                    .map(|d| d.face.key.as_str())
                    .chain(e.review.excluded.keys().map(String::as_str))
            })
            .collect();
        let faces = CacheFaces::of(cache);
        // Only the faces the export's gates will keep (not outliers, small faces or
        // visual duplicates of better ones).
        let kept: Vec<String> = refine
            .facesets
            .iter()
            .flat_map(|f| fs_export::swap::exported_keys(&faces, f, options))
            .collect();
        let keys: Vec<&str> = kept
            .iter()
            .map(String::as_str)
            .filter(|key| !settled.contains(key))
            .collect();
        let made = fs_export::swap::prepare_crops(
            &faces,
            &keys,
            &self.dir,
            &folders,
            &staging,
            options,
            self.check.as_ref(),
        );
        self.staging = Some((staging, options.clone()));
        made
    }

    /// Removes the crops made ahead, once used.
    pub(crate) fn clear_staging(&mut self) {
        if let Some((staging, _)) = self.staging.take() {
            let _ = fs::remove_dir_all(self.dir.join(staging));
            let _ = fs::remove_dir(self.dir.join(STAGING));
        }
    }

    /// Exports the facesets of a refine manifest as the library's [`Kind::Refined`]
    /// entries, and nothing else.
    ///
    /// A faceset already in the library (same refine name) is refreshed in its folder,
    /// under its library name. A new one takes its refine name when no entry or folder
    /// has it, else the next free number. A faceset whose export keeps no crop is not
    /// added, and an entry it would empty is left as it was. Entries of other kinds,
    /// thin eras, and refined entries the refine manifest no longer lists are never
    /// touched. With `options.candidates` and a `raw` manifest, singletons resembling a
    /// refined entry are rescued into `_candidates/`.
    pub fn refresh_refined(
        &mut self,
        cache: &Cache,
        refine: &RefineManifest,
        raw: Option<&RawManifest>,
        options: &SwapOptions,
    ) -> Result<Changes> {
        let mut changes = Changes::default();
        let now = now();
        let faces = CacheFaces::of(cache);
        // On the newest state: decisions made while this run worked are kept.
        self.begin(Some(&faces))?;
        let params = serde_json::json!({ "refine": refine.params, "export": options });
        let settings = self.settings(options);
        // Each faceset's entry, found once: entries added below go to the end, so these
        // indices stay valid.
        let existing: Vec<Option<usize>> = refine
            .facesets
            .iter()
            .map(|faceset| {
                self.manifest.facesets.iter().position(|e| {
                    e.provenance.kind == Kind::Refined && e.provenance.label == faceset.name
                })
            })
            .collect();
        // Decisions made by hand: the faces of an entry merged into another go to that
        // one, and a face pinned to one entry is proposed to no other.
        let mut merged_in: std::collections::HashMap<String, Vec<FaceRow>> =
            std::collections::HashMap::new();
        for (faceset, existing) in refine.facesets.iter().zip(&existing) {
            if let Some(i) = *existing
                && let Some(into) = &self.manifest.facesets[i].review.merged_into
            {
                merged_in
                    .entry(into.clone())
                    .or_default()
                    .extend(faceset.faces.iter().cloned());
            }
        }
        let not_faces = self.not_faces();
        let pinned = self.placed();
        let dirs: Vec<String> = existing
            .iter()
            .flatten()
            .map(|&i| self.manifest.facesets[i].dir().to_string())
            .collect();
        self.stage(&dirs)?;
        for (faceset, &existing) in refine.facesets.iter().zip(&existing) {
            let review = existing
                .map(|i| self.manifest.facesets[i].review.clone())
                .unwrap_or_default();
            if let Some(i) = existing
                && (review.locked || review.merged_into.is_some())
            {
                // Its members change only by hand (or it lives on in another entry).
                changes
                    .unchanged
                    .push(self.manifest.facesets[i].export.name.clone());
                continue;
            }
            let name = match existing {
                Some(i) => self.manifest.facesets[i].export.name.clone(),
                None if self.is_free(&faceset.name) => faceset.name.clone(),
                None => manifest::numbered("faceset", self.next_number()),
            };
            // A face a person rejected keeps its copies out too (a re-encode, a resize).
            let rejected: std::collections::HashSet<String> = review
                .excluded
                .iter()
                .filter(|(_, why)| why.starts_with(review::REJECTED))
                .map(|(key, _)| key.clone())
                .chain(not_faces.iter().cloned())
                .collect();
            let mut proposed: Vec<FaceRow> = faceset
                .faces
                .iter()
                .filter(|f| {
                    pinned.get(&f.key).is_none_or(|owner| *owner == name)
                        && !not_faces.contains(&f.key)
                        && !is_copy_of_any(&faces, &f.key, &rejected)
                })
                .cloned()
                .collect();
            proposed.extend(merged_in.remove(&name).unwrap_or_default());
            let members = review.members(&proposed);
            let chosen = review.exempt_from_outlier_gate();
            let renamed = Faceset {
                name: name.clone(),
                images: fs_identities::faces::distinct_images(&members),
                faces: members,
                ..faceset.clone()
            };
            let mut reuse_crops: Vec<String> = existing
                .filter(|&i| self.manifest.facesets[i].exported_with.as_ref() == Some(&settings))
                .map(|_| vec![name.clone()])
                .unwrap_or_default();
            reuse_crops.extend(
                self.staging
                    .as_ref()
                    .filter(|(_, made_with)| made_with == options)
                    .map(|(staging, _)| staging.clone()),
            );
            let request = ExportRequest {
                faceset: &renamed,
                dir: name.clone(),
                bundle_stem: bundle_stem(&review, &name),
                label: None,
                chosen: &chosen,
                reuse_crops,
            };
            if existing.is_none() {
                self.stage(std::slice::from_ref(&name))?;
            }
            let outcome =
                export_faceset(&faces, &request, &self.dir, options, self.check.as_ref())?;
            changes.errors.extend(outcome.errors.iter().cloned());
            if outcome.is_empty() {
                let why = empty_reason(&outcome);
                changes.left_out.push((
                    name,
                    if existing.is_some() {
                        format!("left as it was: {why}")
                    } else {
                        why
                    },
                ));
                continue;
            }
            let mut fresh = Entry::exported(
                outcome,
                Provenance {
                    kind: Kind::Refined,
                    label: faceset.name.clone(),
                    sources: Vec::new(),
                    params: params.clone(),
                    distances: self.distances.clone(),
                    bundles: None,
                    created: now,
                    updated: now,
                },
                cache,
                settings.clone(),
            );
            fresh.review = review;
            if let Some(i) = existing {
                let old = &mut self.manifest.facesets[i];
                // Same content under the old timestamps: nothing changed.
                fresh.provenance.created = old.provenance.created;
                fresh.provenance.updated = old.provenance.updated;
                if fresh == *old {
                    changes.unchanged.push(name);
                } else {
                    fresh.provenance.updated = now;
                    *old = fresh;
                    changes.updated.push(name);
                }
            } else {
                self.manifest.facesets.push(fresh);
                changes.added.push(name);
            }
        }
        self.manifest.candidates = match raw {
            Some(raw) if options.candidates => {
                let centroids: Vec<(String, Vec<f32>)> = self
                    .manifest
                    .facesets
                    .iter()
                    .filter(|e| e.provenance.kind == Kind::Refined && !e.centroid.is_empty())
                    .map(|e| (e.export.name.clone(), e.centroid.clone()))
                    .collect();
                let mut rescued = rescue_candidates(
                    &faces,
                    raw,
                    &centroids,
                    &self.dir,
                    options,
                    &mut changes.errors,
                )?;
                // A face a person put in an identity, or said is no face, is no
                // candidate.
                rescued.retain(|c| {
                    !pinned.contains_key(&c.face.key) && !not_faces.contains(&c.face.key)
                });
                rescued
            }
            _ => Vec::new(),
        };
        Ok(changes)
    }

    /// Commits the change made since the lock was taken in one transaction, writes
    /// its views (the folders it touched, `manifest.json`, `decisions.jsonl`) and
    /// releases the lock. A change that changed nothing commits nothing and rewrites
    /// no file. Saving with no change under way does nothing.
    pub fn save(&mut self) -> Result<()> {
        self.commit(None).map(drop)
    }

    /// Reads the newest state again (after another command changed it), keeping the
    /// crop check and distances this value was given. A change under way is rolled
    /// back first.
    pub fn reload(&mut self) -> Result<()> {
        self.abandon();
        self.load()
    }

    /// The settings an export with `options` runs with here.
    fn settings(&self, options: &SwapOptions) -> ExportSettings {
        ExportSettings {
            options: options.clone(),
            crop_check: self.check.is_some(),
        }
    }

    /// Faces a person put in an identity by hand (moved, split, merged, accepted), each
    /// with the entry it was put in.
    pub fn placed(&self) -> std::collections::HashMap<String, String> {
        self.entries()
            .flat_map(|e| {
                e.review
                    .included
                    .iter()
                    .map(|f| (f.key.clone(), e.export.name.clone()))
            })
            .collect()
    }

    /// Faces a person rejected as no face at all, in any entry.
    pub fn not_faces(&self) -> std::collections::HashSet<String> {
        let not_a_face = review::RejectReason::NotAFace.describe();
        self.entries()
            .flat_map(|e| &e.review.excluded)
            .filter(|(_, why)| why.as_str() == not_a_face)
            .map(|(key, _)| key.clone())
            .chain(self.manifest.not_faces.keys().cloned())
            .collect()
    }

    /// Whether `name` is neither an entry's name nor a folder in the library.
    fn is_free(&self, name: &str) -> bool {
        self.entry(name).is_none() && !self.dir.join(name).exists()
    }
}

/// The distance defaults of the pack whose recogniser made embeddings of `model` (a
/// cache that records no model is taken to be the default pack's).
pub fn pack_distances(model: Option<&ModelId>) -> (Thresholds, Origin) {
    match model {
        Some(model) => {
            fs_packs::thresholds::for_recognizer(&model.recognizer, &model.recognizer_sha256)
        }
        None => fs_packs::thresholds::for_pack(fs_packs::DEFAULT_PACK),
    }
}

impl LibraryManifest {
    /// Whether two states list the same entries in the same places.
    pub(crate) fn same_layout(&self, other: &LibraryManifest) -> bool {
        fn same(a: &[Entry], b: &[Entry]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.export.name == y.export.name)
        }
        same(&self.facesets, &other.facesets) && same(&self.thin_eras, &other.thin_eras)
    }
}

/// Reads a library manifest of any version this build knows.
pub fn read_manifest(path: &Path) -> Result<LibraryManifest> {
    read_manifest_versioned(path).map(|(manifest, _)| manifest)
}

/// [`read_manifest`], with the version the file was written as.
pub(crate) fn read_manifest_versioned(path: &Path) -> Result<(LibraryManifest, u64)> {
    let text = fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    let bad = |source| Error::Manifest {
        path: path.to_path_buf(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    let mut manifest: LibraryManifest = match version {
        Some(2..=4) => serde_json::from_value(value).map_err(bad)?,
        Some(1) => legacy::upgrade(serde_json::from_value(value).map_err(bad)?),
        found => {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: found.map_or_else(|| "none".into(), |v| v.to_string()),
            });
        }
    };
    // Hand-sorted imports always named their bundles after their label; entries made
    // before that was recorded say so now, so a later export keeps those names.
    for entry in manifest
        .facesets
        .iter_mut()
        .chain(&mut manifest.thin_eras)
        .filter(|e| e.provenance.kind == Kind::HandSorted && e.provenance.bundles.is_none())
    {
        entry.provenance.bundles = Some(entry.provenance.label.clone());
    }
    Ok((manifest, version.unwrap_or(0)))
}

/// Whether the face `key` is a copy (a visual near-duplicate, as `dedup` finds them)
/// of one of `of`, other than itself.
fn is_copy_of_any(
    faces: &CacheFaces<'_>,
    key: &str,
    of: &std::collections::HashSet<String>,
) -> bool {
    of.iter().any(|other| is_copy(faces, key, other))
}

/// Whether the face `key` is a copy of the face `of` (another face, as alike as
/// `dedup`'s near-duplicates).
pub(crate) fn is_copy(faces: &CacheFaces<'_>, key: &str, of: &str) -> bool {
    let similarity = fs_identities::dedup::DedupOptions::default().face_similarity;
    key != of && faces.alike(key, of, similarity)
}

/// Why an export kept nothing, from the gates' reasons.
fn empty_reason(outcome: &ExportOutcome) -> String {
    let mut reasons: Vec<String> = outcome
        .export
        .dropped
        .iter()
        .map(|d| d.reason.split(':').next().unwrap_or_default().to_string())
        .collect();
    reasons.sort();
    reasons.dedup();
    if reasons.is_empty() && !outcome.errors.is_empty() {
        reasons.push("no photo could be read".into());
    }
    format!("no crop kept ({})", reasons.join(", "))
}

/// Centroid of an export's faces, looked up in whichever cache holds each.
fn centroid_from_caches(export: &FacesetExport, caches: &[&Cache]) -> Option<Vec<f32>> {
    let vectors: Vec<&[f32]> = export
        .faces
        .iter()
        .filter_map(|f| {
            let key: FaceKey = f.face.key.parse().ok()?;
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
    Some(centroid(&e, &all))
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs_cache::atomic::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
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

/// The stem of bundles named after `review`'s label, else `workflow`.
fn bundle_stem(review: &Review, workflow: &str) -> String {
    review
        .label
        .as_deref()
        .map_or_else(|| workflow.to_string(), safe_label)
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
mod tests;
