//! From a cache of faces to identities on disk.
//!
//! - [`faces`]: the cache's faces as rows for clustering, in a stable order.
//! - [`raw`]: `cluster` — raw clusters (`person_NNN/`, `_singletons/`, `_noface/`).
//! - [`refine`]: quality-gated facesets (`faceset_NNN/`).
//! - [`extend`]: fold new faces into an existing result without renumbering.
//! - [`dedup`]: byte-identical and near-duplicate groups.
//! - [`discover`]: new identities from one source, beside known ones.
//! - [`report`]: the HTML review page of a `run`.
//! - [`swap`]: `export-swap` — ranked single-face PNG crops and `.fsz` bundles (the
//!   library crate `fs-library` owns the folder they go into).
//! - [`manifest`], [`materialize`]: the JSON manifests and the files behind them,
//!   written atomically; source photos are only ever read.
//!
//! ```no_run
//! use fs_export::raw::{cluster_cache, ClusterOptions};
//! let cache = fs_cache::Cache::open_read_only("photos.fsc")?;
//! let manifest = cluster_cache(&cache, &ClusterOptions::default());
//! println!("{} people", manifest.clusters.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod dedup;
pub mod discover;
mod error;
pub mod extend;
pub mod faces;
pub mod manifest;
pub mod materialize;
pub mod raw;
pub mod refine;
pub mod report;
pub mod swap;

pub use error::{Error, Result};
