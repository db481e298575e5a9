//! Import a self-hosted Immich library: stage → embed → discover, in one program.
//!
//! ```text
//! export IMMICH_URL=https://photos.example.com
//! export IMMICH_API_KEY=...          # read from the environment only
//! immich_import --user nic --staging work/immich --cache work/immich_nic.fsc \
//!     --swap-out out/facesets_swap_ready --log work/logs/immich_nic.log
//! ```
//!
//! 1. **Stage** every photo and video asset with a face of 90 px or more (Immich's own
//!    boxes, scaled to the original; a video as Immich's still of it) into
//!    `STAGING/<user>/`, deduplicated by content against `--dedup-against` caches and
//!    within the run; resumable; an outage stops it with exit status 2 and the state
//!    saved (run the same command again).
//! 2. **Embed** the staged queue into `--cache` (the normal embedding pipeline).
//! 3. **Discover**: faces matching an identity already in `--swap-out` (0.45) are set
//!    aside, the rest clustered (0.55), gated, and clusters with `--min-faces` distinct
//!    photos exported as new facesets numbered past the maximum (same code as the
//!    mixed-folder `discover` program), marked `immich-<user>.txt`.
//!
//! Immich caveats: a key bound to one user sees what that user sees whatever `userIds`
//! says; `/server/statistics` under-counts what search returns; and external libraries
//! that include Immich's own `thumbs/` folder list thumbnails as assets (they stage and
//! embed fine, at low resolution).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::doc_markdown,
    clippy::exit,
    reason = "an example program: reports on stdout, doc comments are --help text"
)]

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use fs_cache::Cache;
use fs_embedder::pipeline::Source;
use fs_export::swap::SwapOptions;
use fs_identities::discover::{DiscoverOptions, discover};
use fs_identities::gates::RefineOptions;
use fs_immich::client::Client;
use fs_immich::stage::{QUEUE_FILE, StageOptions};
use fs_library::{Kind, NewFaceset};
use fs_packs::thresholds::Family;
use fs_pipeline::Models;
use fs_pipeline::stages::{EmbedRequest, ExportSettings, LibraryAt, library_for};
use fs_progress::Silent;

/// Import a self-hosted Immich library into the faceset library.
#[derive(Debug, Parser)]
#[command(version, max_term_width = 100)]
struct Args {
    /// Label for the library's owner.
    #[arg(long)]
    user: String,
    /// Immich base URL.
    #[arg(long, env = "IMMICH_URL")]
    url: String,
    /// Staging root (files go under STAGING/<user>/).
    #[arg(long)]
    staging: PathBuf,
    /// Cache for this import's embeddings.
    #[arg(long)]
    cache: PathBuf,
    /// The faceset library to add to (facesets_swap_ready/).
    #[arg(long)]
    swap_out: PathBuf,
    /// Caches whose photos should not be staged again; their identities are matched too.
    #[arg(long, value_name = "CACHE")]
    dedup_against: Vec<PathBuf>,
    /// Assets staged at once.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Distinct photos a new identity needs.
    #[arg(long, default_value_t = 15)]
    min_faces: usize,
    /// A face this close to an existing identity is not rediscovered. Default: the
    /// library's calibrated `known` distance, else the pack's (docs/thresholds.md).
    #[arg(long)]
    existing_threshold: Option<f32>,
    /// Export gate: minimum face short side of a crop.
    #[arg(long, default_value_t = 100.0)]
    min_face_short: f32,
    /// Do not re-detect each crop as roop-unleashed does (SCRFD at 640, no second pass);
    /// by default a crop in which it would not find exactly the target's face is
    /// re-cropped, or left out with the reason in the manifest.
    #[arg(long)]
    no_crop_check: bool,
    /// ONNX Runtime execution provider for embedding: auto, cpu, cuda, tensorrt,
    /// directml, coreml, openvino or rocm (as `face-sets --provider`).
    #[arg(long, env = "FACE_SETS_PROVIDER", default_value = "auto")]
    provider: fs_detect::provider::Choice,
    /// Append progress lines to this file too.
    #[arg(long)]
    log: Option<PathBuf>,
}

struct Log(Option<std::fs::File>);

