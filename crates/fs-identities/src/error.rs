use std::path::PathBuf;

/// Errors while reading or writing results: manifests, folders, crops, bundles and
/// the report (`fs-export` writes with the same errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {action}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest could not be parsed.
    #[error("manifest {} is not valid", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The output directory holds something this run must not mix with.
    #[error("{}: {message}", path.display())]
    Conflict {
        /// The output directory.
        path: PathBuf,
        /// What is there and what to do.
        message: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] maker for `map_err`: `action` on `path` failed.
    pub fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            path,
            action,
            source,
        }
    }
}

pub(crate) fn io_err(
    path: impl Into<PathBuf>,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> Error {
    Error::io(path, action)
}
