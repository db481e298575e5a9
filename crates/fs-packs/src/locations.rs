//! Where the ONNX Runtime library and the models live.
//!
//! Defaults sit under the per-user data directory (`~/.local/share/face-sets` on Linux,
//! `~/Library/Application Support/face-sets` on macOS, `%APPDATA%\face-sets` on Windows):
//!
//! ```text
//! face-sets/
//!   runtime/libonnxruntime.so.1.31.1
//!   models/buffalo_s/{scrfd_500m_bnkps,w600k_mbf,2d106det}.onnx
//!   models/buffalo_l/{det_10g,w600k_r50,2d106det,1k3d68}.onnx   (optional)
//! ```
//!
//! A program may let [`MODELS_VARIABLE`] override the models directory and
//! [`RUNTIME_VARIABLE`] the library: it reads them and passes the values to
//! [`Locations::with_overrides`] (libraries never read the environment).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::catalogue::DEFAULT_PACK;

/// The ONNX Runtime release `cargo xtask setup` installs; `ort` is built against its API.
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// File name of the ONNX Runtime shared library on this platform.
pub fn runtime_file_name() -> String {
    if cfg!(target_os = "windows") {
        "onnxruntime.dll".into()
    } else if cfg!(target_os = "macos") {
        format!("libonnxruntime.{ONNXRUNTIME_VERSION}.dylib")
    } else {
        format!("libonnxruntime.so.{ONNXRUNTIME_VERSION}")
    }
}

/// The environment variable the `face-sets` binary reads for the models directory.
pub const MODELS_VARIABLE: &str = "FACE_SETS_MODELS";

/// The environment variable the `face-sets` binary reads for the ONNX Runtime library
/// (the name `ort` itself uses).
pub const RUNTIME_VARIABLE: &str = "ORT_DYLIB_PATH";

/// Resolved install locations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locations {
    /// Directory holding one sub-directory per model pack.
    pub models: PathBuf,
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// Whether `runtime` was given rather than the default: a given library is always
    /// the one loaded, never the GPU build beside the default.
    pub runtime_given: bool,
}

impl Default for Locations {
    /// The defaults under [`Locations::default_home`] (`.face-sets` where the platform
    /// has no data directory).
    fn default() -> Self {
        Self::with_overrides(None, None)
    }
}

impl Locations {
    /// The per-user default data directory, `None` when the platform has none.
    pub fn default_home() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("face-sets"))
    }

    /// Locations from explicit overrides, falling back to the defaults under `home`.
    pub fn new(home: &Path, models: Option<PathBuf>, runtime: Option<PathBuf>) -> Self {
        Self {
            models: models.unwrap_or_else(|| home.join("models")),
            runtime_given: runtime.is_some(),
            runtime: runtime.unwrap_or_else(|| home.join("runtime").join(runtime_file_name())),
        }
    }

    /// The defaults, with the models directory and the runtime library a program was
    /// given (the values of [`MODELS_VARIABLE`] and [`RUNTIME_VARIABLE`], say); empty
    /// values count as not given.
    pub fn with_overrides(models: Option<OsString>, runtime: Option<OsString>) -> Self {
        let given = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = Self::default_home().unwrap_or_else(|| PathBuf::from(".face-sets"));
        Self::new(&home, given(models), given(runtime))
    }

    /// The pack a new cache is embedded with when none is named: always `buffalo_s`, so
    /// installing another pack never changes what a command does. A cache that records
    /// its model is embedded with that model's pack.
    pub fn default_pack(&self) -> PathBuf {
        self.models.join(DEFAULT_PACK)
    }

    /// The ONNX Runtime library of a GPU build installed by `cargo xtask setup --gpu
    /// KIND` (`cuda`), beside the default one: `runtime-KIND/` under the same home.
    pub fn gpu_runtime(&self, kind: &str) -> PathBuf {
        self.gpu_dir(kind).join(runtime_file_name())
    }

    /// The libraries a GPU build needs (CUDA, cuDNN), preloaded before it is used.
    pub fn gpu_libraries(&self, kind: &str) -> PathBuf {
        self.gpu_dir(kind).join("lib")
    }

    fn gpu_dir(&self, kind: &str) -> PathBuf {
        let home = self.runtime.parent().and_then(Path::parent);
        home.map_or_else(
            || PathBuf::from(format!("runtime-{kind}")),
            |h| h.join(format!("runtime-{kind}")),
        )
    }

    /// The directory of a pack by name.
    pub fn pack_dir(&self, name: &str) -> PathBuf {
        self.models.join(name)
    }

    /// The pack that embeds faces comparable with a cache's: the pack it records, or
    /// the default for a cache that records none.
    pub fn pack_for(&self, recorded_pack: Option<&str>) -> PathBuf {
        recorded_pack.map_or_else(|| self.default_pack(), |name| self.pack_dir(name))
    }
}

#[cfg(test)]
mod default_pack_tests {
    use super::*;

    #[test]
    fn installing_another_pack_does_not_change_the_default() {
        let home = tempfile::tempdir().unwrap();
        let locations = Locations::new(home.path(), None, None);
        let large = locations.models.join("buffalo_l");
        std::fs::create_dir_all(&large).unwrap();
        std::fs::write(large.join("w600k_r50.onnx"), b"x").unwrap();
        assert_eq!(locations.default_pack(), locations.models.join("buffalo_s"));
    }
}
