//! The embedding pipeline: list photos, hash them, group byte-identical files, then
//! decode, detect and embed each distinct image into a [`Cache`].
//!
//! ```text
//! list ─> hash (parallel) ─> group by hash ─> decode + letterbox (worker threads)
//!      ─> bounded channel ─> detect ─> align ─> batched recognition ─> cache (flush every N)
//! ```
//!
//! Decoding runs on its own threads and feeds a small bounded channel, so the detector
//! always has the next photo ready; recognition is batched across faces of several
//! photos. A photo that fails anywhere is recorded with its error and the run goes on.
//!
//! Large JPEGs are decoded only as finely as each step needs ([`decode_photo_scaled`]):
//! the detector gets the coarsest DCT scale whose long side still fills its input (1/4
//! of a 12-megapixel photo), and faces are aligned from that same image when it holds
//! them at least at the resolution of the 112×112 crop; a photo with smaller faces is
//! decoded again, as finely as they need (the full size at most). Boxes and keypoints
//! are stored in full-size coordinates either way.
//!
//! [`decode_photo_scaled`]: fs_detect::decode::decode_photo_scaled

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::thread;

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use fs_cache::{
    Cache, ContentHash, Embedding, Face, FaceKey, FileStamp, ImageOutcome, ImageRecord, ModelId,
    PathStatus,
};
use fs_detect::detector::{Letterbox, PreparedInput};
use fs_detect::{Detection, Detector, decode};
use image::RgbImage;
use rayon::prelude::*;

use crate::align::{ARCFACE_TEMPLATE, align_face, align_face_smooth, umeyama};
use crate::arcface::Recognizer;
use crate::error::{Error, Result};
use crate::landmark::{Landmarker, Landmarks};
use crate::pose::pose_from_keypoints;
use fs_packs::ModelPack;

/// What to embed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Every photo under a directory, recursively.
    Tree(PathBuf),
    /// One file, whatever its name.
    File(PathBuf),
}

impl Source {
    /// A directory becomes a tree, anything else a single file.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.is_dir() {
            Self::Tree(path)
        } else {
            Self::File(path)
        }
    }
}

use fs_progress::{Phase, Progress};

/// Tuning knobs; [`EmbedOptions::default`] is what the CLI uses.
#[derive(Clone, Debug)]
pub struct EmbedOptions {
    /// Images per durable flush of the cache. A crash loses at most this many.
    pub flush_every: usize,
    /// Threads decoding photos ahead of the detector.
    pub decode_threads: usize,
    /// Faces per recognition batch.
    pub recognition_batch: usize,
    /// The program recorded in the cache's run log when this run embeds anything
    /// (with the execution provider the models run on).
    pub tool: String,
    /// Enter directories reached through symbolic links (as `rg -L`); a link back to a
    /// directory being walked is skipped, not followed round.
    pub follow_links: bool,
    /// Decode every photo at its full size, as the reference tool does, instead of only
    /// as finely as detection and alignment need (slower on large JPEGs; for comparing).
    pub full_decode: bool,
    /// A folder to write each new face's contact-sheet thumbnail into
    /// ([`crate::thumbnails`]), cut from the image already decoded.
    pub thumbnails: Option<PathBuf>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            flush_every: 50,
            decode_threads: 1,
            recognition_batch: 32,
            tool: format!("fs-embedder {}", env!("CARGO_PKG_VERSION")),
            follow_links: false,
            full_decode: false,
            thumbnails: None,
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmbedSummary {
    /// Photo files found.
    pub files: usize,
    /// Files already in the cache with an unchanged stamp.
    pub unchanged: usize,
    /// Files read and hashed this run.
    pub hashed: usize,
    /// Paths recorded as aliases of byte-identical images.
    pub aliases: usize,
    /// Distinct images decoded and run through the models.
    pub embedded: usize,
    /// Faces found in them.
    pub faces: usize,
    /// Images with no face.
    pub no_face: usize,
    /// Files that failed (unreadable, undecodable, or an inference error), with why.
    pub errors: Vec<(PathBuf, String)>,
    /// Photo files found, by the format their name says (`JPEG`, `HEIC`, …).
    pub formats: BTreeMap<&'static str, usize>,
    /// Files and directories passed over while scanning, by why.
    pub skipped: BTreeMap<Skipped, usize>,
}

/// Why a scan passed over an entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skipped {
    /// A file whose extension names no photo format (lower case, empty for none).
    NotAPhoto(String),
    /// A symbolic link to a directory, not entered without
    /// [`EmbedOptions::follow_links`].
    LinkedDirectory,
    /// A symbolic link back to a directory being walked.
    LinkLoop,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::NotAPhoto(ext) if ext.is_empty() => f.write_str("not photos (no extension)"),
            Skipped::NotAPhoto(ext) => write!(f, "not photos (.{ext})"),
            Skipped::LinkedDirectory => f.write_str("symlinked directories (--follow enters them)"),
            Skipped::LinkLoop => f.write_str("symlinks looping back to a parent"),
        }
    }
}

