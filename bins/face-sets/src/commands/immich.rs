//! `face-sets immich stage`.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use fs_cache::Cache;
use fs_immich::client::Client;
use fs_immich::stage::StageOptions;

use crate::ExitStatus;
use crate::cli::StageArgs;
use crate::progress::{Bars, StageProgress};

#[expect(clippy::cast_precision_loss, reason = "megabytes for display")]
pub(crate) fn stage(args: &StageArgs, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let key = std::env::var("IMMICH_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .context("IMMICH_API_KEY is not set (the key is only read from the environment)")?;
    let mut dedup_against = HashSet::new();
    for path in &args.dedup_against {
        let cache = Cache::open_read_only(path)
            .with_context(|| format!("cannot read --dedup-against {}", path.display()))?;
        dedup_against.extend(cache.images().map(|i| i.hash));
    }
    let mut options = StageOptions::new(&args.user, &args.staging_dir);
    options.workers = usize::from(args.workers);
    options.min_face_px = args.min_face;
    options.dedup_against = dedup_against;
    options.attempts = args.attempts;
    options.backoff = Duration::from_millis(args.backoff_ms);
    // An original this build cannot decode (a HEIC without libheif, a damaged file) is
    // staged as Immich's own JPEG rendering.
    options.readable = Some(fs_immich::stage::ReadCheck(std::sync::Arc::new(
        |file, name| fs_detect::decode::check_readable(file, name).map_err(|e| e.to_string()),
    )));
    let client = Client::new(&args.url, &key);
    let result = fs_immich::stage::stage(&client, &options, &StageProgress::new(bars));
    bars.clear();
    let summary = result?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{} IMAGE assets seen ({} done before); {} staged ({:.1} MB; {} as Immich's rendering of an \
         unreadable original); {} byte-deduped against caches, {} internal \
         byte-duplicates; skipped {} no-face, {} small-face; {} errors",
        summary.seen,
        summary.already_done,
        summary.staged,
        summary.bytes as f64 / 1e6,
        summary.renderings,
        summary.deduped_against_cache,
        summary.deduped_internal,
        summary.no_face,
        summary.small_face,
        summary.errors.len()
    )?;
    for (id, message) in &summary.errors {
        writeln!(err, "  asset {id}: {message}")?;
    }
    writeln!(
        err,
        "queue: {} (embed it with `face-sets embed --list {} CACHE`)",
        options
            .user_dir()
            .join(fs_immich::stage::QUEUE_FILE)
            .display(),
        options
            .user_dir()
            .join(fs_immich::stage::QUEUE_FILE)
            .display()
    )?;
    Ok(if summary.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}
