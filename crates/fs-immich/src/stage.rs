//! Staging: every photo and video asset the key can see, filtered by Immich's own face
//! boxes, downloaded, deduplicated by content and saved under `STAGING_DIR/<user>/`.
//! A video, and a photo whose original cannot be decoded here, is staged as Immich's own
//! JPEG rendering of it (`<original name>.immich.jpg`), recorded with why.
//!
//! Resumable: `state.json` records every finished asset and `queue.json` the staged
//! files for `face-sets embed --list`; both are rewritten atomically every few assets.
//! Transient failures are retried with backoff; after `breaker_after` consecutive
//! failures the server is pinged, and if that fails too, staging stops with
//! [`Error::BreakerOpen`] and everything done so far saved.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fs_cache::ContentHash;
use fs_progress::{Phase, Progress};
use serde::{Deserialize, Serialize};

use crate::client::{Client, PageToken};
use crate::dto::AssetResponseDto;
use crate::error::{Error, Result};
use crate::paths::sanitize_relative;

/// Staging settings.
#[derive(Clone, Debug)]
pub struct StageOptions {
    /// Label of the library's owner; files go under `STAGING_DIR/<user>/`.
    pub user: String,
    /// The staging root.
    pub staging_dir: PathBuf,
    /// Assets processed at once. Default 8.
    pub workers: usize,
    /// Keep assets with a face at least this many pixels on its short side, in the
    /// original's pixels. Default 90.
    pub min_face_px: f64,
    /// Content hashes already held elsewhere (e.g. an existing cache): not downloaded
    /// twice.
    pub dedup_against: HashSet<ContentHash>,
    /// Attempts per request. Default 4.
    pub attempts: u32,
    /// First retry delay, doubled each time. Default 250 ms.
    pub backoff: Duration,
    /// Consecutive failed assets before the server is probed. Default 12.
    pub breaker_after: u32,
    /// Finished assets between state saves. Default 20.
    pub save_every: usize,
    /// Whether a downloaded original can be read (decoded) here; when it says no, the
    /// asset is staged as Immich's own JPEG rendering instead (full-size, else preview),
    /// and the outcome says so. `None` stages every original as it is.
    pub readable: Option<ReadCheck>,
}

/// Says whether a downloaded original can be read, and if not, why: called with the
/// downloaded file and the name the original has on the server (its extension tells
/// RAW files apart).
#[derive(Clone)]
#[expect(clippy::type_complexity, reason = "a plain callback")]
pub struct ReadCheck(
    pub Arc<dyn Fn(&Path, &Path) -> std::result::Result<(), String> + Send + Sync>,
);

impl std::fmt::Debug for ReadCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadCheck")
    }
}

impl StageOptions {
    /// Defaults for `user` under `staging_dir`.
    pub fn new(user: impl Into<String>, staging_dir: impl Into<PathBuf>) -> Self {
        Self {
            user: user.into(),
            staging_dir: staging_dir.into(),
            workers: 8,
            min_face_px: 90.0,
            dedup_against: HashSet::new(),
            attempts: 4,
            backoff: Duration::from_millis(250),
            breaker_after: 12,
            save_every: 20,
            readable: None,
        }
    }

    /// `STAGING_DIR/<user>/`.
    pub fn user_dir(&self) -> PathBuf {
        self.staging_dir.join(sanitize_relative(&self.user, "user"))
    }
}

/// What became of one asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Downloaded to `path` (relative to the user folder).
    Staged {
        /// Where, relative to `STAGING_DIR/<user>/`.
        path: PathBuf,
        /// BLAKE3 of the bytes.
        hash: String,
        /// Size in bytes.
        bytes: u64,
        /// Set when the original could not be read and Immich's own JPEG rendering was
        /// staged instead: why the original could not be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rendering_because: Option<String>,
    },
    /// Byte-identical to something held already.
    Duplicate {
        /// An existing cache entry, or the asset id staged with the same bytes.
        of: String,
    },
    /// Immich found no face.
    NoFace,
    /// Every face is smaller than the minimum.
    SmallFace,
}

