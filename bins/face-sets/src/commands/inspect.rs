use std::io::Write;

use anyhow::Context;
use fs_cache::{Cache, ImageOutcome};
use serde_json::json;

use crate::ExitStatus;
use crate::cli::InspectArgs;

pub(crate) fn run(args: &InspectArgs) -> anyhow::Result<ExitStatus> {
    let cache = Cache::open_read_only(&args.cache)
        .with_context(|| format!("cannot read cache {}", args.cache.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for image in cache.images() {
            let (faces, error) = match &image.outcome {
                ImageOutcome::Faces(faces) => (faces.as_slice(), None),
                ImageOutcome::NoFace => (&[][..], None),
                ImageOutcome::DecodeError(e) => (&[][..], Some(e.as_str())),
            };
            let faces: Vec<_> = faces
                .iter()
                .map(|f| {
                    json!({
                        "bbox": f.bbox,
                        "kps": f.kps,
                        "det_score": f.det_score,
                        "sharpness": f.sharpness,
                        "embedding": f.embedding.unit(),
                        "embedding_norm": f.embedding.norm(),
                        "pose": f.pose,
                        "landmarks_2d_106": f.landmarks_2d_106.as_ref().map(Vec::len),
                        "landmarks_3d_68": f.landmarks_3d_68.as_ref().map(Vec::len),
                    })
                })
                .collect();
            let line = json!({
                "path": image.path.to_string_lossy(),
                "aliases": image.aliases.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
                "hash": image.hash.to_hex(),
                "width": image.width,
                "height": image.height,
                "error": error,
                "faces": faces,
            });
            writeln!(out, "{line}")?;
        }
        for record in cache.unreadable() {
            let line = json!({
                "path": record.path.to_string_lossy(),
                "aliases": [],
                "hash": null,
                "error": record.error,
                "faces": [],
            });
            writeln!(out, "{line}")?;
        }
        return Ok(ExitStatus::Success);
    }
    let stats = cache.stats();
    writeln!(out, "cache       {}", cache.path().display())?;
    match cache.model() {
        Some(model) => writeln!(out, "model       {model}")?,
        None => writeln!(out, "model       unknown (no faces yet, or an older cache)")?,
    }
    match cache.runs().last() {
        Some(run) => writeln!(
            out,
            "runs        {} (last: {} on {})",
            cache.runs().len(),
            run.tool,
            run.provider
        )?,
        None => writeln!(out, "runs        none recorded")?,
    }
    writeln!(out, "images      {}", stats.images)?;
    writeln!(out, "  faces     {}", stats.faces)?;
    writeln!(out, "  no face   {}", stats.no_face)?;
    writeln!(
        out,
        "  errors    {} undecodable, {} unreadable",
        stats.decode_errors, stats.unreadable
    )?;
    writeln!(out, "aliases     {}", stats.aliases)?;
    let (files, undecodable) = files_per_format(&cache);
    writeln!(out, "formats     {files}")?;
    if !undecodable.is_empty() {
        writeln!(out, "  undecodable {undecodable}")?;
    }
    Ok(ExitStatus::Success)
}

/// Photo files in the cache (every path, aliases included) by the format their name
/// says, and the undecodable ones by format: `HEIC 2, JPEG 10`.
fn files_per_format(cache: &Cache) -> (String, String) {
    use std::collections::BTreeMap;
    let format_of = |path: &std::path::Path| {
        fs_detect::decode::Format::from_extension(path).map_or("other", |f| f.name())
    };
    let mut files: BTreeMap<&str, usize> = BTreeMap::new();
    let mut undecodable: BTreeMap<&str, usize> = BTreeMap::new();
    for image in cache.images() {
        for path in image.all_paths() {
            *files.entry(format_of(path)).or_default() += 1;
        }
        if matches!(image.outcome, ImageOutcome::DecodeError(_)) {
            *undecodable.entry(format_of(&image.path)).or_default() += 1;
        }
    }
    let list = |counts: BTreeMap<&str, usize>| {
        let parts: Vec<String> = counts.iter().map(|(f, n)| format!("{f} {n}")).collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    };
    let undecodable = if undecodable.is_empty() {
        String::new()
    } else {
        list(undecodable)
    };
    (list(files), undecodable)
}
