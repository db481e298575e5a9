//! `inspect`: what a cache holds, as a table or as one JSON line per photo.

use std::fmt;

use fs_cache::{Cache, ImageOutcome};
use serde_json::json;

/// One JSON object per photo of `cache` (its faces with boxes, keypoints, scores,
/// embeddings and pose), then one per unreadable file.
pub fn json_lines(cache: &Cache) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
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
        lines.push(line);
    }
    for record in cache.unreadable() {
        let line = json!({
            "path": record.path.to_string_lossy(),
            "aliases": [],
            "hash": null,
            "error": record.error,
            "faces": [],
        });
        lines.push(line);
    }
    lines
}

/// The cache's summary table: model, runs, counts, formats.
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a>(pub &'a Cache);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.0.stats();
        writeln!(f, "cache       {}", self.0.path().display())?;
        match self.0.model() {
            Some(model) => writeln!(f, "model       {model}")?,
            None => writeln!(f, "model       unknown (no faces yet, or an older cache)")?,
        }
        match self.0.runs().last() {
            Some(run) => writeln!(
                f,
                "runs        {} (last: {} on {})",
                self.0.runs().len(),
                run.tool,
                run.provider
            )?,
            None => writeln!(f, "runs        none recorded")?,
        }
        writeln!(f, "images      {}", stats.images)?;
        writeln!(f, "  faces     {}", stats.faces)?;
        writeln!(f, "  no face   {}", stats.no_face)?;
        writeln!(
            f,
            "  errors    {} undecodable, {} unreadable",
            stats.decode_errors, stats.unreadable
        )?;
        writeln!(f, "aliases     {}", stats.aliases)?;
        let (files, undecodable) = files_per_format(self.0);
        writeln!(f, "formats     {files}")?;
        if !undecodable.is_empty() {
            writeln!(f, "  undecodable {undecodable}")?;
        }
        Ok(())
    }
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