/// `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// Finished assets by id.
    pub done: BTreeMap<String, Outcome>,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StageSummary {
    /// Photos and videos the key can see.
    pub seen: usize,
    /// Finished in an earlier run.
    pub already_done: usize,
    /// Downloaded this run.
    pub staged: usize,
    /// Bytes downloaded this run (kept files).
    pub bytes: u64,
    /// Of those staged, how many are Immich's rendering of an original that could not
    /// be read here.
    pub renderings: usize,
    /// Identical to a file in a `dedup_against` cache.
    pub deduped_against_cache: usize,
    /// Identical to another asset staged.
    pub deduped_internal: usize,
    /// No face.
    pub no_face: usize,
    /// No face big enough.
    pub small_face: usize,
    /// Assets that failed (left for the next run), with why.
    pub errors: Vec<(String, String)>,
}

impl std::fmt::Display for StageSummary {
    #[expect(clippy::cast_precision_loss, reason = "megabytes for display")]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} IMAGE assets seen ({} done before); {} staged ({:.1} MB; {} as Immich's \
             rendering of an unreadable original); {} byte-deduped against caches, {} \
             internal byte-duplicates; skipped {} no-face, {} small-face; {} errors",
            self.seen,
            self.already_done,
            self.staged,
            self.bytes as f64 / 1e6,
            self.renderings,
            self.deduped_against_cache,
            self.deduped_internal,
            self.no_face,
            self.small_face,
            self.errors.len()
        )?;
        for (id, message) in &self.errors {
            write!(f, "\n  asset {id}: {message}")?;
        }
        Ok(())
    }
}

/// Immich's asset type of a video: staged as Immich's still of it, since the pipeline
/// reads photos.
const VIDEO: &str = "VIDEO";

/// File names inside the user folder.
pub const STATE_FILE: &str = "state.json";
/// See [`STATE_FILE`].
pub const QUEUE_FILE: &str = "queue.json";

struct Shared<'a> {
    options: &'a StageOptions,
    dir: PathBuf,
    state: Mutex<(State, StageSummary, usize)>,
    hashes: Mutex<HashMap<ContentHash, String>>,
    queue: Mutex<VecDeque<AssetResponseDto>>,
    consecutive: AtomicU32,
    stop: AtomicBool,
    breaker: AtomicBool,
    /// Held while a worker writes the state files.
    saving: Mutex<()>,
    fatal: Mutex<Option<Error>>,
}

/// Name of the lock file in a staging folder: one stager at a time.
pub const LOCK_FILE: &str = ".stage.lock";

/// Takes the staging folder `dir` for this process until the file is dropped, or says
/// who has it (the operating system's lock: released however its holder exits).
fn lock_staging(dir: &Path) -> Result<fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let io = |action: &'static str| {
        let path = path.clone();
        move |source| Error::Io {
            path,
            action,
            source,
        }
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io("open the lock file"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::Busy {
                path: dir.to_path_buf(),
                holder: match holder.trim() {
                    "" => "another stager".into(),
                    text => text.to_string(),
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "face-sets immich stage, pid {}", std::process::id()))
        .map_err(io("write the lock file"))?;
    Ok(file)
}

/// Stages every photo and video asset; see the module docs. A second stager on the
/// same folder is refused with [`Error::Busy`] naming the first.
pub fn stage(
    client: &Client,
    options: &StageOptions,
    progress: &dyn Progress,
) -> Result<StageSummary> {
    // Check the key before writing anything.
    retry(options, || client.version())?;
    let dir = options.user_dir();
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        action: "create staging folder",
        source,
    })?;
    let _lock = lock_staging(&dir)?;
    let state_path = dir.join(STATE_FILE);
    let state: State = match fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            endpoint: state_path.display().to_string(),
            source,
        })?,
        Err(_) => State {
            version: 1,
            done: BTreeMap::new(),
        },
    };
    let mut hashes: HashMap<ContentHash, String> = options
        .dedup_against
        .iter()
        .map(|h| (*h, format!("cache:{h}")))
        .collect();
    for (id, outcome) in &state.done {
        if let Outcome::Staged { hash, .. } = outcome
            && let Some(h) = parse_hash(hash)
        {
            hashes.insert(h, id.clone());
        }
    }

    // List everything first: pages are cheap and the total makes progress meaningful.
    let mut assets = Vec::new();
    let mut at = PageToken::Page(1);
    loop {
        let page = match retry(options, || client.search_assets(&at)) {
            Ok(page) => page,
            Err(e) if e.is_transient() && client.ping().is_err() => {
                save(&dir, &state)?;
                return Err(Error::BreakerOpen {
                    failures: options.attempts,
                    state: state_path,
                });
            }
            Err(e) => return Err(e),
        };
        assets.extend(
            page.assets
                .into_iter()
                .filter(|a| a.asset_type == "IMAGE" || a.asset_type == VIDEO),
        );
        match page.next {
            Some(next) if next != at => at = next,
            _ => break,
        }
    }
    let mut summary = StageSummary {
        seen: assets.len(),
        ..StageSummary::default()
    };
    let todo: VecDeque<AssetResponseDto> = assets
        .into_iter()
        .filter(|a| !state.done.contains_key(&a.id))
        .collect();
    summary.already_done = summary.seen - todo.len();
    progress.start(Phase::Download, todo.len() as u64);

    let shared = Shared {
        options,
        dir: dir.clone(),
        state: Mutex::new((state, summary, 0)),
        hashes: Mutex::new(hashes),
        queue: Mutex::new(todo),
        consecutive: AtomicU32::new(0),
        stop: AtomicBool::new(false),
        breaker: AtomicBool::new(false),
        saving: Mutex::new(()),
        fatal: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for _ in 0..options.workers.max(1) {
            scope.spawn(|| worker(client, &shared, progress));
        }
    });
    progress.finish(Phase::Download);
    let (state, summary, _) = shared.state.into_inner().expect("workers finished");
    save(&dir, &state)?;
    if let Some(e) = shared.fatal.into_inner().expect("workers finished") {
        return Err(e);
    }
    if shared.breaker.load(Ordering::SeqCst) {
        return Err(Error::BreakerOpen {
            failures: options.breaker_after,
            state: state_path,
        });
    }
    Ok(summary)
}

