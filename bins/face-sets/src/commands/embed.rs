use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use fs_cache::Cache;
use fs_detect::Detector;
use fs_embed::arcface::Recognizer;
use fs_embed::pipeline::{self, EmbedOptions, FaceAnalyzer, Source};

use crate::ExitStatus;
use crate::cli::EmbedArgs;
use crate::progress::{Bars, StageProgress};

pub(crate) fn run(args: &EmbedArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    if args.sources().is_empty() && args.list.is_none() {
        anyhow::bail!("nothing to embed: give SOURCE paths before CACHE, or --list FILE");
    }
    if let Some(missing) = args.sources().iter().find(|s| !s.exists()) {
        anyhow::bail!("source {} does not exist", missing.display());
    }
    let cache_path = args.cache();
    if cache_path.is_dir() {
        anyhow::bail!(
            "CACHE {} is a directory; give a file path such as photos.fsc (it comes last)",
            cache_path.display()
        );
    }
    let mut sources: Vec<Source> = args.sources().iter().map(Source::from_path).collect();
    if let Some(list) = &args.list {
        // Listed files are checked one by one: a missing one is a per-file error.
        sources.extend(read_list(list)?.into_iter().map(Source::File));
    }

    let mut cache = Cache::open(cache_path)
        .with_context(|| format!("cannot open cache {}", cache_path.display()))?;
    let pack = super::load_pack(args.models.as_deref(), cache.model(), args.runtime.provider)?;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let threads = super::threads(args.threads);
    let detector = Detector::builder(&pack.detector)
        .input_size(args.det_size)
        .threads(threads)
        .recover_filling_faces(!args.no_recovery)
        .build()?;
    let recognizer = Recognizer::new(&pack.recognizer, threads)?;
    let mut analyzer = FaceAnalyzer::from_parts(detector, recognizer, &pack)?;
    tracing::info!(pack = %pack.dir.display(), threads, "models loaded");
    if cache.model().is_none() {
        super::announce_new_cache(cache_path, analyzer.model())?;
    }
    let options = EmbedOptions {
        flush_every: args.flush_every as usize,
        decode_threads: args.decode_threads.map_or((cores / 4).max(1), usize::from),
        recognition_batch: 32,
        tool: format!("face-sets {} embed", env!("CARGO_PKG_VERSION")),
        follow_links: args.follow,
        full_decode: args.full_decode,
    };
    let reporter = StageProgress::new(bars);
    let summary = pipeline::embed(&sources, &mut cache, &mut analyzer, &options, &reporter)?;
    bars.clear();

    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} photo files: {} unchanged, {} hashed, {} new aliases; {} images embedded \
         ({} faces, {} without a face); {} errors",
        summary.files,
        summary.unchanged,
        summary.hashed,
        summary.aliases,
        summary.embedded,
        summary.faces,
        summary.no_face,
        summary.errors.len()
    )?;
    if let Some(line) = scan_line(&summary) {
        writeln!(err, "{line}")?;
    }
    for (path, message) in &summary.errors {
        writeln!(err, "  {}: {message}", path.display())?;
    }
    if args.json {
        super::print_json(&serde_json::json!({
            "cache": cache_path,
            "files": summary.files,
            "unchanged": summary.unchanged,
            "hashed": summary.hashed,
            "aliases": summary.aliases,
            "embedded": summary.embedded,
            "faces": summary.faces,
            "no_face": summary.no_face,
            "formats": summary.formats,
            "errors": super::errors_json(&summary.errors),
        }))?;
    }
    Ok(if summary.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}

/// What the scan saw besides photos: files per format, and what it passed over and why
/// (`formats: HEIC 2, JPEG 10; skipped: 2 not photos (.mov), 1 …`).
pub(crate) fn scan_line(summary: &fs_embed::pipeline::EmbedSummary) -> Option<String> {
    if summary.formats.is_empty() && summary.skipped.is_empty() {
        return None;
    }
    let formats: Vec<String> = summary
        .formats
        .iter()
        .map(|(format, n)| format!("{format} {n}"))
        .collect();
    let line = format!("formats: {}", formats.join(", "));
    if summary.skipped.is_empty() {
        return Some(line);
    }
    let skipped: Vec<String> = summary
        .skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect();
    Some(format!("{line}; skipped: {}", skipped.join(", ")))
}

/// Reads a list of paths: a JSON array of strings (or of objects with a `path`), or one
/// path per line.
fn read_list(list: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("cannot read list {}", list.display()))?;
    if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("list {} is not a JSON array", list.display()))?;
        return values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(PathBuf::from(s)),
                serde_json::Value::Object(o) => o
                    .get("path")
                    .and_then(|p| p.as_str())
                    .map(PathBuf::from)
                    .with_context(|| format!("list {}: an entry has no \"path\"", list.display())),
                other => anyhow::bail!("list {}: unexpected entry {other}", list.display()),
            })
            .collect();
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .collect())
}
