use std::path::PathBuf;

/// Everything that can go wrong while reading or writing a cache.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cache file could not be opened, read, written or synced.
    #[error("cache {}: {action}", path.display())]
    Io {
        /// The cache file.
        path: PathBuf,
        /// What was being done, e.g. "append".
        action: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the cache magic bytes.
    #[error("{} is not a face-sets cache (bad magic bytes)", path.display())]
    NotACache {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The cache was written by a format version this build does not understand.
    #[error(
        "cache {} uses format version {found}, but this build reads version {supported}; \
         use a face-sets release that supports version {found}, or embed into a new cache",
        path.display()
    )]
    UnsupportedVersion {
        /// The cache file.
        path: PathBuf,
        /// The version in the header.
        found: u16,
        /// The version this build writes and reads.
        supported: u16,
    },
    /// Another process holds the cache open for writing.
    #[error("cache {} is in use by another face-sets process", path.display())]
    Locked {
        /// The cache file.
        path: PathBuf,
    },
    /// The cache holds faces from other models than the ones asked for.
    #[error(
        "cache {} was made by {cache}, not by {requested}; embeddings of different models \
         cannot be compared: embed with its pack, {}, or into a new cache",
        path.display(),
        cache.pack
    )]
    ModelMismatch {
        /// The cache file.
        path: PathBuf,
        /// The models that made the cache.
        cache: Box<crate::ModelId>,
        /// The models asked for.
        requested: Box<crate::ModelId>,
    },
    /// An entry could not be encoded (never expected with well-formed records).
    #[error("cannot encode a cache entry")]
    Encode(#[source] rmp_serde::encode::Error),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
