//! Results are read and written with `fs-identities`' errors: one type for every file
//! of a result.

pub use fs_identities::{Error, Result};

pub(crate) fn io_err(
    path: impl Into<std::path::PathBuf>,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> Error {
    Error::io(path, action)
}
