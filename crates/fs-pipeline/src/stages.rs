//! The stages `run` chains, each callable alone: embed, enrich, export to the library,
//! and the report. Each returns a summary that prints as the lines a person reads
//! (`Display`) and serialises as one JSON object.

use std::fmt;
use std::path::{Path, PathBuf};

use fs_cache::Cache;
use fs_detect::Detector;
use fs_embedder::arcface::Recognizer;
use fs_embedder::enrich::{EnrichSummary, LandmarkModels};
use fs_embedder::landmark::Landmarker;
use fs_embedder::pipeline::{EmbedOptions, EmbedSummary, FaceAnalyzer, Source};
use fs_export::swap::SwapOptions;
use fs_identities::manifest::{RawManifest, RefineManifest};
use fs_library::{Changes, Distances, Library};
use fs_packs::ModelPack;
use fs_progress::Progress;
use serde::Serialize;

use crate::error::{Result, input};
use crate::models::{Models, Overrides};

/// Failed inputs: a path and why.
pub type Failures = Vec<(PathBuf, String)>;

/// Serialises failures as `[{"path": …, "error": …}]`.
pub(crate) fn failures_json<S: serde::Serializer>(
    errors: &Failures,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(errors.len()))?;
    for (path, error) in errors {
        seq.serialize_element(&serde_json::json!({ "path": path, "error": error }))?;
    }
    seq.end()
}

/// Lists failures under a summary, one indented line each.
fn write_failures(f: &mut fmt::Formatter<'_>, errors: &Failures) -> fmt::Result {
    for (path, message) in errors {
        write!(f, "\n  {}: {message}", path.display())?;
    }
    Ok(())
}

/// What `embed` does: which photos, into which cache, with which models.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    /// Folders (walked) and files.
    pub sources: Vec<Source>,
    /// The cache file, made when missing.
    pub cache: PathBuf,
    /// A pack name or folder; `None`: the cache's pack, else the default.
    pub pack: Option<String>,
    /// The detector's input size (640 is InsightFace's).
    pub det_size: u32,
    /// Recover faces that fill the frame, which a letterboxed detector misses.
    pub recover_filling_faces: bool,
    /// Decoding and caching options.
    pub options: EmbedOptions,
}

impl EmbedRequest {
    /// Embeds `sources` into `cache` with the defaults.
    pub fn new(sources: Vec<Source>, cache: impl Into<PathBuf>) -> Self {
        Self {
            sources,
            cache: cache.into(),
            pack: None,
            det_size: 640,
            recover_filling_faces: true,
            options: EmbedOptions {
                decode_threads: default_decode_threads(),
                ..EmbedOptions::default()
            },
        }
    }

    /// With the pack `name` (or a folder of models).
    #[must_use]
    pub fn pack(mut self, name: impl Into<String>) -> Self {
        self.pack = Some(name.into());
        self
    }
}

/// Reads a list of photo paths: a JSON array of strings (or of objects with a `path`),
/// or one path per line (`#` starts a comment). Listed files are checked one by one
/// when embedded: a missing one is that file's error.
pub fn read_list(list: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(list)
        .map_err(|e| input(list, format!("cannot read the list: {e}")))?;
    if !text.trim_start().starts_with('[') {
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(PathBuf::from)
            .collect());
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| input(list, format!("is not a JSON array: {e}")))?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(PathBuf::from(s)),
            serde_json::Value::Object(o) => o
                .get("path")
                .and_then(|p| p.as_str())
                .map(PathBuf::from)
                .ok_or_else(|| input(list, "an entry has no \"path\"")),
            other => Err(input(list, format!("unexpected entry {other}"))),
        })
        .collect()
}

/// A quarter of the cores decode ahead of the models.
fn default_decode_threads() -> usize {
    (std::thread::available_parallelism().map_or(2, std::num::NonZero::get) / 4).max(1)
}

/// What `embed` did.
#[derive(Clone, Debug, Serialize)]
pub struct EmbedReport {
    /// The cache.
    pub cache: PathBuf,
    /// Whether the cache was new (its model chosen by this run).
    pub new_cache: bool,
    /// The model whose faces the cache holds: pack, files and checksums.
    pub model: String,
    /// The counts.
    #[serde(flatten)]
    pub summary: EmbedCounts,
}

/// [`EmbedSummary`] as a person and a script read it.
#[derive(Clone, Debug, Serialize)]
pub struct EmbedCounts {
    /// Photo files found.
    pub files: usize,
    /// Files the cache already had, unchanged.
    pub unchanged: usize,
    /// Files read and hashed.
    pub hashed: usize,
    /// New paths of photos already cached.
    pub aliases: usize,
    /// Distinct images embedded.
    pub embedded: usize,
    /// Faces found.
    pub faces: usize,
    /// Images without a face.
    pub no_face: usize,
    /// Photo files by format.
    pub formats: std::collections::BTreeMap<&'static str, usize>,
    /// What the scan passed over, by why.
    pub skipped: std::collections::BTreeMap<String, usize>,
    /// Files that failed.
    #[serde(serialize_with = "failures_json")]
    pub errors: Failures,
}