fn worker(client: &Client, shared: &Shared<'_>, progress: &dyn Progress) {
    let options = shared.options;
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(asset) = shared.queue.lock().expect("not poisoned").pop_front() else {
            return;
        };
        let result = process(client, shared, &asset);
        progress.advance(1);
        let mut guard = shared.state.lock().expect("not poisoned");
        let (state, summary, since_save) = &mut *guard;
        match result {
            Ok(outcome) => {
                shared.consecutive.store(0, Ordering::SeqCst);
                match &outcome {
                    Outcome::Staged {
                        bytes,
                        rendering_because,
                        ..
                    } => {
                        summary.staged += 1;
                        summary.bytes += bytes;
                        summary.renderings += usize::from(rendering_because.is_some());
                    }
                    Outcome::Duplicate { of } if of.starts_with("cache:") => {
                        summary.deduped_against_cache += 1;
                    }
                    Outcome::Duplicate { .. } => summary.deduped_internal += 1,
                    Outcome::NoFace => summary.no_face += 1,
                    Outcome::SmallFace => summary.small_face += 1,
                }
                state.done.insert(asset.id.clone(), outcome);
                *since_save += 1;
                // Save every `save_every` assets, by one worker at a time and outside the
                // state lock: the fsyncs take long enough to stall every worker if they
                // waited on them.
                if *since_save >= options.save_every
                    && let Ok(_saving) = shared.saving.try_lock()
                {
                    *since_save = 0;
                    let snapshot = state.clone();
                    drop(guard);
                    if let Err(e) = save(&shared.dir, &snapshot) {
                        tracing::error!("{e}");
                    }
                }
            }
            Err(e @ Error::Unauthorized { .. }) => {
                shared.stop.store(true, Ordering::SeqCst);
                *shared.fatal.lock().expect("not poisoned") = Some(e);
            }
            Err(e) => {
                tracing::warn!(asset = %asset.id, "{e}");
                summary.errors.push((asset.id.clone(), e.to_string()));
                let failures = shared.consecutive.fetch_add(1, Ordering::SeqCst) + 1;
                if failures >= options.breaker_after {
                    drop(guard);
                    if client.ping().is_err() {
                        tracing::error!(
                            "{failures} failures in a row and the server does not answer a ping; stopping"
                        );
                        shared.breaker.store(true, Ordering::SeqCst);
                        shared.stop.store(true, Ordering::SeqCst);
                    } else {
                        shared.consecutive.store(0, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

/// Faces → size filter → download → hash → dedup → final place.
fn process(client: &Client, shared: &Shared<'_>, asset: &AssetResponseDto) -> Result<Outcome> {
    let options = shared.options;
    let faces = retry(options, || client.faces(&asset.id))?;
    if faces.is_empty() {
        return Ok(Outcome::NoFace);
    }
    let biggest = faces
        .iter()
        .map(|f| {
            let size = asset.original_size().unwrap_or_else(|| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "image sizes"
                )]
                (
                    f.image_width.max(0.0) as u32,
                    f.image_height.max(0.0) as u32,
                )
            });
            f.short_side_in(size)
        })
        .fold(0.0f64, f64::max);
    if biggest < options.min_face_px {
        return Ok(Outcome::SmallFace);
    }
    let partial_dir = shared.dir.join(".partial");
    fs::create_dir_all(&partial_dir).map_err(|source| Error::Io {
        path: partial_dir.clone(),
        action: "create",
        source,
    })?;
    let partial = partial_dir.join(
        format!("{}.part", sanitize_relative(&asset.id, "asset").display()).replace('/', "_"),
    );
    let mut original_path = sanitize_relative(&asset.original_path, &format!("{}.jpg", asset.id));
    let (mut bytes, unreadable) = if asset.asset_type == VIDEO {
        (0, Some("a video: Immich's still of it".to_string()))
    } else {
        let bytes = retry(options, || {
            let mut file = fs::File::create(&partial).map_err(|source| Error::Io {
                path: partial.clone(),
                action: "create",
                source,
            })?;
            client.download_original(&asset.id, &mut file)
        })?;
        let unreadable = options
            .readable
            .as_ref()
            .and_then(|check| (check.0)(&partial, &original_path).err());
        (bytes, unreadable)
    };
    if let Some(why) = &unreadable {
        tracing::info!(asset = %asset.id, "original unreadable ({why}); staging Immich's rendering");
        let rendering = retry(options, || client.download_rendering(&asset.id))?;
        fs::write(&partial, &rendering).map_err(|source| Error::Io {
            path: partial.clone(),
            action: "write",
            source,
        })?;
        bytes = rendering.len() as u64;
        let mut name = original_path.into_os_string();
        name.push(".immich.jpg");
        original_path = PathBuf::from(name);
    }
    let hash = fs::File::open(&partial)
        .and_then(ContentHash::of_reader)
        .map_err(|source| Error::Io {
            path: partial.clone(),
            action: "hash",
            source,
        })?;
    let mut hashes = shared.hashes.lock().expect("not poisoned");
    if let Some(of) = hashes.get(&hash) {
        let _ = fs::remove_file(&partial);
        return Ok(Outcome::Duplicate { of: of.clone() });
    }
    let relative = unique_relative(&shared.dir, &original_path, &asset.id);
    let target = shared.dir.join(&relative);
    // Defence in depth: sanitising already guarantees this.
    if !target.starts_with(&shared.dir) {
        return Err(Error::Io {
            path: target,
            action: "refuse a path outside the staging folder",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            action: "create",
            source,
        })?;
    }
    fs::rename(&partial, &target).map_err(|source| Error::Io {
        path: target.clone(),
        action: "move into place",
        source,
    })?;
    hashes.insert(hash, asset.id.clone());
    Ok(Outcome::Staged {
        path: relative,
        hash: hash.to_hex(),
        bytes,
        rendering_because: unreadable,
    })
}

/// `relative`, or with `-<id>` before the extension when another asset took the name.
fn unique_relative(dir: &Path, relative: &Path, id: &str) -> PathBuf {
    if !dir.join(relative).exists() {
        return relative.to_path_buf();
    }
    let stem = relative.file_stem().unwrap_or_default().to_string_lossy();
    let ext = relative
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tag: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    relative.with_file_name(format!("{stem}-{tag}{ext}"))
}

fn retry<T>(options: &StageOptions, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let mut delay = options.backoff;
    let mut attempt = 1;
    loop {
        match op() {
            Err(e) if e.is_transient() && attempt < options.attempts => {
                tracing::debug!("attempt {attempt} failed ({e}); retrying in {delay:?}");
                std::thread::sleep(delay);
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn parse_hash(hex: &str) -> Option<ContentHash> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    Some(ContentHash(bytes.try_into().ok()?))
}

/// Writes `state.json` and `queue.json` (absolute paths of staged files, sorted)
/// atomically.
fn save(dir: &Path, state: &State) -> Result<()> {
    let queue: Vec<String> = state
        .done
        .values()
        .filter_map(|o| match o {
            Outcome::Staged { path, .. } => Some(dir.join(path).to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    write_atomically(
        &dir.join(QUEUE_FILE),
        &serde_json::to_vec_pretty(&queue).expect("serialises"),
    )?;
    write_atomically(
        &dir.join(STATE_FILE),
        &serde_json::to_vec_pretty(state).expect("serialises"),
    )
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    fs_cache::atomic::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}
