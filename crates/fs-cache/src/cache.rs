use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::journal::{self, HEADER_LEN, HeaderCheck, Tail};
use crate::record::{
    ContentHash, Entry, Face, FileStamp, ImageRecord, ModelId, RunRecord, UnreadableRecord,
};

/// What the cache knows about a path, given the file's current stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathStatus {
    /// Same stamp as when hashed, and its image is embedded: nothing to do.
    Done(ContentHash),
    /// Same stamp as when hashed, but the image was never embedded (a run stopped in
    /// between): embed it without hashing again.
    Hashed(ContentHash),
    /// Unknown path, or the file changed since: hash it.
    New,
}

/// Counts for a human summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Distinct images (content hashes) embedded.
    pub images: usize,
    /// Faces across all images.
    pub faces: usize,
    /// Images with no face.
    pub no_face: usize,
    /// Images whose bytes could not be decoded.
    pub decode_errors: usize,
    /// Files that could not be read.
    pub unreadable: usize,
    /// Alias paths (byte-identical copies of an embedded image).
    pub aliases: usize,
}

/// The face cache: in-memory records backed by an append-only journal file.
///
/// Writes go to an in-memory batch first; [`Cache::flush`] appends the batch and syncs
/// it to disk. Opening for writing takes an exclusive lock on the file.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    /// `None` when opened read-only.
    file: Option<File>,
    images: BTreeMap<ContentHash, ImageRecord>,
    paths: HashMap<PathBuf, (ContentHash, FileStamp)>,
    /// Aliases whose image is not embedded yet.
    orphan_aliases: HashMap<ContentHash, Vec<PathBuf>>,
    unreadable: BTreeMap<PathBuf, UnreadableRecord>,
    /// The models that made its faces, once recorded.
    model: Option<ModelId>,
    /// The run log, oldest first.
    runs: Vec<RunRecord>,
    /// Format version of the header on disk.
    header_version: u16,
    batch: Vec<u8>,
    batch_entries: usize,
    entries_on_disk: usize,
    superseded: usize,
}