impl From<EmbedSummary> for EmbedCounts {
    fn from(s: EmbedSummary) -> Self {
        Self {
            files: s.files,
            unchanged: s.unchanged,
            hashed: s.hashed,
            aliases: s.aliases,
            embedded: s.embedded,
            faces: s.faces,
            no_face: s.no_face,
            formats: s.formats,
            skipped: s
                .skipped
                .into_iter()
                .map(|(why, n)| (why.to_string(), n))
                .collect(),
            errors: s.errors,
        }
    }
}

impl EmbedCounts {
    /// What the scan saw besides photos: files per format, and what it passed over and
    /// why (`formats: HEIC 2, JPEG 10; skipped: 2 not photos (.mov)`).
    pub fn scan_line(&self) -> Option<String> {
        if self.formats.is_empty() && self.skipped.is_empty() {
            return None;
        }
        let formats: Vec<String> = self
            .formats
            .iter()
            .map(|(format, n)| format!("{format} {n}"))
            .collect();
        let line = format!("formats: {}", formats.join(", "));
        if self.skipped.is_empty() {
            return Some(line);
        }
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        Some(format!("{line}; skipped: {}", skipped.join(", ")))
    }
}

impl fmt::Display for EmbedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        if self.new_cache {
            writeln!(
                f,
                "new cache {}: faces by {}",
                self.cache.display(),
                self.model
            )?;
        }
        write!(
            f,
            "{} photo files: {} unchanged, {} hashed, {} new aliases; {} images embedded \
             ({} faces, {} without a face); {} errors",
            s.files,
            s.unchanged,
            s.hashed,
            s.aliases,
            s.embedded,
            s.faces,
            s.no_face,
            s.errors.len()
        )?;
        if let Some(line) = s.scan_line() {
            write!(f, "\n{line}")?;
        }
        write_failures(f, &s.errors)
    }
}

/// Opens the detector and recogniser `request` asks for.
fn analyzer_for(request: &EmbedRequest, pack: &ModelPack, threads: usize) -> Result<FaceAnalyzer> {
    let detector = Detector::builder(&pack.detector)
        .input_size(request.det_size)
        .threads(threads)
        .recover_filling_faces(request.recover_filling_faces)
        .build()?;
    let recognizer = Recognizer::new(&pack.recognizer, threads)?;
    Ok(FaceAnalyzer::from_parts(detector, recognizer, pack)?.with_landmarks(pack, threads)?)
}

/// Embeds every photo of `request.sources` that its cache does not hold yet.
pub fn embed(
    request: &EmbedRequest,
    models: &Models,
    progress: &dyn Progress,
) -> Result<EmbedReport> {
    if request.cache.is_dir() {
        return Err(input(
            &request.cache,
            "is a folder; a cache is a file, such as photos.fsc",
        ));
    }
    let mut cache = Cache::open(&request.cache)?;
    embed_into(request, &mut cache, models, progress)
}

/// [`embed`] into `cache`, already open (a caller that goes on with the cache, as
/// `run` does, reads it once).
pub fn embed_into(
    request: &EmbedRequest,
    cache: &mut Cache,
    models: &Models,
    progress: &dyn Progress,
) -> Result<EmbedReport> {
    if let Some(missing) = request.sources.iter().find_map(|s| match s {
        Source::Tree(p) if !p.exists() => Some(p),
        _ => None,
    }) {
        return Err(input(missing, "no such folder or file"));
    }
    let pack = models.pack(request.pack.as_deref(), cache.model(), progress)?;
    let mut analyzer = analyzer_for(request, &pack, models.thread_count())?;
    let new_cache = cache.model().is_none();
    let model = analyzer.model().to_string();
    let summary = fs_embedder::pipeline::embed(
        &request.sources,
        cache,
        &mut analyzer,
        &request.options,
        progress,
    )?;
    Ok(EmbedReport {
        cache: request.cache.clone(),
        new_cache,
        model,
        summary: summary.into(),
    })
}

/// What `enrich` did.
#[derive(Clone, Debug, Serialize)]
pub struct EnrichReport {
    /// Images whose faces were enriched.
    pub images: usize,
    /// Faces enriched.
    pub faces: usize,
    /// Images already complete.
    pub skipped: usize,
    /// Photos that could not be read.
    #[serde(serialize_with = "failures_json")]
    pub errors: Failures,
}

impl From<EnrichSummary> for EnrichReport {
    fn from(s: EnrichSummary) -> Self {
        Self {
            images: s.images,
            faces: s.faces,
            skipped: s.skipped,
            errors: s.errors,
        }
    }
}

