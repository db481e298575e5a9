//! Loading ONNX Runtime, and choosing what runs the models.
//!
//! `ort` is built with `load-dynamic`: the shared library is found at run time. Any `ort`
//! call made before the library is loaded panics inside `ort`, so every program calls
//! [`init`] (or [`start`], which also picks the library and the execution provider)
//! first and gets an [`Error::Runtime`](crate::Error::Runtime) it can print when the
//! library is missing or too old.
//!
//! Sessions run on the CPU unless [`select_provider`] chose another provider; with
//! `auto`, a GPU that fails when the first model is opened falls back to the CPU, with
//! a warning.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fs_packs::Locations;

use crate::error::{Error, Result};
use crate::provider::{Choice, Provider, Selected};

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// The library [`init`] loaded, for messages.
static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
/// The provider every new session uses, and what was asked for.
static ACTIVE: Mutex<(Provider, Choice)> = Mutex::new((Provider::Cpu, Choice::Only(Provider::Cpu)));

/// Loads the ONNX Runtime for `choice` and selects the provider: the GPU build that
/// `face-sets setup --gpu cuda` installs when `choice` may use it and it is there
/// (its CUDA libraries preloaded), else `locations.runtime`. A runtime the program was
/// given ([`Locations::runtime_given`]) always wins.
pub fn start(locations: &Locations, choice: Choice) -> Result<Selected> {
    let gpu = locations.gpu_runtime("cuda");
    if !locations.runtime_given && choice.wants_gpu_runtime() && gpu.is_file() && !is_initialized()
    {
        let loaded = preload_libraries(&locations.gpu_libraries("cuda"));
        tracing::debug!(loaded, "preloaded the CUDA libraries");
        init(&gpu)?;
    } else {
        init(&locations.runtime)?;
    }
    select_provider(choice)
}

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
    let _ = LIBRARY.set(library.to_path_buf());
    Ok(())
}

/// Loads every shared library under `dir` (recursively), over and over until no more
/// load, so that each finds the ones it depends on already loaded; they stay loaded
/// for the life of the process. Returns how many loaded.
pub fn preload_libraries(dir: &Path) -> usize {
    let mut pending: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir() && is_shared_library(e.path()))
        .map(walkdir::DirEntry::into_path)
        .collect();
    pending.sort();
    let mut loaded = 0;
    loop {
        let before = pending.len();
        pending.retain(|p| ort::util::preload_dylib(p).is_err());
        loaded += before - pending.len();
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for p in &pending {
        tracing::debug!(library = %p.display(), "could not be preloaded");
    }
    loaded
}

fn is_shared_library(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("lib") && n.contains(".so"))
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("dll"))
}

/// Chooses the provider of every session opened from now on: the first of `choice`'s
/// candidates that the loaded runtime has and that registers. An explicit provider the
/// runtime lacks, or that fails to register, is an error naming it and how to get it.
/// Requires [`init`].
pub fn select_provider(choice: Choice) -> Result<Selected> {
    let Some(environment) = ENVIRONMENT.get() else {
        return Err(Error::Runtime {
            path: PathBuf::new(),
            message: "ONNX Runtime is not loaded; call fs_detect::runtime::init first".into(),
        });
    };
    let mut passed_over = Vec::new();
    for provider in choice.candidates() {
        let outcome = match provider.is_built_in() {
            Ok(true) => ort::session::Session::builder(environment)
                .and_then(|mut builder| provider.register(&mut builder))
                .map_err(|e| e.to_string().trim().to_string()),
            Ok(false) => Err(NOT_BUILT_IN.to_string()),
            Err(e) => Err(e.to_string().trim().to_string()),
        };
        match (outcome, choice) {
            (Ok(()), _) => {
                set_active(provider, choice);
                return Ok(Selected {
                    provider,
                    passed_over,
                });
            }
            (Err(message), Choice::Only(_)) if message == NOT_BUILT_IN => {
                return Err(Error::ProviderUnavailable {
                    provider,
                    library: LIBRARY.get().cloned().unwrap_or_default(),
                    available: built_in()
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    hint: provider.how_to_get(),
                });
            }
            (Err(message), Choice::Only(_)) => {
                return Err(Error::ProviderFailed {
                    provider,
                    message,
                    hint: provider.needs(),
                });
            }
            (Err(message), Choice::Auto) => passed_over.push((provider, message)),
        }
    }
    // `auto` ends with the CPU, which always registers.
    set_active(Provider::Cpu, choice);
    Ok(Selected {
        provider: Provider::Cpu,
        passed_over,
    })
}

/// What [`Selected::passed_over`] says of a provider the runtime was built without.
pub const NOT_BUILT_IN: &str = "not in this ONNX Runtime";

/// The providers the loaded runtime was built with. Requires [`init`].
pub fn built_in() -> Vec<Provider> {
    Provider::ALL
        .into_iter()
        .filter(|p| p.is_built_in().unwrap_or(false))
        .collect()
}

/// The provider new sessions use.
pub fn active_provider() -> Provider {
    active().0
}

fn active() -> (Provider, Choice) {
    *ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_active(provider: Provider, choice: Choice) {
    *ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = (provider, choice);
}

/// Whether [`init`] has succeeded in this process.
pub fn is_initialized() -> bool {
    ENVIRONMENT.get().is_some()
}

/// Opens an ONNX model on the selected provider (the CPU unless [`select_provider`]
/// chose another) with `threads` intra-op threads (0 = ONNX Runtime's default).
/// Requires [`init`]. With `auto`, a provider that fails here is dropped for the CPU,
/// with a warning, for this session and every later one.
pub fn open_session(model: &Path, threads: usize) -> Result<ort::session::Session> {
    let (provider, choice) = active();
    match build_session(model, threads, provider) {
        Err(Error::Model { message, .. })
            if provider != Provider::Cpu && choice == Choice::Auto =>
        {
            tracing::warn!(
                "execution provider {provider} failed to open {} ({message}); using the CPU",
                model.display()
            );
            set_active(Provider::Cpu, choice);
            build_session(model, threads, Provider::Cpu)
        }
        Err(Error::Model { message, .. }) if provider != Provider::Cpu => {
            Err(Error::ProviderFailed {
                provider,
                message: format!("opening {}: {message}", model.display()),
                hint: provider.needs(),
            })
        }
        other => other,
    }
}

fn build_session(
    model: &Path,
    threads: usize,
    provider: Provider,
) -> Result<ort::session::Session> {
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
    // Quantised weights are dequantised once, when the session is built, instead of on
    // every run: OpenCV's int8 block-quantised SFace has no fused int8 kernel on the
    // CPU, and folding halves its time per face (51 ms to 26 ms on 2 cores). Models
    // without quantised weights are unaffected.
    builder = builder
        .with_config_entry("session.disable_quant_qdq", "1")
        .map_err(|e| fail(e.to_string()))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| fail(e.to_string()))?;
    }
    if provider != Provider::Cpu {
        provider
            .register(&mut builder)
            .map_err(|e| fail(e.to_string()))?;
    }
    builder
        .commit_from_file(model)
        .map_err(|e| fail(e.to_string()))
}