impl Cache {
    /// Opens a cache for reading and writing, creating it if missing.
    ///
    /// A damaged tail (from a crash mid-write) is cut off with a warning; a file that is
    /// not a cache, or a cache of another format version, is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            create_empty(&path)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| io_err(&path, "open", source))?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => Error::Locked { path: path.clone() },
            fs::TryLockError::Error(source) => io_err(&path, "lock", source),
        })?;
        let mut cache = Self::empty(path);
        let valid = cache.replay(&mut file)?;
        let end = HEADER_LEN as u64 + valid;
        if file
            .metadata()
            .map_err(|e| io_err(&cache.path, "stat", e))?
            .len()
            > end
        {
            file.set_len(end)
                .map_err(|e| io_err(&cache.path, "truncate damaged tail", e))?;
            file.sync_all()
                .map_err(|e| io_err(&cache.path, "sync", e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| io_err(&cache.path, "seek", e))?;
        cache.file = Some(file);
        Ok(cache)
    }

    /// Opens an existing cache without writing to it or locking it.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut file = File::open(&path).map_err(|source| io_err(&path, "open", source))?;
        let mut cache = Self::empty(path);
        cache.replay(&mut file)?;
        Ok(cache)
    }

    fn empty(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            images: BTreeMap::new(),
            paths: HashMap::new(),
            orphan_aliases: HashMap::new(),
            unreadable: BTreeMap::new(),
            model: None,
            runs: Vec::new(),
            header_version: journal::VERSION,
            batch: Vec::new(),
            batch_entries: 0,
            entries_on_disk: 0,
            superseded: 0,
        }
    }

    /// Reads header and entries into memory; returns the valid journal length.
    fn replay(&mut self, file: &mut File) -> Result<u64> {
        let mut header = [0u8; HEADER_LEN];
        let mut reader = BufReader::with_capacity(1 << 20, file);
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::NotACache {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(io_err(&self.path, "read header", e)),
        }
        match journal::check_header(&header) {
            HeaderCheck::Ok(version) => self.header_version = version,
            HeaderCheck::BadMagic => {
                return Err(Error::NotACache {
                    path: self.path.clone(),
                });
            }
            HeaderCheck::Version(found) => {
                return Err(Error::UnsupportedVersion {
                    path: self.path.clone(),
                    found,
                    supported: journal::VERSION,
                });
            }
        }
        let mut count = 0usize;
        let (valid, tail) = journal::read_entries(reader, |entry| {
            count += 1;
            self.apply(entry);
        })
        .map_err(|e| io_err(&self.path, "read", e))?;
        self.entries_on_disk = count;
        if let Tail::Damaged(why) = tail {
            tracing::warn!(
                cache = %self.path.display(),
                "dropping a damaged journal tail after {count} good entries ({why}); \
                 the images in it will be embedded again"
            );
        }
        Ok(valid)
    }

    /// Applies an entry to the in-memory state.
    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Image(mut record) => {
                self.unreadable.remove(&record.path);
                self.rebind_path(&record.path, record.hash, record.stamp);
                if let Some(old) = self.images.remove(&record.hash) {
                    self.superseded += 1;
                    record.aliases = old.aliases;
                    if old.path != record.path && !record.aliases.contains(&old.path) {
                        record.aliases.push(old.path);
                    }
                }
                if let Some(orphans) = self.orphan_aliases.remove(&record.hash) {
                    record.aliases.extend(orphans);
                }
                record.aliases.retain(|p| *p != record.path);
                record.aliases.sort();
                record.aliases.dedup();
                self.images.insert(record.hash, record);
            }
            Entry::Alias { hash, path, stamp } => {
                self.unreadable.remove(&path);
                self.rebind_path(&path, hash, stamp);
                match self.images.get_mut(&hash) {
                    Some(image) if image.path == path => {}
                    Some(image) => {
                        if let Err(at) = image.aliases.binary_search(&path) {
                            image.aliases.insert(at, path);
                        }
                    }
                    None => {
                        let orphans = self.orphan_aliases.entry(hash).or_default();
                        if !orphans.contains(&path) {
                            orphans.push(path);
                        }
                    }
                }
            }
            Entry::Unreadable(record) => {
                if self
                    .unreadable
                    .insert(record.path.clone(), record)
                    .is_some()
                {
                    self.superseded += 1;
                }
            }
            Entry::Faces { hash, faces } => {
                if let Some(image) = self.images.get_mut(&hash)
                    && let crate::ImageOutcome::Faces(old) = &mut image.outcome
                    && old.len() == faces.len()
                {
                    *old = faces;
                    self.superseded += 1;
                }
            }
            Entry::Model(model) => self.model = Some(model),
            Entry::Run(run) => self.runs.push(run),
        }
    }

    /// Points `path` at `hash`, detaching it from whatever it named before (the file
    /// changed on disk since it was last hashed).
    fn rebind_path(&mut self, path: &Path, hash: ContentHash, stamp: FileStamp) {
        let Some((old_hash, _)) = self.paths.insert(path.to_path_buf(), (hash, stamp)) else {
            return;
        };
        if old_hash == hash {
            return;
        }
        self.superseded += 1;
        if let Some(orphans) = self.orphan_aliases.get_mut(&old_hash) {
            orphans.retain(|p| p != path);
        }
        let Some(old) = self.images.get_mut(&old_hash) else {
            return;
        };
        old.aliases.retain(|p| p != path);
        if old.path == path {
            // The canonical copy changed; promote an alias, or forget the image when no
            // path holds these bytes any more.
            if old.aliases.is_empty() {
                self.images.remove(&old_hash);
            } else {
                old.path = old.aliases.remove(0);
            }
        }
    }

    /// The models that made the cache's faces; `None` for a new cache, or one written
    /// before caches recorded their model.
    pub fn model(&self) -> Option<&ModelId> {
        self.model.as_ref()
    }

    /// Checks that faces of `model` may be compared with this cache's: its model is
    /// `model`, or unknown.
    pub fn check_model(&self, model: &ModelId) -> Result<()> {
        match &self.model {
            Some(own) if own != model => Err(Error::ModelMismatch {
                path: self.path.clone(),
                cache: Box::new(own.clone()),
                requested: Box::new(model.clone()),
            }),
            _ => Ok(()),
        }
    }

    /// Records that `model` makes this cache's faces (durably, before any face is
    /// added), or checks that it is the model already recorded. A cache of another model
    /// is refused with [`Error::ModelMismatch`], so one cache never mixes embedding
    /// spaces.
    pub fn bind_model(&mut self, model: &ModelId) -> Result<()> {
        self.check_model(model)?;
        if self.model.is_some() {
            return Ok(());
        }
        if self.images.is_empty() {
            tracing::debug!(cache = %self.path.display(), %model, "new cache");
        } else {
            tracing::warn!(
                cache = %self.path.display(),
                %model,
                "this cache predates model records; assuming its faces were made by this model"
            );
        }
        self.upgrade_header()?;
        self.push(Entry::Model(model.clone()))?;
        self.flush()
    }

    /// Appends `run` to the run log (durably).
    pub fn record_run(&mut self, run: RunRecord) -> Result<()> {
        self.upgrade_header()?;
        self.push(Entry::Run(run))?;
        self.flush()
    }

    /// The run log, oldest first.
    pub fn runs(&self) -> &[RunRecord] {
        &self.runs
    }

    /// Rewrites an older header as [`journal::VERSION`] before a record that older
    /// builds cannot read is appended.
    fn upgrade_header(&mut self) -> Result<()> {
        if self.header_version == journal::VERSION {
            return Ok(());
        }
        let file = writable(&mut self.file, &self.path, "upgrade header")?;
        std::os::unix::fs::FileExt::write_all_at(&*file, &journal::header(), 0)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err(&self.path, "upgrade header", e))?;
        self.header_version = journal::VERSION;
        Ok(())
    }

    /// The cache file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every embedded image, in content-hash order.
    pub fn images(&self) -> impl ExactSizeIterator<Item = &ImageRecord> {
        self.images.values()
    }

    /// The image with this content hash.
    pub fn image(&self, hash: &ContentHash) -> Option<&ImageRecord> {
        self.images.get(hash)
    }

    /// Files that could not be read, by path.
    pub fn unreadable(&self) -> impl ExactSizeIterator<Item = &UnreadableRecord> {
        self.unreadable.values()
    }

    /// What is known about `path` given its current stamp.
    pub fn path_status(&self, path: &Path, stamp: FileStamp) -> PathStatus {
        match self.paths.get(path) {
            Some(&(hash, known)) if known == stamp => {
                if self.images.contains_key(&hash) {
                    PathStatus::Done(hash)
                } else {
                    PathStatus::Hashed(hash)
                }
            }
            _ => PathStatus::New,
        }
    }

    /// Summary counts.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            images: self.images.len(),
            unreadable: self.unreadable.len(),
            ..CacheStats::default()
        };
        for image in self.images.values() {
            stats.aliases += image.aliases.len();
            match &image.outcome {
                crate::ImageOutcome::Faces(f) => stats.faces += f.len(),
                crate::ImageOutcome::NoFace => stats.no_face += 1,
                crate::ImageOutcome::DecodeError(_) => stats.decode_errors += 1,
            }
        }
        stats
    }

    /// Adds an image record (replacing any with the same hash) to the current batch.
    pub fn insert_image(&mut self, record: ImageRecord) -> Result<()> {
        self.push(Entry::Image(record))
    }

    /// Records that `path` holds the bytes of `hash`.
    pub fn add_alias(&mut self, hash: ContentHash, path: PathBuf, stamp: FileStamp) -> Result<()> {
        self.push(Entry::Alias { hash, path, stamp })
    }

    /// Records a file that could not be read.
    pub fn record_unreadable(&mut self, path: PathBuf, error: String) -> Result<()> {
        self.push(Entry::Unreadable(UnreadableRecord { path, error }))
    }

    /// Replaces the faces of an image, e.g. with landmarks added. The count must match.
    pub fn replace_faces(&mut self, hash: ContentHash, faces: Vec<Face>) -> Result<()> {
        self.push(Entry::Faces { hash, faces })
    }

    /// Number of entries waiting for [`Cache::flush`].
    pub fn pending(&self) -> usize {
        self.batch_entries
    }

    fn push(&mut self, entry: Entry) -> Result<()> {
        journal::encode_entry(&entry, &mut self.batch).map_err(Error::Encode)?;
        self.batch_entries += 1;
        self.apply(entry);
        Ok(())
    }

    /// Appends the pending batch to the file and syncs it. Everything added before a
    /// successful flush survives a crash.
    pub fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let file = writable(&mut self.file, &self.path, "flush")?;
        journal::append_durably(file, &self.batch).map_err(|e| io_err(&self.path, "append", e))?;
        self.entries_on_disk += self.batch_entries;
        self.batch.clear();
        self.batch_entries = 0;
        Ok(())
    }

    /// Whether superseded entries make up enough of the file that [`Cache::compact`]
    /// would pay for itself.
    pub fn needs_compaction(&self) -> bool {
        self.superseded >= 64 && self.superseded * 2 >= self.entries_on_disk
    }

    /// Rewrites the file with one entry per live record (temp file, fsync, rename), so
    /// a crash during compaction leaves the old file in place.
    pub fn compact(&mut self) -> Result<()> {
        self.flush()?;
        let mut bytes = journal::header().to_vec();
        let mut count = 0usize;
        let mut encode = |entry: &Entry, bytes: &mut Vec<u8>| -> Result<()> {
            count += 1;
            journal::encode_entry(entry, bytes).map_err(Error::Encode)
        };
        if let Some(model) = &self.model {
            encode(&Entry::Model(model.clone()), &mut bytes)?;
        }
        for run in &self.runs {
            encode(&Entry::Run(run.clone()), &mut bytes)?;
        }
        for image in self.images.values() {
            encode(&Entry::Image(image.clone()), &mut bytes)?;
            for alias in &image.aliases {
                let stamp = self.paths.get(alias).map_or(
                    FileStamp {
                        size: 0,
                        modified_ns: 0,
                    },
                    |(_, s)| *s,
                );
                encode(
                    &Entry::Alias {
                        hash: image.hash,
                        path: alias.clone(),
                        stamp,
                    },
                    &mut bytes,
                )?;
            }
        }
        for (hash, paths) in &self.orphan_aliases {
            for path in paths {
                let stamp = self.paths[path].1;
                encode(
                    &Entry::Alias {
                        hash: *hash,
                        path: path.clone(),
                        stamp,
                    },
                    &mut bytes,
                )?;
            }
        }
        for record in self.unreadable.values() {
            encode(&Entry::Unreadable(record.clone()), &mut bytes)?;
        }
        write_atomically(&self.path, &bytes)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| io_err(&self.path, "reopen after compaction", e))?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => Error::Locked {
                path: self.path.clone(),
            },
            fs::TryLockError::Error(source) => io_err(&self.path, "lock", source),
        })?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| io_err(&self.path, "seek", e))?;
        self.file = Some(file);
        self.header_version = journal::VERSION;
        self.entries_on_disk = count;
        self.superseded = 0;
        tracing::info!(cache = %self.path.display(), entries = count, "compacted cache");
        Ok(())
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        if self.file.is_some()
            && !self.batch.is_empty()
            && let Err(e) = self.flush()
        {
            tracing::error!("could not flush the cache on drop: {e}");
        }
    }
}

