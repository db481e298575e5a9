//! enrich, export-swap, report, and `run`, which chains every stage.

use std::io::Write;

use anyhow::Context;
use fs_cache::Cache;
use fs_embed::enrich::LandmarkModels;
use fs_embed::landmark::Landmarker;
use fs_embed::pipeline::{EmbedOptions, Source};
use fs_export::manifest::{self, RAW_MANIFEST, REFINE_MANIFEST, RawManifest, RefineManifest};
use fs_export::report::RunLayout;

use crate::ExitStatus;
use crate::cli::{EnrichArgs, ExportSwapArgs, ReportArgs, RunArgs};
use crate::progress::{Bars, StageProgress};

pub(crate) fn enrich(args: &EnrichArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let mut cache = Cache::open(&args.cache)
        .with_context(|| format!("cannot open cache {}", args.cache.display()))?;
    let pack = super::load_pack(args.models.as_deref(), cache.model())?;
    let (mut points_2d, mut points_3d) = landmark_models(&pack, super::threads(args.threads))?;
    let summary = fs_embed::enrich::enrich(
        &mut cache,
        LandmarkModels {
            points_2d_106: points_2d.as_mut(),
            points_3d_68: points_3d.as_mut(),
        },
        args.flush_every as usize,
        &StageProgress::new(bars),
    )?;
    bars.clear();
    report_enrich(&summary)?;
    Ok(if summary.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}

/// The pack's landmark models that are present.
fn landmark_models(
    pack: &fs_embed::pack::ModelPack,
    threads: usize,
) -> anyhow::Result<(Option<Landmarker>, Option<Landmarker>)> {
    let open = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map(|p| Landmarker::new(p, threads))
            .transpose()
    };
    Ok((open(&pack.landmarks_2d_106)?, open(&pack.landmarks_3d_68)?))
}

fn report_enrich(summary: &fs_embed::enrich::EnrichSummary) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "enriched {} faces in {} images ({} images already complete); {} errors",
        summary.faces,
        summary.images,
        summary.skipped,
        summary.errors.len()
    )?;
    for (path, message) in &summary.errors {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    Ok(())
}

pub(crate) fn export_swap(args: &ExportSwapArgs) -> anyhow::Result<ExitStatus> {
    let cache = Cache::open_read_only(&args.cache)
        .with_context(|| format!("cannot read cache {}", args.cache.display()))?;
    let refine: RefineManifest = manifest::read(&args.refine_manifest)?;
    let raw: Option<RawManifest> = args
        .raw_manifest
        .as_deref()
        .map(manifest::read)
        .transpose()?;
    let options = args.swap.options();
    if options.candidates && raw.is_none() {
        anyhow::bail!("--candidates needs --raw-manifest (the manifest.json written by cluster)");
    }
    let result = fs_export::swap::export(&cache, &refine, raw.as_ref(), &args.out, &options)?;
    swap_summary(&result, &args.out)
}