impl Log {
    fn line(&mut self, text: &str) {
        println!("{text}");
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{text}");
        }
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        let breaker = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<fs_immich::Error>(),
                Some(fs_immich::Error::BreakerOpen { .. })
            )
        });
        std::process::exit(if breaker { 2 } else { 1 });
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let mut log = Log(match &args.log {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        }
        None => None,
    });
    let key = std::env::var("IMMICH_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .context("IMMICH_API_KEY is not set")?;
    let others: Vec<Cache> = args
        .dedup_against
        .iter()
        .map(|p| Cache::open_read_only(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<anyhow::Result<_>>()?;

    // 1. Stage.
    let mut options = StageOptions::new(&args.user, &args.staging);
    options.workers = args.workers;
    options.dedup_against = others
        .iter()
        .flat_map(|c| c.images().map(|i| i.hash))
        .collect::<HashSet<_>>();
    // An original this build cannot decode is staged as Immich's own JPEG rendering.
    options.readable = Some(fs_immich::stage::ReadCheck(std::sync::Arc::new(
        |file, name| fs_detect::decode::check_readable(file, name).map_err(|e| e.to_string()),
    )));
    let summary = fs_immich::stage::stage(
        &Client::new(&args.url, &key),
        &options,
        &fs_progress::Silent,
    )?;
    log.line(&format!(
        "stage: {} seen, {} staged ({} bytes), {} deduped against caches, {} internal duplicates, {} no-face, {} small-face, {} errors",
        summary.seen,
        summary.staged,
        summary.bytes,
        summary.deduped_against_cache,
        summary.deduped_internal,
        summary.no_face,
        summary.small_face,
        summary.errors.len()
    ));

    // 2. Embed the queue.
    let queue: Vec<PathBuf> = serde_json_paths(&options.user_dir().join(QUEUE_FILE))?;
    let models = Models {
        provider: args.provider,
        ..Models::default()
    };
    let mut request = EmbedRequest::new(queue.into_iter().map(Source::File).collect(), &args.cache);
    request.options.tool = format!("immich_import {}", env!("CARGO_PKG_VERSION"));
    let embedded = fs_pipeline::stages::embed(&request, &models, &Silent)?.summary;
    log.line(&format!(
        "embed: execution provider {}",
        fs_detect::runtime::active_provider()
    ));
    let cache = Cache::open_read_only(&args.cache)?;
    log.line(&format!(
        "embed: {} images embedded, {} faces, {} errors",
        embedded.embedded,
        embedded.faces,
        embedded.errors.len()
    ));

    // 3. Discover against the existing identities.
    let settings = ExportSettings {
        swap: SwapOptions {
            min_face_short: args.min_face_short,
            ..SwapOptions::default()
        },
        overrides: [(Family::Known, args.existing_threshold)]
            .into_iter()
            .collect(),
        crop_check: !args.no_crop_check,
        writer: "immich_import".into(),
        ..ExportSettings::default()
    };
    let LibraryAt {
        mut library,
        distances,
        origin,
        swap: swap_options,
    } = library_for(&args.swap_out, &cache, &settings, &models, &Silent)?;
    log.line(&format!(
        "distances: known {:.2}, cluster {:.2} ({origin})",
        distances.known, distances.cluster
    ));
    let mut lookup: Vec<&Cache> = others.iter().collect();
    lookup.push(&cache);
    let existing: Vec<Vec<f32>> = library
        .known_identities(cache.model(), &lookup)?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let options = DiscoverOptions::at(
        &distances,
        RefineOptions {
            min_faces: args.min_faces,
            ..RefineOptions::at(&distances)
        },
    );
    let found = discover(&cache, |_| true, &existing, &options);
    log.line(&format!(
        "discover: {} faces, {} matched {} existing identities, {} clusters, {} kept",
        found.faces,
        found.covered,
        existing.len(),
        found.clusters.len(),
        found.kept().count()
    ));
    let label = format!("immich-{}", args.user);
    let new: Vec<NewFaceset> = found
        .kept()
        .map(|c| NewFaceset {
            faces: c.survivors.clone(),
            kind: Kind::Immich,
            label: label.clone(),
            sources: vec![PathBuf::from(&args.url)],
            params: serde_json::json!({
                "user": args.user,
                "existing_threshold": distances.known,
                "min_faces": args.min_faces,
                "min_face_short": args.min_face_short,
            }),
            marker: label.clone(),
            label_bundles: false,
            thin: false,
            suffix: String::new(),
        })
        .collect();
    let changes = library.add(&cache, &new, &swap_options)?;
    for name in &changes.added {
        let crops = library.entry(name).map_or(0, |e| e.export.faces.len());
        log.line(&format!("added {name} ({crops} crops)"));
    }
    for (label, why) in &changes.left_out {
        log.line(&format!("not added ({label}): {why}"));
    }
    library.save()?;
    Ok(())
}

fn serde_json_paths(path: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let paths: Vec<String> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a queue", path.display()))?;
    Ok(paths.into_iter().map(PathBuf::from).collect())
}
