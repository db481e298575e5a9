//! enrich, export-swap, report, and `run`, which chains every stage.

use std::io::Write;

use anyhow::Context;
use fs_cache::Cache;
use fs_embed::enrich::LandmarkModels;
use fs_embed::landmark::Landmarker;
use fs_embed::pipeline::{EmbedOptions, Source};
use fs_export::manifest::{self, RawManifest, RefineManifest};
use fs_export::report::RunLayout;
use fs_library::grow::GrowOptions;
use fs_library::{Changes, Distances, Library};

use crate::ExitStatus;
use crate::cli::{EnrichArgs, ExportSwapArgs, ReportArgs, RunArgs};
use crate::progress::{Bars, StageProgress};

pub(crate) fn enrich(args: &EnrichArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let mut cache = Cache::open(&args.cache)
        .with_context(|| format!("cannot open cache {}", args.cache.display()))?;
    let pack = super::load_pack(args.models.as_deref(), cache.model(), args.runtime.provider)?;
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

/// The pack's landmark models that are present; says so when there are none.
fn landmark_models(
    pack: &fs_embed::pack::ModelPack,
    threads: usize,
) -> anyhow::Result<(Option<Landmarker>, Option<Landmarker>)> {
    if pack.landmarks_2d_106.is_none() && pack.landmarks_3d_68.is_none() {
        super::notice(&format!(
            "enrich: the {} pack has no landmark models; head pose comes from the five \
             detector keypoints and faces get no 106-point landmarks",
            pack.name()
        ))?;
    }
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
    if args.swap.candidates && raw.is_none() {
        anyhow::bail!("--candidates needs --raw-manifest (the manifest.json written by cluster)");
    }
    let library = super::open_library(&args.out, "export-swap", &args.swap, || {
        let locations = fs_embed::locations::Locations::from_env();
        super::start_runtime(args.runtime.provider)?;
        Ok(fs_library::crop_check_for(
            &cache,
            &locations,
            super::threads(None),
        )?)
    })?;
    let (defaults, origin) = super::announced_distances(&cache, Some(&library))?;
    let distances = args.swap.in_force(&defaults);
    let options = args.swap.options(&distances);
    let mut library = library.with_distances(Distances {
        values: distances,
        defaults: origin,
    });
    // The photos are decoded for new crops before the library is locked.
    library.prepare_refresh(&cache, &refine, &options);
    let changes = library.refresh_refined(&cache, &refine, raw.as_ref(), &options)?;
    library.save()?;
    library_summary(&library, &changes)
}

/// What a refresh did to the library, on stderr.
fn library_summary(library: &Library, changes: &Changes) -> anyhow::Result<ExitStatus> {
    let mut err = std::io::stderr().lock();
    for (verb, names) in [
        ("added", &changes.added),
        ("updated", &changes.updated),
        ("unchanged", &changes.unchanged),
    ] {
        for name in names {
            if let Some(entry) = library.entry(name) {
                writeln!(
                    err,
                    "  {verb} {name}: {} crops ({} dropped), mean quality {:.2}",
                    entry.export.faces.len(),
                    entry.export.dropped.len(),
                    entry.export.mean_quality
                )?;
            }
        }
    }
    for (name, why) in &changes.left_out {
        writeln!(err, "  not exported {name}: {why}")?;
    }
    writeln!(
        err,
        "library {}: {} identities ({} added, {} updated, {} unchanged), {} candidates, {} errors",
        library.dir().join(fs_export::swap::SWAP_MANIFEST).display(),
        library.manifest().facesets.len(),
        changes.added.len(),
        changes.updated.len(),
        changes.unchanged.len(),
        library.manifest().candidates.len(),
        changes.errors.len(),
    )?;
    for (path, message) in &changes.errors {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    Ok(if changes.errors.is_empty() {
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
    let pack = super::load_pack(args.models.as_deref(), cache.model(), args.runtime.provider)?;
    let mut analyzer = fs_embed::pipeline::FaceAnalyzer::new(&pack, 640, threads)?;
    if cache.model().is_none() {
        super::announce_new_cache(&layout.cache(), analyzer.model())?;
    }
    let options = EmbedOptions {
        decode_threads: (threads / 4).max(1),
        tool: format!("face-sets {} run", env!("CARGO_PKG_VERSION")),
        follow_links: args.follow,
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
    let library = super::open_library(&layout.swap(), "run", &args.swap, || {
        Ok(fs_export::swap::CropCheck::new(&pack.detector, threads)?)
    })?;
    let (defaults, origin) = super::announced_distances(&cache, Some(&library))?;
    let distances = args.swap.in_force(&defaults);
    let mut library = library.with_distances(Distances {
        values: distances,
        defaults: origin,
    });
    // New identities on a re-run pass the same gates as the first run's facesets.
    let refine_options = fs_export::refine::RefineOptions {
        min_faces: args.min_faces as usize,
        graph: args.graph.into(),
        ..fs_export::refine::RefineOptions::at(&distances)
    };
    let grow_options = GrowOptions {
        cluster: fs_export::raw::ClusterOptions {
            graph: args.graph.into(),
            ..fs_export::raw::ClusterOptions::at(&distances)
        },
        discover: fs_export::discover::DiscoverOptions::at(&distances, refine_options.clone()),
        refine: refine_options,
        extend: fs_export::extend::ExtendOptions::at(&distances),
        materialize: args.materialize.into(),
    };
    let grown = fs_library::grow::identities(
        &cache,
        &layout,
        &library,
        &grow_options,
        &StageProgress::new(bars),
    )?;
    stage(2);

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
    let mut swap_options = args.swap.options(&distances);
    swap_options.candidates = true;
    // The photos are decoded for new crops before the library is locked.
    library.prepare_refresh(&cache, &grown.refine, &swap_options);
    let changes =
        library.refresh_refined(&cache, &grown.refine, Some(&grown.raw), &swap_options)?;
    library.save()?;

    stage(6);
    let report = fs_export::report::write_report(&layout, &cache)?;
    overall.finish_and_clear();
    bars.clear();

    let errors = embedded.errors.len() + enriched.errors.len() + changes.errors.len();
    let stats = cache.stats();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} photos ({} images embedded this run, {} faces found this run); {} faces in the cache; {} people; \
         {} new identities; library: {} identities ({} added, {} updated); {} errors",
        embedded.files,
        embedded.embedded,
        embedded.faces,
        stats.faces,
        grown.raw.clusters.len(),
        grown.discovered.len(),
        library.manifest().facesets.len(),
        changes.added.len(),
        changes.updated.len(),
        errors
    )?;
    if let Some(line) = super::embed::scan_line(&embedded) {
        writeln!(err, "{line}")?;
    }
    for (name, why) in &changes.left_out {
        writeln!(err, "  not exported {name}: {why}")?;
    }
    for (path, message) in embedded
        .errors
        .iter()
        .chain(&enriched.errors)
        .chain(&changes.errors)
    {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    if args.json {
        super::print_json(&serde_json::json!({
            "out": args.out,
            "report": report,
            "library": layout.swap(),
            "photos": embedded.files,
            "embedded": embedded.embedded,
            "faces_found": embedded.faces,
            "faces": stats.faces,
            "people": grown.raw.clusters.len(),
            "new_identities": grown.discovered,
            "identities": library.manifest().facesets.len(),
            "added": changes.added,
            "updated": changes.updated,
            "left_out": changes.left_out.iter().map(|(name, why)| serde_json::json!({"identity": name, "why": why})).collect::<Vec<_>>(),
            "revision": library.revision(),
            "healed": library.healed(),
            "errors": super::errors_json(
                embedded.errors.iter().chain(&enriched.errors).chain(&changes.errors)
            ),
        }))?;
    } else {
        writeln!(std::io::stdout(), "{}", report.display())?;
    }
    Ok(if errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}
