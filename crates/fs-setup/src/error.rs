//! What can stop an install.

/// Why setup stopped. What it installed before stays installed (every file is written
/// whole or not at all), so running it again continues.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option is unknown or lacks its value.
    #[error("{0}")]
    Options(String),
    /// What was asked for has no pinned build here (a platform, a GPU kind).
    #[error("{0}")]
    Unsupported(String),
    /// A file is not what it is pinned to, or does not hold what it should (a checksum
    /// differs, a wheel lacks its library, a model cannot be fixed).
    #[error("{0}")]
    Mismatch(String),
    /// A step failed: reading or writing a file, running pip, downloading, unpacking.
    #[error("{what}")]
    Failed {
        /// The step, with the file or address it concerns.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Self::Failed {
            what: "input/output error".into(),
            source: Box::new(source),
        }
    }
}

impl From<zip::result::ZipError> for Error {
    fn from(source: zip::result::ZipError) -> Self {
        Self::Failed {
            what: "cannot unpack an archive".into(),
            source: Box::new(source),
        }
    }
}

/// Names the step a lower-level error stopped.
pub(crate) trait Context<T> {
    fn context(self, what: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Failed {
            what: what.into(),
            source: Box::new(e),
        })
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Failed {
            what: what().into(),
            source: Box::new(e),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| Error::Mismatch(what.into()))
    }

    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.ok_or_else(|| Error::Mismatch(what().into()))
    }
}

/// Stops with [`Error::Mismatch`].
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Mismatch(format!($($arg)*)))
    };
}

/// Stops with [`Error::Mismatch`] unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::error::bail!($($arg)*);
        }
    };
}

pub(crate) use {bail, ensure};
