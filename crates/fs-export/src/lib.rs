//! Identities rendered for people and for face swapping: the only crate here that
//! decodes photos for output.
//!
//! - [`swap`]: `export-swap` — ranked single-face PNG crops and `.fsz` bundles (the
//!   library crate `fs-library` owns the folder they go into), and the roop crop check.
//! - [`report`]: the HTML review page of a `run`.
//!
//! Which faces form an identity is `fs-identities`' work; source photos are only read.
#![warn(missing_docs)]

mod error;
pub mod report;
pub mod swap;

pub use error::{Error, Result};

/// Replaces `path` with `bytes` atomically and durably.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    fs_cache::atomic::write(path, bytes).map_err(error::io_err(path, "write"))
}

/// [`write_file`], unless `path` already holds exactly `bytes` (then it is not touched).
pub(crate) fn write_if_changed(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    fs_cache::atomic::write_if_changed(path, bytes).map_err(error::io_err(path, "write"))
}
