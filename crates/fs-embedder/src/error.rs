use std::path::PathBuf;

/// Errors from model packs, the recogniser and the embedding pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Detection or runtime failure.
    #[error(transparent)]
    Detect(#[from] fs_detect::Error),
    /// The cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] fs_cache::Error),
    /// A model pack directory is missing a model, or a file of it cannot be read.
    #[error(transparent)]
    Pack(#[from] fs_packs::PackError),
    /// The recogniser rejected its input or produced an unexpected output.
    #[error("recognition model {}: {message}", model.display())]
    Recognizer {
        /// The model file.
        model: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A source given on the command line does not exist or cannot be listed.
    #[error("cannot read source {}", path.display())]
    Source {
        /// The source path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
