//! cluster, refine, extend, dedup: identities from a cache.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use fs_cache::Cache;
use fs_export::extend::{ExtendOptions, extend_raw, extend_refine};
use fs_export::manifest::{self, RAW_MANIFEST, REFINE_MANIFEST, RawManifest, RefineManifest};
use fs_export::raw::{ClusterOptions, cluster_cache_reporting};
use fs_export::refine::{RefineOptions, refine_cache_reporting};

use crate::ExitStatus;
use crate::cli::{ClusterArgs, DedupArgs, ExtendArgs, RefineArgs};
use crate::progress::{Bars, StageProgress};

fn open(cache: &Path) -> anyhow::Result<Cache> {
    Cache::open_read_only(cache).with_context(|| format!("cannot read cache {}", cache.display()))
}

pub(crate) fn cluster(args: &ClusterArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let cache = open(&args.cache)?;
    let (defaults, _) = super::announced_distances(&cache, None)?;
    let manifest = cluster_cache_reporting(
        &cache,
        &ClusterOptions {
            threshold: args.threshold.unwrap_or(defaults.cluster),
            graph: args.graph.into(),
        },
        &StageProgress::new(bars),
    );
    bars.clear();
    let written = fs_export::raw::write(&args.out, &manifest, args.materialize.into())?;
    let faces: usize = manifest.clusters.iter().map(|c| c.faces.len()).sum();
    writeln!(
        std::io::stderr(),
        "{} people ({faces} faces), {} singletons, {} photos without a face; {} files placed, {} already there → {}",
        manifest.clusters.len(),
        manifest.singletons.len(),
        manifest.noface.len(),
        written.placed,
        written.existing,
        args.out.join(RAW_MANIFEST).display()
    )?;
    if args.json {
        super::print_json(&serde_json::json!({
            "manifest": args.out.join(RAW_MANIFEST),
            "people": manifest.clusters.len(),
            "faces": faces,
            "singletons": manifest.singletons.len(),
            "noface": manifest.noface.len(),
            "placed": written.placed,
            "existing": written.existing,
            "errors": [],
        }))?;
    }
    Ok(ExitStatus::Success)
}

pub(crate) fn refine(args: &RefineArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let cache = open(&args.cache)?;
    let (defaults, _) = super::announced_distances(&cache, None)?;
    let options = RefineOptions {
        initial_threshold: args.initial_threshold.unwrap_or(defaults.cluster),
        merge_threshold: args.merge_threshold.unwrap_or(defaults.merge),
        outlier_threshold: args.outlier_threshold.unwrap_or(defaults.outlier),
        min_faces: args.min_faces as usize,
        min_short: args.min_short,
        min_blur: args.min_blur,
        min_det_score: args.min_det_score,
        graph: args.graph.into(),
    };
    let manifest = refine_cache_reporting(&cache, &options, &StageProgress::new(bars));
    bars.clear();
    let written = fs_export::refine::write(&args.out, &manifest, args.materialize.into())?;
    let mut err = std::io::stderr().lock();
    writeln!(err, "{} facesets:", manifest.facesets.len())?;
    for f in &manifest.facesets {
        writeln!(
            err,
            "  {}: {} faces from {} photos ({} dropped)",
            f.name,
            f.faces.len(),
            f.images,
            f.dropped.len()
        )?;
    }
    writeln!(
        err,
        "{} files placed, {} already there → {}",
        written.placed,
        written.existing,
        args.out.join(REFINE_MANIFEST).display()
    )?;
    Ok(ExitStatus::Success)
}

pub(crate) fn extend(args: &ExtendArgs) -> anyhow::Result<ExitStatus> {
    let cache = open(&args.cache)?;
    let raw_path = args.raw_out.join(RAW_MANIFEST);
    let old: RawManifest = manifest::read(&raw_path).with_context(|| {
        format!(
            "{} holds no cluster result to extend (run `face-sets cluster` first)",
            args.raw_out.display()
        )
    })?;
    let (defaults, _) = super::announced_distances(&cache, None)?;
    let options = ExtendOptions {
        assign_threshold: args.threshold.unwrap_or(defaults.join),
        cluster_threshold: args.cluster_threshold.unwrap_or(defaults.cluster),
    };
    let (raw, report) = extend_raw(&cache, &old, &options);
    let mode = args.materialize.into();
    let written = fs_export::extend::write_raw(&args.raw_out, &raw, mode)?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} new faces: {} joined existing people, {} new people{}; {} files placed",
        report.new_faces,
        report.joined_existing,
        report.new_clusters.len(),
        if report.new_clusters.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.new_clusters.join(", "))
        },
        written.placed
    )?;
    if let Some(refine_out) = &args.refine_out {
        let path = refine_out.join(REFINE_MANIFEST);
        let old: RefineManifest = manifest::read(&path).with_context(|| {
            format!("{} holds no refine result to extend", refine_out.display())
        })?;
        let (refined, joined) = extend_refine(&cache, &old);
        let written = fs_export::extend::write_refine(refine_out, &refined, mode)?;
        writeln!(
            err,
            "{joined} new faces joined facesets; {} files placed",
            written.placed
        )?;
    }
    Ok(ExitStatus::Success)
}

pub(crate) fn dedup(args: &DedupArgs) -> anyhow::Result<ExitStatus> {
    let cache = open(&args.cache)?;
    let options = fs_export::dedup::DedupOptions {
        face_similarity: args.face_similarity,
        dhash_bits: args.dhash_bits,
    };
    let report = fs_export::dedup::find_duplicates(&cache, &options);
    let path = fs_export::dedup::report_path(&args.cache);
    manifest::write_atomically(&path, &report)?;
    writeln!(
        std::io::stderr(),
        "{} byte-identical groups, {} near-duplicate groups → {}",
        report.byte_identical.len(),
        report.near_duplicates.len(),
        path.display()
    )?;
    Ok(ExitStatus::Success)
}