fn io_err(path: &Path, action: &'static str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The cache's file, when it was opened for writing; else an error naming `action`.
fn writable<'f>(
    file: &'f mut Option<File>,
    path: &Path,
    action: &'static str,
) -> Result<&'f mut File> {
    file.as_mut().ok_or_else(|| {
        io_err(
            path,
            action,
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "opened read-only"),
        )
    })
}

fn create_empty(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_err(path, "create parent directory", e))?;
    }
    write_atomically(path, &journal::header())
}

/// Replaces `path` with `bytes` atomically (see [`crate::atomic::write`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, bytes).map_err(|e| io_err(path, "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Embedding, ImageOutcome};
    use std::io::Write;

    fn stamp(size: u64) -> FileStamp {
        FileStamp {
            size,
            modified_ns: 7,
        }
    }

    fn face(seed: f32) -> Face {
        Face {
            bbox: [1.0, 2.0, 101.0, 122.0],
            kps: [[seed; 2]; 5],
            det_score: 0.9,
            embedding: Embedding::from_raw(&[seed, 1.0, 2.0]),
            sharpness: None,
            landmarks_2d_106: None,
            landmarks_3d_68: None,
            pose: None,
        }
    }

    fn image(n: u8) -> ImageRecord {
        ImageRecord {
            hash: ContentHash([n; 32]),
            path: format!("/p/{n}.jpg").into(),
            stamp: stamp(u64::from(n)),
            width: 640,
            height: 480,
            outcome: if n.is_multiple_of(2) {
                ImageOutcome::Faces(vec![face(f32::from(n))])
            } else {
                ImageOutcome::NoFace
            },
            dhash: None,
            aliases: vec![],
        }
    }

    #[test]
    fn flushed_records_survive_reopen_and_unflushed_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fsc");
        {
            let mut cache = Cache::open(&path).unwrap();
            cache.insert_image(image(2)).unwrap();
            cache
                .add_alias(ContentHash([2; 32]), "/q/copy.jpg".into(), stamp(2))
                .unwrap();
            cache.flush().unwrap();
            cache.insert_image(image(3)).unwrap();
            // Simulate a crash: the batch is never written.
            cache.batch.clear();
            cache.batch_entries = 0;
        }
        let cache = Cache::open(&path).unwrap();
        assert_eq!(cache.images().len(), 1);
        let img = cache.image(&ContentHash([2; 32])).unwrap();
        assert_eq!(img.aliases, vec![PathBuf::from("/q/copy.jpg")]);
        assert_eq!(img, &{
            let mut i = image(2);
            i.aliases = vec!["/q/copy.jpg".into()];
            i
        });
        assert_eq!(
            cache.path_status(Path::new("/q/copy.jpg"), stamp(2)),
            PathStatus::Done(ContentHash([2; 32]))
        );
        assert_eq!(
            cache.path_status(Path::new("/q/copy.jpg"), stamp(3)),
            PathStatus::New
        );
    }

    #[test]
    fn garbage_tail_is_cut_and_writing_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fsc");
        {
            let mut cache = Cache::open(&path).unwrap();
            cache.insert_image(image(2)).unwrap();
            cache.flush().unwrap();
        }
        let good_len = fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0x13, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
        drop(f);
        {
            let mut cache = Cache::open(&path).unwrap();
            assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
            assert_eq!(cache.images().len(), 1);
            cache.insert_image(image(4)).unwrap();
            cache.flush().unwrap();
        }
        assert_eq!(Cache::open(&path).unwrap().images().len(), 2);
    }

    #[test]
    fn refuses_foreign_files_and_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        fs::write(&text, "hello, this is not a cache").unwrap();
        assert!(matches!(Cache::open(&text), Err(Error::NotACache { .. })));
        let newer = dir.path().join("newer.fsc");
        let mut h = journal::header();
        h[8..10].copy_from_slice(&99u16.to_le_bytes());
        fs::write(&newer, h).unwrap();
        let err = Cache::open(&newer).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { found: 99, .. }));
        assert!(err.to_string().contains("version 99"), "{err}");
    }

    fn model(recognizer_sha256: &str) -> ModelId {
        ModelId {
            pack: "buffalo_s".into(),
            recognizer: "w600k_mbf.onnx".into(),
            recognizer_sha256: recognizer_sha256.into(),
            embedding_size: 512,
            detector: "scrfd_500m_bnkps.onnx".into(),
            detector_sha256: "d".repeat(64),
        }
    }

    #[test]
    fn the_model_is_recorded_once_and_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fsc");
        let (a, b) = (model(&"a".repeat(64)), model(&"b".repeat(64)));
        {
            let mut cache = Cache::open(&path).unwrap();
            assert_eq!(cache.model(), None);
            cache.bind_model(&a).unwrap();
            cache.insert_image(image(2)).unwrap();
        }
        let mut cache = Cache::open(&path).unwrap();
        assert_eq!(cache.model(), Some(&a));
        cache.bind_model(&a).unwrap();
        let err = cache.bind_model(&b).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::ModelMismatch { .. }));
        assert!(
            text.contains("aaaaaaaaaaaa") && text.contains("bbbbbbbbbbbb"),
            "{text}"
        );
        assert!(
            Cache::open_read_only(&path)
                .unwrap()
                .check_model(&b)
                .is_err()
        );
        cache.compact().unwrap();
        drop(cache);
        assert_eq!(Cache::open_read_only(&path).unwrap().model(), Some(&a));
    }

    /// A cache file of format `version` holding `entries`.
    fn write_old_cache(path: &Path, version: u16, entries: &[Entry]) {
        let mut bytes = journal::header().to_vec();
        bytes[8..10].copy_from_slice(&version.to_le_bytes());
        for entry in entries {
            journal::encode_entry(entry, &mut bytes).unwrap();
        }
        fs::write(path, &bytes).unwrap();
    }

    #[test]
    fn a_version_1_cache_is_read_and_upgraded_when_its_model_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.fsc");
        write_old_cache(&path, 1, &[Entry::Image(image(2))]);
        let mut cache = Cache::open(&path).unwrap();
        assert_eq!(cache.images().len(), 1);
        assert_eq!(cache.model(), None);
        cache.bind_model(&model(&"a".repeat(64))).unwrap();
        drop(cache);
        let on_disk = fs::read(&path).unwrap();
        assert_eq!(
            u16::from_le_bytes([on_disk[8], on_disk[9]]),
            journal::VERSION
        );
        let cache = Cache::open_read_only(&path).unwrap();
        assert_eq!(cache.images().len(), 1);
        assert!(cache.model().is_some());
    }

    #[test]
    fn runs_are_logged_survive_compaction_and_upgrade_a_version_2_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.fsc");
        write_old_cache(&path, 2, &[Entry::Image(image(2))]);
        let run = |provider: &str| RunRecord {
            started: 7,
            tool: "face-sets 0.1.0 embed".into(),
            provider: provider.into(),
        };
        let mut cache = Cache::open(&path).unwrap();
        assert!(cache.runs().is_empty());
        cache.record_run(run("cpu")).unwrap();
        cache.record_run(run("cuda")).unwrap();
        drop(cache);
        let on_disk = fs::read(&path).unwrap();
        assert_eq!(
            u16::from_le_bytes([on_disk[8], on_disk[9]]),
            journal::VERSION
        );
        let mut cache = Cache::open(&path).unwrap();
        assert_eq!(cache.runs(), &[run("cpu"), run("cuda")]);
        cache.compact().unwrap();
        drop(cache);
        let cache = Cache::open_read_only(&path).unwrap();
        assert_eq!(cache.runs(), &[run("cpu"), run("cuda")]);
        assert_eq!(cache.images().len(), 1);
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fsc");
        let _first = Cache::open(&path).unwrap();
        assert!(matches!(Cache::open(&path), Err(Error::Locked { .. })));
        assert!(Cache::open_read_only(&path).is_ok());
    }

    #[test]
    fn compaction_keeps_live_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fsc");
        let mut cache = Cache::open(&path).unwrap();
        for round in 0..3 {
            for n in 0..10 {
                let mut img = image(n);
                img.width = round;
                cache.insert_image(img).unwrap();
            }
        }
        cache
            .add_alias(ContentHash([1; 32]), "/z/alias.jpg".into(), stamp(1))
            .unwrap();
        cache
            .record_unreadable("/p/bad.jpg".into(), "nope".into())
            .unwrap();
        cache.flush().unwrap();
        let before: Vec<_> = cache.images().cloned().collect();
        let size_before = fs::metadata(&path).unwrap().len();
        cache.compact().unwrap();
        assert!(fs::metadata(&path).unwrap().len() < size_before);
        cache.insert_image(image(20)).unwrap();
        cache.flush().unwrap();
        drop(cache);
        let cache = Cache::open(&path).unwrap();
        let after: Vec<_> = cache
            .images()
            .filter(|i| i.hash != ContentHash([20; 32]))
            .cloned()
            .collect();
        assert_eq!(before, after);
        assert_eq!(cache.stats().unreadable, 1);
        assert_eq!(cache.stats().aliases, 1);
    }

    #[test]
    fn changed_canonical_file_promotes_its_alias() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path().join("c.fsc")).unwrap();
        cache.insert_image(image(2)).unwrap();
        cache
            .add_alias(ContentHash([2; 32]), "/q/copy.jpg".into(), stamp(2))
            .unwrap();
        // /p/2.jpg now holds other bytes.
        let mut changed = image(4);
        changed.path = "/p/2.jpg".into();
        cache.insert_image(changed).unwrap();
        let old = cache.image(&ContentHash([2; 32])).unwrap();
        assert_eq!(old.path, PathBuf::from("/q/copy.jpg"));
        assert!(old.aliases.is_empty());
    }
}