/// Detector and recogniser, ready to run, and the id of the embeddings they make.
pub struct FaceAnalyzer {
    detector: Detector,
    recognizer: Recognizer,
    /// The pack's 106-point landmark model, run in the embed pass on the image already
    /// decoded, so that `enrich` has nothing left to decode for new photos.
    landmarker: Option<Landmarker>,
    model: ModelId,
}

impl std::fmt::Debug for FaceAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceAnalyzer")
            .field("detector", &self.detector)
            .field("recognizer", &self.recognizer)
            .field("landmarker", &self.landmarker)
            .field("model", &self.model)
            .finish()
    }
}

/// Faces found in one image, before they go into a cache record.
#[derive(Clone, Debug)]
pub struct AnalyzedFace {
    /// The detection.
    pub detection: Detection,
    /// Raw recogniser output.
    pub embedding: Vec<f32>,
}

impl FaceAnalyzer {
    /// Loads the detector (letterboxed into `det_size`²), recogniser and 106-point
    /// landmark model (when the pack has one) of `pack`, each with `threads` intra-op
    /// threads. Requires [`fs_detect::runtime::init`].
    pub fn new(pack: &ModelPack, det_size: u32, threads: usize) -> Result<Self> {
        let detector = Detector::builder(&pack.detector)
            .input_size(det_size)
            .threads(threads)
            .build()?;
        let recognizer = Recognizer::new(&pack.recognizer, threads)?;
        Self::from_parts(detector, recognizer, pack)?.with_landmarks(pack, threads)
    }

    /// Loads `pack`'s 106-point landmark model, when it has one, for the embed pass to
    /// place every face's landmarks (and pose, from the keypoints) on the image it
    /// already decoded.
    pub fn with_landmarks(self, pack: &ModelPack, threads: usize) -> Result<Self> {
        let landmarker = pack
            .landmarks_2d_106
            .as_ref()
            .map(|model| Landmarker::new(model, threads))
            .transpose()?;
        Ok(Self { landmarker, ..self })
    }

    /// From already-built parts, loaded from `pack`'s files.
    pub fn from_parts(
        detector: Detector,
        mut recognizer: Recognizer,
        pack: &ModelPack,
    ) -> Result<Self> {
        let model = pack.model_id(recognizer.embedding_size()?)?;
        Ok(Self {
            detector,
            recognizer,
            landmarker: None,
            model,
        })
    }

    /// The id of the embeddings this analyzer makes.
    pub fn model(&self) -> &ModelId {
        &self.model
    }

    /// The detector.
    pub fn detector(&mut self) -> &mut Detector {
        &mut self.detector
    }

    /// The recogniser.
    pub fn recognizer(&mut self) -> &mut Recognizer {
        &mut self.recognizer
    }

    /// Detects and embeds every face of one image.
    pub fn analyze(&mut self, image: &RgbImage) -> Result<Vec<AnalyzedFace>> {
        let detections = self.detector.detect(image)?;
        let crops: Vec<RgbImage> = detections
            .iter()
            .map(|d| align_face(image, &d.kps))
            .collect();
        let embeddings = self.recognizer.embed(&crops)?;
        Ok(detections
            .into_iter()
            .zip(embeddings)
            .map(|(detection, embedding)| AnalyzedFace {
                detection,
                embedding,
            })
            .collect())
    }
}

/// A distinct image to embed.
#[derive(Clone, Debug)]
struct Job {
    hash: ContentHash,
    path: PathBuf,
    stamp: FileStamp,
}

/// What a decoding thread hands to the detector.
struct DecodedJob {
    job: Job,
    result: std::result::Result<Photo, DecodeFailure>,
}

/// A photo decoded for the detector.
struct Photo {
    decoded: decode::Decoded,
    prepared: PreparedInput,
    dhash: u64,
    /// The file's bytes, kept while a finer decode may be needed for alignment.
    bytes: Option<Vec<u8>>,
}

enum DecodeFailure {
    /// The file could not be read (vanished, permissions).
    Read(String),
    /// The bytes are not a decodable image.
    Decode(String),
}

