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
    Ok(ExitStatus::Success)
}