fn swap_summary(
    result: &fs_export::swap::SwapManifest,
    out: &std::path::Path,
) -> anyhow::Result<ExitStatus> {
    let mut err = std::io::stderr().lock();
    for f in &result.facesets {
        writeln!(
            err,
            "  {}: {} crops ({} dropped), mean quality {:.2}",
            f.name,
            f.faces.len(),
            f.dropped.len(),
            f.mean_quality
        )?;
    }
    writeln!(
        err,
        "{} facesets exported, {} candidates, {} errors → {}",
        result
            .facesets
            .iter()
            .filter(|f| !f.faces.is_empty())
            .count(),
        result.candidates.len(),
        result.errors.len(),
        out.join(fs_export::swap::SWAP_MANIFEST).display()
    )?;
    for (path, message) in &result.errors {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    Ok(if result.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}

pub(crate) fn report(args: &ReportArgs) -> anyhow::Result<ExitStatus> {
    let layout = RunLayout::new(&args.out);
    let cache = Cache::open_read_only(layout.cache()).with_context(|| {
        format!(
            "{} is not a `face-sets run` directory (no cache.fsc)",
            args.out.display()
        )
    })?;
    let path = fs_export::report::write_report(&layout, &cache)?;
    writeln!(std::io::stdout(), "{}", path.display())?;
    Ok(ExitStatus::Success)
}

const STAGES: [&str; 7] = [
    "embed",
    "cluster",
    "refine",
    "dedup",
    "enrich",
    "export-swap",
    "report",
];

pub(crate) fn run(args: &RunArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        args.src.is_dir(),
        "source {} is not a directory",
        args.src.display()
    );
    let layout = RunLayout::new(&args.out);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let threads = super::threads(args.threads);
    let overall = bars.bar("stages", STAGES.len() as u64);
    let stage = |n: usize| {
        overall.set_position(n as u64);
        overall.set_message(STAGES[n]);
        tracing::info!("stage {}/{}: {}", n + 1, STAGES.len(), STAGES[n]);
    };

    stage(0);
    let mut cache = Cache::open(layout.cache())?;
    let pack = super::load_pack(args.models.as_deref(), cache.model())?;
    let mut analyzer = fs_embed::pipeline::FaceAnalyzer::new(&pack, 640, threads)?;
    if cache.model().is_none() {
        super::announce_new_cache(&layout.cache(), analyzer.model())?;
    }
    let options = EmbedOptions {
        decode_threads: (threads / 4).max(1),
        ..EmbedOptions::default()
    };
    let embedded = fs_embed::pipeline::embed(
        &[Source::Tree(args.src.clone())],
        &mut cache,
        &mut analyzer,
        &options,
        &StageProgress::new(bars),
    )?;
    drop(analyzer);

    stage(1);
    let mode = args.materialize.into();
    let raw_path = layout.raw().join(RAW_MANIFEST);
    let raw = if raw_path.is_file() {
        let old: RawManifest = manifest::read(&raw_path)?;
        let (raw, _) = fs_export::extend::extend_raw(
            &cache,
            &old,
            &fs_export::extend::ExtendOptions::default(),
        );
        fs_export::extend::write_raw(&layout.raw(), &raw, mode)?;
        raw
    } else {
        let raw = fs_export::raw::cluster_cache_reporting(
            &cache,
            &fs_export::raw::ClusterOptions {
                graph: args.graph.into(),
                ..fs_export::raw::ClusterOptions::default()
            },
            &StageProgress::new(bars),
        );
        fs_export::raw::write(&layout.raw(), &raw, mode)?;
        raw
    };

    stage(2);
    let refine_path = layout.facesets().join(REFINE_MANIFEST);
    let refine = if refine_path.is_file() {
        let old: RefineManifest = manifest::read(&refine_path)?;
        let (refine, _) = fs_export::extend::extend_refine(&cache, &old);
        fs_export::extend::write_refine(&layout.facesets(), &refine, mode)?;
        refine
    } else {
        let options = fs_export::refine::RefineOptions {
            min_faces: args.min_faces as usize,
            graph: args.graph.into(),
            ..fs_export::refine::RefineOptions::default()
        };
        let refine =
            fs_export::refine::refine_cache_reporting(&cache, &options, &StageProgress::new(bars));
        fs_export::refine::write(&layout.facesets(), &refine, mode)?;
        refine
    };

    stage(3);
    let dups =
        fs_export::dedup::find_duplicates(&cache, &fs_export::dedup::DedupOptions::default());
    manifest::write_atomically(&fs_export::dedup::report_path(&layout.cache()), &dups)?;

    stage(4);
    let (mut points_2d, mut points_3d) = landmark_models(&pack, threads)?;
    let enriched = fs_embed::enrich::enrich(
        &mut cache,
        LandmarkModels {
            points_2d_106: points_2d.as_mut(),
            points_3d_68: points_3d.as_mut(),
        },
        50,
        &StageProgress::new(bars),
    )?;

    stage(5);
    let mut swap_options = args.swap.options();
    swap_options.candidates = true;
    let swap = fs_export::swap::export(&cache, &refine, Some(&raw), &layout.swap(), &swap_options)?;

    stage(6);
    let report = fs_export::report::write_report(&layout, &cache)?;
    overall.finish_and_clear();
    bars.clear();

    let errors = embedded.errors.len() + enriched.errors.len() + swap.errors.len();
    let stats = cache.stats();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} photos ({} images embedded this run, {} faces found this run); {} faces in the cache; {} people; \
         {} facesets exported; {} errors",
        embedded.files,
        embedded.embedded,
        embedded.faces,
        stats.faces,
        raw.clusters.len(),
        swap.facesets.iter().filter(|f| !f.faces.is_empty()).count(),
        errors
    )?;
    for (path, message) in embedded
        .errors
        .iter()
        .chain(&enriched.errors)
        .chain(&swap.errors)
    {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    writeln!(std::io::stdout(), "{}", report.display())?;
    Ok(if errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}