/// An image whose faces are detected and aligned, waiting for recognition.
struct Pending {
    job: Job,
    width: u32,
    height: u32,
    detections: Vec<Detection>,
    sharpness: Vec<f32>,
    landmarks: Vec<Option<Vec<[f32; 2]>>>,
    crops: Vec<RgbImage>,
    dhash: u64,
}

/// Embeds every photo of `sources` that the cache does not hold yet.
///
/// The cache records the analyzer's model before anything else; a cache of another
/// model is refused ([`fs_cache::Error::ModelMismatch`]) before any photo is read.
/// Fatal errors (the cache cannot be written) stop the run after flushing what is done;
/// per-file problems are recorded in the cache and the summary.
pub fn embed(
    sources: &[Source],
    cache: &mut Cache,
    analyzer: &mut FaceAnalyzer,
    options: &EmbedOptions,
    progress: &dyn Progress,
) -> Result<EmbedSummary> {
    cache.bind_model(analyzer.model())?;
    let mut summary = EmbedSummary::default();
    let files = list_files(sources, options.follow_links, cache, &mut summary, progress)?;
    summary.files = files.len() + summary.errors.len();
    let jobs = hash_and_group(files, cache, &mut summary, progress)?;
    if !jobs.is_empty() {
        cache.record_run(fs_cache::RunRecord {
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            tool: options.tool.clone(),
            provider: fs_detect::runtime::active_provider().name().to_string(),
        })?;
    }
    cache.flush()?;
    run_models(jobs, cache, analyzer, options, &mut summary, progress)?;
    cache.flush()?;
    if cache.needs_compaction() {
        cache.compact()?;
    }
    tracing::info!(
        files = summary.files,
        embedded = summary.embedded,
        faces = summary.faces,
        errors = summary.errors.len(),
        "embedding done"
    );
    Ok(summary)
}

/// Whether a file's name says it is a photo `embed` reads: its extension names a
/// [`fs_detect::decode::Format`] (camera RAW included). A scan passes over the rest.
pub fn is_photo_name(path: &Path) -> bool {
    fs_detect::decode::Format::from_extension(path).is_some()
}

fn record_error(
    cache: &mut Cache,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
    path: PathBuf,
    message: String,
) -> Result<()> {
    tracing::warn!(path = %path.display(), "{message}");
    progress.failed(&path, &message);
    cache.record_unreadable(path.clone(), message.clone())?;
    summary.errors.push((path, message));
    Ok(())
}

