//! Face and image records, and the on-disk cache that holds them.
//!
//! A cache is one file: a versioned header followed by an append-only journal of
//! MessagePack entries, each framed with its length and a CRC-32. Appending is the only
//! write during normal work, and [`Cache::flush`] makes a batch durable with `fsync`, so a
//! crash (even `kill -9` or a power cut) loses at most the entries not yet flushed. On
//! open, a torn or garbled tail is cut back to the last whole entry. [`Cache::compact`]
//! rewrites the journal as a fresh file (temp + rename) when superseded entries pile up.
//!
//! Images are keyed by their content hash (BLAKE3): byte-identical files are embedded
//! once and every other path becomes an alias of the canonical one.
//!
//! ```no_run
//! use fs_cache::Cache;
//!
//! let cache = Cache::open("photos.fsc")?;
//! for image in cache.images() {
//!     println!("{}: {} faces", image.path.display(), image.faces().len());
//! }
//! # Ok::<(), fs_cache::Error>(())
//! ```
//!
//! Modules: [`record`] (the data), [`journal`] (the framing), and the [`Cache`] itself.
#![warn(missing_docs)]

pub mod atomic;
mod cache;
mod error;
pub mod journal;
mod path_bytes;
pub mod record;

pub use cache::{Cache, CacheStats, PathStatus};
pub use error::{Error, Result};
pub use record::{
    ContentHash, Embedding, Entry, Face, FaceKey, FileStamp, ImageOutcome, ImageRecord, ModelId,
    Pose, PoseSource, RunRecord, UnreadableRecord,
};
