//! What `review` serves: the library of a `run` output, the cache its faces come from,
//! and the export settings its corrections are exported again with.

use std::path::{Path, PathBuf};

use fs_cache::Cache;
use fs_export::swap::SwapOptions;
use fs_library::Library;
use fs_progress::Progress;

use crate::error::{Result, input};
use crate::layout::{LIBRARY, RunLayout};
use crate::models::Models;

/// A library opened for review.
#[derive(Debug)]
pub struct ReviewInputs {
    /// The library folder.
    pub dir: PathBuf,
    /// The library, opened; with the roop crop check when its identities were
    /// exported with it.
    pub library: Library,
    /// The cache the library's faces come from.
    pub cache: Cache,
    /// The raw clusters (for the singletons), when the output has them.
    pub raw: Option<PathBuf>,
    /// The export settings for identities from before settings were recorded (each
    /// identity is exported again with the settings it recorded).
    pub options: SwapOptions,
}

/// Opens the library in `out` (a `run` output, or a library folder) for review, with
/// the faces of `cache` (`out/cache.fsc` when `None`). A decision waits at most
/// `busy_timeout` for another writer (a `run`), then is refused, changing nothing.
pub fn open(
    out: &Path,
    cache: Option<&Path>,
    crop_check: bool,
    busy_timeout: std::time::Duration,
    models: &Models,
    progress: &dyn Progress,
) -> Result<ReviewInputs> {
    let dir = RunLayout::library_in(out).ok_or_else(|| {
        input(
            out,
            format!(
                "holds no library (no {LIBRARY}/{}): give the folder `face-sets run` wrote",
                fs_export::swap::SWAP_MANIFEST
            ),
        )
    })?;
    let layout = RunLayout::new(out);
    let cache_path = cache.map_or_else(|| layout.cache(), Path::to_path_buf);
    if !cache_path.is_file() {
        return Err(input(
            &cache_path,
            "no cache here: give the one the library's faces come from",
        ));
    }
    let cache = crate::identities::read_cache(&cache_path)?;
    let mut library = crate::stages::open_library(&dir, "face-sets review", progress)?
        .with_busy_timeout(busy_timeout);
    let (distances, _) = library.distances_for(cache.model());
    let checked = library
        .entries()
        .any(|e| e.exported_with.as_ref().is_some_and(|s| s.crop_check));
    if checked && crop_check {
        let check = models.crop_check(&cache, None, progress).map_err(|e| {
            input(
                &dir,
                format!(
                    "its identities were exported with the roop crop check, which needs the \
                     detector of the cache's pack ({e}); install the pack, or review without \
                     the check"
                ),
            )
        })?;
        library = library.with_crop_check(check);
    }
    let raw = layout.raw().join(fs_identities::manifest::RAW_MANIFEST);
    Ok(ReviewInputs {
        dir,
        library,
        cache,
        raw: raw.is_file().then_some(raw),
        options: SwapOptions::at(&distances),
    })
}