impl fmt::Display for EnrichReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "enriched {} faces in {} images ({} images already complete); {} errors",
            self.faces,
            self.images,
            self.skipped,
            self.errors.len()
        )?;
        write_failures(f, &self.errors)
    }
}

/// Adds 106-point landmarks and head pose to every face of `cache` that lacks them,
/// with the landmark models of `pack` (the cache's pack when `None`), flushing every
/// `flush_every` images.
pub fn enrich(
    cache: &mut Cache,
    pack: Option<&str>,
    models: &Models,
    flush_every: usize,
    progress: &dyn Progress,
) -> Result<EnrichReport> {
    let pack = models.pack(pack, cache.model(), progress)?;
    if pack.landmarks_2d_106.is_none() && pack.landmarks_3d_68.is_none() {
        progress.note(&format!(
            "enrich: the {} pack has no landmark models; head pose comes from the five \
             detector keypoints and faces get no 106-point landmarks",
            pack.name()
        ));
    }
    let threads = models.thread_count();
    let open = |path: &Option<PathBuf>| {
        path.as_ref()
            .map(|p| Landmarker::new(p, threads))
            .transpose()
    };
    let (mut points_2d, mut points_3d) =
        (open(&pack.landmarks_2d_106)?, open(&pack.landmarks_3d_68)?);
    let summary = fs_embedder::enrich::enrich(
        cache,
        LandmarkModels {
            points_2d_106: points_2d.as_mut(),
            points_3d_68: points_3d.as_mut(),
        },
        flush_every,
        progress,
    )?;
    Ok(summary.into())
}

/// How identities go into the library: the export's settings (its distances come from
/// the library or the pack, with [`Overrides`]), the roop crop check, the lock.
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// Crops per identity, crop size and padding, gates and candidates. Its two
    /// distances are replaced by the export-outlier and candidate distances in force.
    pub swap: SwapOptions,
    /// Distances given by the caller.
    pub overrides: Overrides,
    /// Re-detect every crop as roop-unleashed will, and leave out crops it would not
    /// take (needs the cache's detector).
    pub crop_check: bool,
    /// How long to wait for another writer of the library before giving up.
    pub lock_timeout: std::time::Duration,
    /// The program named in the library's lock while it writes.
    pub writer: String,
    /// The pack whose detector checks crops: a pack name or folder; `None`: the
    /// cache's pack.
    pub pack: Option<String>,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            swap: SwapOptions::default(),
            overrides: Overrides::default(),
            crop_check: true,
            lock_timeout: std::time::Duration::from_mins(10),
            writer: "face-sets".into(),
            pack: None,
        }
    }
}

/// Opens the library in `dir` for `writer`, telling `progress` what opening it put
/// right and, while another process writes it, who that is.
pub fn open_library(dir: &Path, writer: &str, progress: &dyn Progress) -> Result<Library> {
    let library = Library::open(dir)?.with_writer_name(writer);
    for line in library.healed() {
        progress.note(&format!("library: {line}"));
    }
    Ok(library)
}

/// What an export to the library did.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    /// The library's manifest.
    pub library: PathBuf,
    /// Identities in the library now.
    pub identities: usize,
    /// Candidates offered.
    pub candidates: usize,
    /// Identities added, updated, unchanged, and those left out with why.
    #[serde(skip)]
    pub changes: Changes,
    /// One line per identity touched: crops kept and dropped, mean quality.
    pub lines: Vec<String>,
    /// The library's revision after the change.
    pub revision: u64,
    /// What opening the library put right.
    pub healed: Vec<String>,
}

impl ExportReport {
    fn of(library: &Library, changes: Changes) -> Self {
        let mut lines = Vec::new();
        for (verb, names) in [
            ("added", &changes.added),
            ("updated", &changes.updated),
            ("unchanged", &changes.unchanged),
        ] {
            for name in names {
                if let Some(entry) = library.entry(name) {
                    lines.push(format!(
                        "{verb} {name}: {} crops ({} dropped), mean quality {:.2}",
                        entry.export.faces.len(),
                        entry.export.dropped.len(),
                        entry.export.mean_quality
                    ));
                }
            }
        }
        lines.extend(
            changes
                .left_out
                .iter()
                .map(|(name, why)| format!("not exported {name}: {why}")),
        );
        Self {
            library: library.dir().join(fs_export::swap::SWAP_MANIFEST),
            identities: library.manifest().facesets.len(),
            candidates: library.manifest().candidates.len(),
            changes,
            lines,
            revision: library.revision(),
            healed: library.healed().to_vec(),
        }
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "  {line}")?;
        }
        let c = &self.changes;
        write!(
            f,
            "library {}: {} identities ({} added, {} updated, {} unchanged), {} candidates, {} errors",
            self.library.display(),
            self.identities,
            c.added.len(),
            c.updated.len(),
            c.unchanged.len(),
            self.candidates,
            c.errors.len(),
        )?;
        write_failures(f, &c.errors)
    }
}

