use std::path::PathBuf;

/// Why a stage stopped. What it finished before stays done: caches, manifests and the
/// library are written whole or not at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input is missing or is not what the stage needs.
    #[error("{}: {message}", path.display())]
    Input {
        /// The input.
        path: PathBuf,
        /// What is wrong with it, and what would do.
        message: String,
    },
    /// The cache was made by a pack that is not installed.
    #[error(
        "the cache was made by {model}, whose pack is not installed; install it or name another pack"
    )]
    PackOfCache {
        /// The model the cache records.
        model: Box<fs_cache::ModelId>,
        /// Why the pack was not found.
        #[source]
        source: fs_packs::PackError,
    },
    /// A model pack is missing or incomplete.
    #[error(transparent)]
    Pack(#[from] fs_packs::PackError),
    /// ONNX Runtime or a detector failed.
    #[error(transparent)]
    Detect(#[from] fs_detect::Error),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] fs_embedder::Error),
    /// The cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] fs_cache::Error),
    /// A manifest, crop, bundle or the report could not be read or written, or a
    /// result folder holds another result.
    #[error(transparent)]
    Results(#[from] fs_identities::Error),
    /// The library refused or failed a change (nothing of it was kept).
    #[error(transparent)]
    Library(#[from] fs_library::Error),
    /// Calibration had nothing to measure.
    #[error(transparent)]
    Calibrate(#[from] fs_cluster::calibrate::CalibrateError),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error::Input`].
pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.into(),
        message: message.into(),
    }
}