/// Lists photo files with their stamps, sorted by path. Problems are recorded as errors.
fn list_files(
    sources: &[Source],
    follow_links: bool,
    cache: &mut Cache,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<Vec<(PathBuf, FileStamp)>> {
    let mut files = Vec::new();
    for source in sources {
        match source {
            Source::Tree(root) => {
                let root = std::path::absolute(root).map_err(|source| Error::Source {
                    path: root.clone(),
                    source,
                })?;
                fs::metadata(&root).map_err(|source| Error::Source {
                    path: root.clone(),
                    source,
                })?;
                let walk = walkdir::WalkDir::new(&root)
                    .follow_links(follow_links)
                    .sort_by_file_name();
                for entry in walk {
                    match entry {
                        Ok(entry) if entry.file_type().is_dir() => {}
                        Ok(entry) if entry.path_is_symlink() && entry.path().is_dir() => {
                            tracing::debug!(path = %entry.path().display(), "skipped: symlinked directory");
                            *summary.skipped.entry(Skipped::LinkedDirectory).or_default() += 1;
                        }
                        Ok(entry) if is_photo_name(entry.path()) => {
                            check_file(entry.into_path(), &mut files, cache, summary, progress)?;
                        }
                        Ok(entry) => {
                            tracing::debug!(path = %entry.path().display(), "skipped: not a photo file name");
                            let ext = entry
                                .path()
                                .extension()
                                .map(|e| e.to_string_lossy().to_lowercase())
                                .unwrap_or_default();
                            *summary.skipped.entry(Skipped::NotAPhoto(ext)).or_default() += 1;
                        }
                        Err(e) if e.loop_ancestor().is_some() => {
                            tracing::debug!("skipped: {e}");
                            *summary.skipped.entry(Skipped::LinkLoop).or_default() += 1;
                        }
                        Err(e) => {
                            let path = e.path().map_or_else(|| root.clone(), Path::to_path_buf);
                            record_error(
                                cache,
                                summary,
                                progress,
                                path,
                                format!("cannot list: {e}"),
                            )?;
                        }
                    }
                }
            }
            Source::File(path) => {
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                check_file(path, &mut files, cache, summary, progress)?;
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    for (path, _) in &files {
        let format = fs_detect::decode::Format::from_extension(path).map_or("other", |f| f.name());
        *summary.formats.entry(format).or_default() += 1;
    }
    Ok(files)
}

fn check_file(
    path: PathBuf,
    files: &mut Vec<(PathBuf, FileStamp)>,
    cache: &mut Cache,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<()> {
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() => files.push((path, FileStamp::from_metadata(&meta))),
        Ok(meta) if meta.is_dir() => {
            record_error(
                cache,
                summary,
                progress,
                path,
                "is a directory, not a photo".into(),
            )?;
        }
        Ok(_) => record_error(cache, summary, progress, path, "not a regular file".into())?,
        Err(e) => record_error(cache, summary, progress, path, format!("cannot read: {e}"))?,
    }
    Ok(())
}

/// Hashes new files in parallel, records aliases, and returns one job per distinct
/// image that still needs the models, sorted by path.
fn hash_and_group(
    files: Vec<(PathBuf, FileStamp)>,
    cache: &mut Cache,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<Vec<Job>> {
    let statuses: Vec<PathStatus> = files
        .iter()
        .map(|(p, s)| cache.path_status(p, *s))
        .collect();
    let to_hash = statuses.iter().filter(|s| **s == PathStatus::New).count();
    progress.start(Phase::Hash, to_hash as u64);
    let hashed: Vec<std::result::Result<ContentHash, String>> = files
        .par_iter()
        .zip(&statuses)
        .map(|((path, _), status)| match status {
            PathStatus::Done(hash) | PathStatus::Hashed(hash) => Ok(*hash),
            PathStatus::New => {
                let result = File::open(path)
                    .and_then(ContentHash::of_reader)
                    .map_err(|e| format!("cannot read: {e}"));
                progress.done(path);
                result
            }
        })
        .collect();
    progress.finish(Phase::Hash);

    let mut claimed: HashMap<ContentHash, usize> = HashMap::new();
    let mut jobs = Vec::new();
    for (((path, stamp), status), hash) in files.into_iter().zip(statuses).zip(hashed) {
        let hash = match hash {
            Ok(hash) => hash,
            Err(message) => {
                record_error(cache, summary, progress, path, message)?;
                continue;
            }
        };
        if status == PathStatus::New {
            summary.hashed += 1;
        }
        if let Some(image) = cache.image(&hash) {
            if status != PathStatus::New {
                summary.unchanged += 1;
            } else if image.path != path {
                cache.add_alias(hash, path, stamp)?;
                summary.aliases += 1;
            } else {
                // Canonical file touched but unchanged in content: refresh its stamp.
                cache.add_alias(hash, path, stamp)?;
            }
            continue;
        }
        if let Some(&first) = claimed.get(&hash) {
            let canonical: &Job = &jobs[first];
            tracing::debug!(path = %path.display(), canonical = %canonical.path.display(), "byte-identical");
            cache.add_alias(hash, path, stamp)?;
            summary.aliases += 1;
            continue;
        }
        claimed.insert(hash, jobs.len());
        jobs.push(Job { hash, path, stamp });
    }
    Ok(jobs)
}

fn run_models(
    jobs: Vec<Job>,
    cache: &mut Cache,
    analyzer: &mut FaceAnalyzer,
    options: &EmbedOptions,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<()> {
    progress.start(Phase::Embed, jobs.len() as u64);
    if jobs.is_empty() {
        progress.finish(Phase::Embed);
        return Ok(());
    }
    let letterbox = analyzer.detector.letterbox();
    let threads = options.decode_threads.max(1);
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    for job in jobs {
        job_tx.send(job).expect("receiver alive");
    }
    drop(job_tx);
    // Small bound: enough to hide decode latency, little memory for decoded photos.
    let (done_tx, done_rx) = bounded::<DecodedJob>(threads * 2);
    thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                for job in job_rx {
                    let result = decode_job(&job, &letterbox, options.full_decode);
                    if let (Some(dir), Ok(photo)) = (&options.thumbnails, &result) {
                        write_photo_thumbnail(dir, job.hash, &photo.decoded.image);
                    }
                    if done_tx.send(DecodedJob { job, result }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let result = consume(&done_rx, cache, analyzer, options, summary, progress);
        // On a fatal error, stop the decoders: drain so their sends fail fast.
        drop(done_rx);
        result
    })?;
    progress.finish(Phase::Embed);
    Ok(())
}

fn decode_job(
    job: &Job,
    letterbox: &Letterbox,
    full_decode: bool,
) -> std::result::Result<Photo, DecodeFailure> {
    let bytes =
        fs::read(&job.path).map_err(|e| DecodeFailure::Read(format!("cannot read: {e}")))?;
    let long_side = if full_decode {
        u32::MAX
    } else {
        letterbox.fit.0.max(letterbox.fit.1)
    };
    let decoded = decode::decode_photo_scaled(Some(&job.path), &bytes, long_side)
        .map_err(|e| DecodeFailure::Decode(e.to_string()))?;
    let prepared = letterbox.prepare(&decoded.image);
    let dhash = fs_quality::dhash(&decoded.image);
    let bytes = (!decoded.is_full()).then_some(bytes);
    Ok(Photo {
        decoded,
        prepared,
        dhash,
        bytes,
    })
}

/// Most template pixels per source pixel a face may be aligned at: past this, the crop
/// would be upsampled from a coarser image than the full-size photo has to offer.
const MAX_ALIGN_UPSCALE: f64 = 1.0;

/// The long side a photo must be decoded at so that every face of `detections` (found
/// in an image whose long side is `long_side`) is aligned without upsampling, or `None`
/// when that image already serves.
fn alignment_long_side(detections: &[Detection], long_side: u32) -> Option<u32> {
    let finest = detections
        .iter()
        .map(|d| {
            let m = umeyama(&d.kps, &ARCFACE_TEMPLATE);
            // A similarity's scale is the length of its first column.
            m[0][0].hypot(m[1][0])
        })
        .fold(0.0f64, f64::max);
    let needed = finest / MAX_ALIGN_UPSCALE;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a side in pixels, capped at u32::MAX by the saturating cast"
    )]
    (needed > 1.0).then(|| (f64::from(long_side) * needed).ceil() as u32)
}

/// `detection` found in an image of `from` pixels, moved into one of `to` pixels.
#[expect(clippy::cast_precision_loss, reason = "sides are below 2^24")]
fn rescale(detection: &Detection, from: (u32, u32), to: (u32, u32)) -> Detection {
    let sx = to.0 as f32 / from.0 as f32;
    let sy = to.1 as f32 / from.1 as f32;
    mapped(detection, |[x, y]| [x * sx, y * sy])
}

/// `detection` with `f` applied to its box corners and keypoints (a scale or a shift,
/// which keep a box a box); the score is kept.
fn mapped(detection: &Detection, f: impl Fn([f32; 2]) -> [f32; 2]) -> Detection {
    let [x1, y1, x2, y2] = detection.bbox;
    let ([x1, y1], [x2, y2]) = (f([x1, y1]), f([x2, y2]));
    Detection {
        bbox: [x1, y1, x2, y2],
        kps: detection.kps.map(&f),
        score: detection.score,
    }
}

/// The image faces are aligned from: `photo`'s own when it is fine enough for every
/// face, else the photo decoded again as finely as the smallest face needs.
fn alignment_image<'a>(
    photo: &'a Photo,
    path: &Path,
    detections: &[Detection],
) -> std::result::Result<std::borrow::Cow<'a, RgbImage>, String> {
    let image = &photo.decoded.image;
    let needed = alignment_long_side(detections, image.width().max(image.height()));
    match (needed, &photo.bytes) {
        (Some(long_side), Some(bytes)) => decode::decode_photo_scaled(Some(path), bytes, long_side)
            .map(|finer| std::borrow::Cow::Owned(finer.image))
            .map_err(|e| format!("decoding again at a finer scale failed: {e}")),
        _ => Ok(std::borrow::Cow::Borrowed(image)),
    }
}

fn consume(
    done_rx: &Receiver<DecodedJob>,
    cache: &mut Cache,
    analyzer: &mut FaceAnalyzer,
    options: &EmbedOptions,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut since_flush = 0usize;
    loop {
        let next = match done_rx.try_recv() {
            Ok(d) => Some(d),
            Err(TryRecvError::Empty) => {
                // Nothing decoded yet: use the wait to run recognition on what we have.
                if !pending.is_empty() {
                    since_flush +=
                        finish_pending(&mut pending, cache, analyzer, summary, progress)?;
                }
                done_rx.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
        let Some(decoded) = next else { break };
        let DecodedJob { job, result } = decoded;
        match result {
            Err(DecodeFailure::Read(message)) => {
                record_error(cache, summary, progress, job.path.clone(), message)?;
                progress.done(&job.path);
            }
            Err(DecodeFailure::Decode(message)) => {
                tracing::warn!(path = %job.path.display(), "{message}");
                progress.failed(&job.path, &message);
                summary.errors.push((job.path.clone(), message.clone()));
                cache.insert_image(ImageRecord {
                    hash: job.hash,
                    path: job.path.clone(),
                    stamp: job.stamp,
                    width: 0,
                    height: 0,
                    outcome: ImageOutcome::DecodeError(message),
                    dhash: None,
                    aliases: Vec::new(),
                })?;
                since_flush += 1;
                progress.done(&job.path);
            }
            Ok(photo) => {
                match detect_and_align(analyzer, &photo, &job.path, options.thumbnails.is_some()) {
                    Ok(Aligned {
                        detections,
                        sharpness,
                        landmarks,
                        crops,
                        thumbnails,
                    }) => {
                        if let Some(dir) = &options.thumbnails {
                            write_thumbnails(dir, job.hash, thumbnails);
                        }
                        pending.push(Pending {
                            width: photo.decoded.full_width,
                            height: photo.decoded.full_height,
                            job,
                            detections,
                            sharpness,
                            landmarks,
                            crops,
                            dhash: photo.dhash,
                        });
                    }
                    Err(message) => {
                        // Not recorded in the cache, so the next run tries again.
                        tracing::warn!(path = %job.path.display(), "{message}");
                        progress.failed(&job.path, &message);
                        summary.errors.push((job.path.clone(), message));
                        progress.done(&job.path);
                    }
                }
            }
        }
        let pending_faces: usize = pending.iter().map(|p| p.crops.len()).sum();
        if pending_faces >= options.recognition_batch || pending.len() >= options.flush_every {
            since_flush += finish_pending(&mut pending, cache, analyzer, summary, progress)?;
        }
        if since_flush >= options.flush_every {
            cache.flush()?;
            since_flush = 0;
        }
    }
    finish_pending(&mut pending, cache, analyzer, summary, progress)?;
    Ok(())
}

/// The faces of one photo, detected and aligned, waiting for recognition.
struct Aligned {
    /// In full-size coordinates.
    detections: Vec<Detection>,
    sharpness: Vec<f32>,
    /// 106 points per face, in full-size coordinates, where the pack has the model.
    landmarks: Vec<Option<Vec<[f32; 2]>>>,
    crops: Vec<RgbImage>,
    /// Contact-sheet thumbnails, when asked for.
    thumbnails: Vec<Option<Vec<u8>>>,
}

/// Writes the thumbnail of the whole photo `hash` into `dir`, from the image decoded
/// for detection; only logged when it fails (it can be made again).
fn write_photo_thumbnail(dir: &Path, hash: ContentHash, image: &RgbImage) {
    let written = crate::thumbnails::photo(image)
        .map_err(std::io::Error::other)
        .and_then(|jpeg| crate::thumbnails::write_photo(dir, &hash, &jpeg));
    if let Err(e) = written {
        tracing::debug!("thumbnail of {hash} not written in {}: {e}", dir.display());
    }
}

/// Writes the thumbnails of the faces of the image `hash` into `dir`. They can be made
/// again from the photo, so a failure is only logged.
fn write_thumbnails(dir: &Path, hash: ContentHash, jpegs: Vec<Option<Vec<u8>>>) {
    for (index, jpeg) in (0u32..).zip(jpegs) {
        let key = FaceKey { hash, index };
        if let Some(Err(e)) = jpeg.map(|j| crate::thumbnails::write(dir, &key, &j)) {
            tracing::debug!("thumbnail of {key} not written in {}: {e}", dir.display());
        }
    }
}

/// Detects the faces of `photo`, aligns them, measures their sharpness and places their
/// landmarks, from an image fine enough for each; everything comes back in full-size
/// coordinates. With `thumbnails`, each face's thumbnail is cut from that image too.
fn detect_and_align(
    analyzer: &mut FaceAnalyzer,
    photo: &Photo,
    path: &Path,
    thumbnails: bool,
) -> std::result::Result<Aligned, String> {
    let image = &photo.decoded.image;
    let found = analyzer
        .detector
        .detect_prepared(image, &photo.prepared)
        .map_err(|e| format!("detection failed: {e}"))?;
    let source = alignment_image(photo, path, &found)?;
    let here = source.dimensions();
    let mut detections = Vec::with_capacity(found.len());
    let mut crops = Vec::with_capacity(found.len());
    let mut sharpness = Vec::with_capacity(found.len());
    let mut landmarks = Vec::with_capacity(found.len());
    let full = (photo.decoded.full_width, photo.decoded.full_height);
    #[expect(clippy::cast_precision_loss, reason = "image sides")]
    let (sx, sy) = (
        full.0 as f32 / here.0.max(1) as f32,
        full.1 as f32 / here.1.max(1) as f32,
    );
    for d in &found {
        let seen = box_side(d) * photo.prepared.scale();
        let d = rescale(d, image.dimensions(), here);
        let d = refine_small_face(&mut analyzer.detector, &source, d, seen)
            .map_err(|e| format!("detection failed: {e}"))?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a variance well within f32"
        )]
        sharpness.push(fs_quality::face_sharpness(&source, d.bbox) as f32);
        crops.push(align_face_smooth(&source, &d.kps));
        landmarks.push(match analyzer.landmarker.as_mut() {
            Some(model) => match model
                .predict(&source, d.bbox)
                .map_err(|e| format!("landmarks failed: {e}"))?
            {
                Landmarks::Points2d(points) => {
                    Some(points.into_iter().map(|[x, y]| [x * sx, y * sy]).collect())
                }
                Landmarks::Points3d(_) => None,
            },
            None => None,
        });
        detections.push(d);
    }
    let thumbnails = if thumbnails {
        let boxes: Vec<[f32; 4]> = detections.iter().map(|d| d.bbox).collect();
        crate::thumbnails::cut(&source, &boxes)
    } else {
        Vec::new()
    };
    Ok(Aligned {
        detections: detections.iter().map(|d| rescale(d, here, full)).collect(),
        sharpness,
        landmarks,
        crops,
        thumbnails,
    })
}

/// A face whose box is smaller than this, in pixels of the detector's input, gets a
/// second look at a finer resolution when the photo has one.
const REFINE_BELOW: f32 = 64.0;

/// Side of a face's box, in pixels of the second look's input.
const REFINE_TO: f32 = 160.0;

/// Grid the second look's region is placed on, in source pixels.
const REFINE_GRID: f32 = 32.0;

/// The longer side of a detection's box.
fn box_side(d: &Detection) -> f32 {
    (d.bbox[2] - d.bbox[0]).max(d.bbox[3] - d.bbox[1])
}

/// A face the detector saw at `seen` pixels, detected again in a region of `source`
/// around it, scaled so that the face is [`REFINE_TO`] pixels: a few dozen pixels
/// place the keypoints only to within a pixel or two, and at the photo's own resolution
/// that is a large part of a small face, enough to move its embedding. The first
/// score is kept. Faces seen large enough, or with no finer pixels in `source` than the
/// detector had, are returned as they are.
fn refine_small_face(
    detector: &mut Detector,
    source: &RgbImage,
    d: Detection,
    seen: f32,
) -> fs_detect::Result<Detection> {
    let side = box_side(&d);
    if seen >= REFINE_BELOW || side < 1.5 * seen || side < 8.0 {
        return Ok(d);
    }
    // The region is snapped to a grid, so that two looks at one face from slightly
    // different first boxes (a photo decoded at two scales) see the same pixels.
    let snap = |v: f32| (v / REFINE_GRID).round() * REFINE_GRID;
    let side = (side / REFINE_GRID).ceil() * REFINE_GRID;
    let centre = [
        snap(f32::midpoint(d.bbox[0], d.bbox[2])),
        snap(f32::midpoint(d.bbox[1], d.bbox[3])),
    ];
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "clamped to the image"
    )]
    let span = |c: f32, limit: u32| -> (u32, u32) {
        let lo = (c - 1.5 * side).clamp(0.0, limit as f32) as u32;
        let hi = (c + 1.5 * side).ceil().clamp(0.0, limit as f32) as u32;
        (lo, hi)
    };
    let (x0, x1) = span(centre[0], source.width());
    let (y0, y1) = span(centre[1], source.height());
    if x1 <= x0 + 8 || y1 <= y0 + 8 {
        return Ok(d);
    }
    let region = image::imageops::crop_imm(source, x0, y0, x1 - x0, y1 - y0).to_image();
    let grow = REFINE_TO / side;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a few hundred pixels"
    )]
    let fit = |n: u32| ((n as f32 * grow).ceil() as u32).max(32);
    let letterbox = detector.letterbox_fitting((fit(x1 - x0), fit(y1 - y0)));
    #[expect(clippy::cast_precision_loss, reason = "pixel coordinates")]
    let (ox, oy) = (x0 as f32, y0 as f32);
    let here = mapped(&d, |[x, y]| [x - ox, y - oy]);
    let best = detector
        .run(&letterbox.prepare(&region))?
        .into_iter()
        .map(|r| (fs_detect::nms::iou(&r.bbox, &here.bbox), r))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match best {
        Some((overlap, r)) if overlap >= 0.5 => Detection {
            score: d.score,
            ..mapped(&r, |[x, y]| [x + ox, y + oy])
        },
        _ => d,
    })
}

