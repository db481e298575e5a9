//! Loading ONNX Runtime.
//!
//! `ort` is built with `load-dynamic`: the shared library is found at run time. Any `ort`
//! call made before the library is loaded panics inside `ort`, so every program calls
//! [`init`] first and gets an [`Error::Runtime`](crate::Error::Runtime) it can print
//! when the library is missing or too old.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, Result};

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// Loads the ONNX Runtime shared library at `library` (the versioned file, e.g.
/// `libonnxruntime.so.1.31.1`) and creates the process-wide environment. Calling it
/// again after a success does nothing.
pub fn init(library: impl AsRef<Path>) -> Result<()> {
    if ENVIRONMENT.get().is_some() {
        return Ok(());
    }
    let library = library.as_ref();
    if !library.is_file() {
        return Err(Error::Runtime {
            path: library.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let builder = ort::init_from(library).map_err(|e| Error::Runtime {
        path: library.to_path_buf(),
        message: e.to_string(),
    })?;
    let environment = builder
        .with_name("face-sets")
        .build()
        .map_err(|e| Error::Runtime {
            path: library.to_path_buf(),
            message: e.to_string(),
        })?;
    let _ = ENVIRONMENT.set(environment);
    Ok(())
}

/// Whether [`init`] has succeeded in this process.
pub fn is_initialized() -> bool {
    ENVIRONMENT.get().is_some()
}

/// Opens an ONNX model on the CPU with `threads` intra-op threads (0 = ONNX Runtime's
/// default). Requires [`init`].
pub fn open_session(model: &Path, threads: usize) -> Result<ort::session::Session> {
    let fail = |message: String| Error::Model {
        path: model.to_path_buf(),
        message,
    };
    let Some(environment) = ENVIRONMENT.get() else {
        return Err(fail(
            "ONNX Runtime is not loaded; call fs_detect::runtime::init first".into(),
        ));
    };
    if !model.is_file() {
        return Err(fail("no such file".into()));
    }
    let mut builder =
        ort::session::Session::builder(environment).map_err(|e| fail(e.to_string()))?;
    // InsightFace's recognisers declare a batch of 1 in their output shape and ONNX
    // Runtime warns on every batched run; its errors still come through.
    builder = builder
        .with_log_level(ort::logging::LogLevel::Error)
        .map_err(|e| fail(e.to_string()))?;
    // Spinning intra-op threads would steal the cores that decode the next photos.
    builder = builder
        .with_config_entry("session.intra_op.allow_spinning", "0")
        .map_err(|e| fail(e.to_string()))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| fail(e.to_string()))?;
    }
    builder
        .commit_from_file(model)
        .map_err(|e| fail(e.to_string()))
}