/// Exports the facesets of `refine` (and, with candidates, the singletons of `raw`)
/// into the library `library`, growing it without renumbering.
pub fn export(
    cache: &Cache,
    refine: &RefineManifest,
    raw: Option<&RawManifest>,
    library: Library,
    settings: &ExportSettings,
    models: &Models,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let (distances, origin) =
        crate::models::distances(cache, Some(&library), &settings.overrides, progress);
    export_at(
        cache,
        refine,
        raw,
        library,
        (distances, origin),
        settings,
        models,
        progress,
    )
}

/// [`export`] at distances already resolved (and said).
#[expect(clippy::too_many_arguments, reason = "the stage's inputs, each needed")]
pub(crate) fn export_at(
    cache: &Cache,
    refine: &RefineManifest,
    raw: Option<&RawManifest>,
    library: Library,
    (distances, origin): (fs_packs::Thresholds, fs_packs::thresholds::Origin),
    settings: &ExportSettings,
    models: &Models,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let LibraryAt {
        mut library,
        swap: options,
        ..
    } = ready(
        library,
        cache,
        (distances, origin),
        settings,
        models,
        progress,
    )?;
    // The photos are decoded for new crops before the library is locked.
    library.prepare_refresh(cache, refine, &options);
    let changes = library.refresh_refined(cache, refine, raw, &options)?;
    library.save()?;
    Ok(ExportReport::of(&library, changes))
}

/// A library ready for a writer to add identities to.
#[derive(Debug)]
pub struct LibraryAt {
    /// The library, with its distances and, when asked, the roop crop check.
    pub library: Library,
    /// The distances in force (the library's or the pack's, with the overrides).
    pub distances: fs_packs::Thresholds,
    /// Where the defaults came from.
    pub origin: fs_packs::thresholds::Origin,
    /// The export options at those distances.
    pub swap: SwapOptions,
}

/// Opens the library in `dir` for `settings.writer` to add identities of `cache` to:
/// the distances in force said to `progress`, the lock's timeout, and the roop crop
/// check when `settings` asks for it. What every workflow does before it adds.
pub fn library_for(
    dir: &Path,
    cache: &Cache,
    settings: &ExportSettings,
    models: &Models,
    progress: &dyn Progress,
) -> Result<LibraryAt> {
    let library = open_library(dir, &settings.writer, progress)?;
    let at = crate::models::distances(cache, Some(&library), &settings.overrides, progress);
    ready(library, cache, at, settings, models, progress)
}

fn ready(
    library: Library,
    cache: &Cache,
    (distances, origin): (fs_packs::Thresholds, fs_packs::thresholds::Origin),
    settings: &ExportSettings,
    models: &Models,
    progress: &dyn Progress,
) -> Result<LibraryAt> {
    let library = library.with_busy_timeout(settings.lock_timeout);
    let library = if settings.crop_check {
        library.with_crop_check(models.crop_check(cache, settings.pack.as_deref(), progress)?)
    } else {
        library
    };
    let swap = SwapOptions {
        outlier_threshold: distances.export_outlier,
        candidate_match_threshold: distances.candidate,
        ..settings.swap.clone()
    };
    Ok(LibraryAt {
        library: library.with_distances(Distances {
            values: distances,
            defaults: origin.clone(),
        }),
        distances,
        origin,
        swap,
    })
}

/// `export-swap` on its own: the manifests from disk, then [`export`].
pub fn export_files(
    cache: &Path,
    refine_manifest: &Path,
    raw_manifest: Option<&Path>,
    library: &Path,
    settings: &ExportSettings,
    models: &Models,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let cache = Cache::open_read_only(cache)?;
    let refine: RefineManifest = fs_identities::manifest::read(refine_manifest)?;
    let raw: Option<RawManifest> = raw_manifest
        .map(fs_identities::manifest::read)
        .transpose()?;
    if settings.swap.candidates && raw.is_none() {
        return Err(input(
            refine_manifest,
            "candidates need the raw manifest.json written by cluster beside it",
        ));
    }
    let library = open_library(library, &settings.writer, progress)?;
    export(
        &cache,
        &refine,
        raw.as_ref(),
        library,
        settings,
        models,
        progress,
    )
}

/// Writes the report of a `run` output folder; returns the page's path.
pub fn report(out: &Path) -> Result<PathBuf> {
    let layout = crate::RunLayout::new(out);
    let cache = Cache::open_read_only(layout.cache())
        .map_err(|_| input(out, "is not a `face-sets run` folder (no cache.fsc)"))?;
    Ok(fs_export::report::write_report(
        &layout.report_paths(),
        &cache,
    )?)
}