/// Runs recognition over every pending face and writes the records; returns how many
/// images were written.
fn finish_pending(
    pending: &mut Vec<Pending>,
    cache: &mut Cache,
    analyzer: &mut FaceAnalyzer,
    summary: &mut EmbedSummary,
    progress: &dyn Progress,
) -> Result<usize> {
    if pending.is_empty() {
        return Ok(0);
    }
    let crops: Vec<RgbImage> = pending.iter_mut().flat_map(|p| p.crops.drain(..)).collect();
    let mut embeddings = match analyzer.recognizer.embed(&crops) {
        Ok(e) => e.into_iter(),
        Err(e) => {
            let message = format!("recognition failed: {e}");
            for p in pending.drain(..) {
                progress.failed(&p.job.path, &message);
                summary.errors.push((p.job.path.clone(), message.clone()));
                progress.done(&p.job.path);
            }
            return Ok(0);
        }
    };
    let written = pending.len();
    for p in pending.drain(..) {
        let faces: Vec<Face> = p
            .detections
            .into_iter()
            .zip(p.sharpness)
            .zip(p.landmarks)
            .map(|((d, sharpness), landmarks)| Face {
                pose: Some(pose_from_keypoints(&d.kps)),
                bbox: d.bbox,
                kps: d.kps,
                det_score: d.score,
                embedding: Embedding::from_raw(&embeddings.next().expect("one embedding per crop")),
                sharpness: Some(sharpness),
                landmarks_2d_106: landmarks,
                landmarks_3d_68: None,
            })
            .collect();
        summary.embedded += 1;
        summary.faces += faces.len();
        let outcome = if faces.is_empty() {
            summary.no_face += 1;
            ImageOutcome::NoFace
        } else {
            ImageOutcome::Faces(faces)
        };
        cache.insert_image(ImageRecord {
            hash: p.job.hash,
            path: p.job.path.clone(),
            stamp: p.job.stamp,
            width: p.width,
            height: p.height,
            outcome,
            dhash: Some(p.dhash),
            aliases: Vec::new(),
        })?;
        progress.done(&p.job.path);
    }
    Ok(written)
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "scaling by powers of two is exact")]
mod tests {
    use super::*;

