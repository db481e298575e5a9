//! From a cache of faces to identities: which faces are one person. No image is
//! decoded here; crops, bundles and the report are `fs-export`'s.
//!
//! - [`faces`]: the cache's faces as rows for clustering, in a stable order.
//! - [`cluster`]: raw clusters (`person_NNN/`, `_singletons/`, `_noface/`).
//! - [`gates`]: the quality gates, and the options of [`refine`].
//! - [`linking`]: how faces are linked — the quality bar, faces of one photo apart.
//! - [`refine`]: quality-gated facesets (`faceset_NNN/`).
//! - [`extend`]: fold new faces into an existing result without renumbering.
//! - [`discover`]: new identities from one source, beside known ones.
//! - [`dedup`]: byte-identical and near-duplicate groups.
//! - [`manifest`]: the JSON manifests; [`materialize`]: the folders behind them, and
//!   the one writer of each manifest. Source photos are only ever read.
//!
//! ```no_run
//! use fs_identities::cluster::{cluster_cache, ClusterOptions};
//! let cache = fs_cache::Cache::open_read_only("photos.fsc")?;
//! let manifest = cluster_cache(&cache, &ClusterOptions::default());
//! println!("{} people", manifest.clusters.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod cluster;
pub mod dedup;
pub mod discover;
mod error;
pub mod extend;
pub mod faces;
pub mod gates;
pub mod linking;
pub mod manifest;
pub mod materialize;
pub mod refine;

pub use error::{Error, Result};