    fn face(scale: f32, at: [f32; 2]) -> Detection {
        let kps = ARCFACE_TEMPLATE.map(|[x, y]| [x * scale + at[0], y * scale + at[1]]);
        Detection {
            bbox: [at[0], at[1], at[0] + 112.0 * scale, at[1] + 112.0 * scale],
            kps,
            score: 0.9,
        }
    }

    #[test]
    fn faces_at_the_crops_resolution_need_no_finer_decode() {
        assert_eq!(alignment_long_side(&[face(1.0, [10.0, 10.0])], 1008), None);
        assert_eq!(alignment_long_side(&[face(3.0, [10.0, 10.0])], 1008), None);
        assert_eq!(alignment_long_side(&[], 1008), None);
    }

    #[test]
    fn the_smallest_face_sets_the_finer_decode() {
        // A face at a quarter of the crop's resolution needs four times the side.
        let small = face(0.25, [10.0, 10.0]);
        let large = face(2.0, [300.0, 10.0]);
        let side = alignment_long_side(&[large, small], 1008).unwrap();
        assert!((4031..=4033).contains(&side), "{side}");
    }

    #[test]
    fn rescaling_maps_boxes_and_keypoints_between_sizes() {
        let d = face(1.0, [100.0, 50.0]);
        let up = rescale(&d, (1008, 756), (4032, 3024));
        assert_eq!(up.bbox, [400.0, 200.0, 848.0, 648.0]);
        assert_eq!(up.kps[0], [d.kps[0][0] * 4.0, d.kps[0][1] * 4.0]);
        let back = rescale(&up, (4032, 3024), (1008, 756));
        assert_eq!(back.bbox, d.bbox);
        assert_eq!(back.score, d.score);
    }
}
