//! ONNX Runtime execution providers: which hardware runs the models.
//!
//! One provider is chosen per process with [`crate::runtime::select_provider`], after
//! the runtime is loaded, and every session opened afterwards uses it. What a provider
//! needs is in the ONNX Runtime build that was loaded: the `onnxruntime` wheel has the
//! CPU (and CoreML on macOS), `onnxruntime-gpu` adds CUDA and TensorRT,
//! `onnxruntime-directml` DirectML, and so on. [`Provider::how_to_get`] says which.

#![expect(
    clippy::doc_markdown,
    reason = "provider names (CoreML, TensorRT, OpenVINO) are names, not code"
)]

use std::fmt;
use std::str::FromStr;

use ort::ep::{self, ExecutionProvider};

/// An execution provider this project can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// The CPU: in every build of ONNX Runtime.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT (through the CUDA build).
    TensorRt,
    /// DirectML (Windows, any DirectX 12 GPU).
    DirectMl,
    /// Core ML (macOS).
    CoreMl,
    /// Intel OpenVINO.
    OpenVino,
    /// AMD ROCm.
    Rocm,
}

impl Provider {
    /// Every provider, by name.
    pub const ALL: [Provider; 7] = [
        Provider::Cpu,
        Provider::Cuda,
        Provider::TensorRt,
        Provider::DirectMl,
        Provider::CoreMl,
        Provider::OpenVino,
        Provider::Rocm,
    ];

    /// The order `auto` tries them in: the GPUs first, the CPU last. TensorRT is left
    /// out: it builds an engine for every new input shape, and photos come in many.
    pub const AUTO_ORDER: [Provider; 6] = [
        Provider::Cuda,
        Provider::Rocm,
        Provider::DirectMl,
        Provider::CoreMl,
        Provider::OpenVino,
        Provider::Cpu,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::DirectMl => "directml",
            Provider::CoreMl => "coreml",
            Provider::OpenVino => "openvino",
            Provider::Rocm => "rocm",
        }
    }

    /// ONNX Runtime's name for it, as `GetAvailableProviders` lists it.
    pub fn runtime_name(self) -> &'static str {
        match self {
            Provider::Cpu => ep::CPU::NAME,
            Provider::Cuda => ep::CUDA::NAME,
            Provider::TensorRt => ep::TensorRT::NAME,
            Provider::DirectMl => ep::DirectML::NAME,
            Provider::CoreMl => ep::CoreML::NAME,
            Provider::OpenVino => ep::OpenVINO::NAME,
            Provider::Rocm => ep::ROCm::NAME,
        }
    }

    /// How a user gets an ONNX Runtime with it.
    pub fn how_to_get(self) -> &'static str {
        match self {
            Provider::Cpu => "every ONNX Runtime has it",
            Provider::Cuda => {
                "install the CUDA build with `face-sets setup --gpu cuda` (`cargo xtask setup \
                 --gpu cuda` in a checkout; an NVIDIA GPU and driver are needed)"
            }
            Provider::TensorRt => {
                "install the CUDA build with `face-sets setup --gpu cuda`, and NVIDIA TensorRT \
                 (libnvinfer) on the library path"
            }
            Provider::DirectMl => "on Windows, see `face-sets setup --gpu directml`",
            Provider::CoreMl => "on macOS, the ONNX Runtime `face-sets setup` installs has it",
            Provider::OpenVino => {
                "install ONNX Runtime built with OpenVINO (PyPI `onnxruntime-openvino`) and point \
                 ORT_DYLIB_PATH at its libonnxruntime"
            }
            Provider::Rocm => {
                "install ONNX Runtime built with ROCm and point ORT_DYLIB_PATH at its libonnxruntime"
            }
        }
    }

    /// What it needs to start when the runtime has it.
    pub fn needs(self) -> &'static str {
        match self {
            Provider::Cpu => "nothing more",
            Provider::Cuda => {
                "it needs an NVIDIA GPU and its driver (libcuda.so.1; `nvidia-smi` should list \
                 the GPU)"
            }
            Provider::TensorRt => {
                "it needs an NVIDIA GPU, its driver and TensorRT (libnvinfer) on the library path"
            }
            Provider::DirectMl => "it needs a DirectX 12 GPU and Windows 10 or later",
            Provider::CoreMl => "it needs macOS",
            Provider::OpenVino => "it needs the OpenVINO runtime on the library path",
            Provider::Rocm => "it needs an AMD GPU and the ROCm runtime on the library path",
        }
    }

    /// Whether the loaded ONNX Runtime was built with it. Requires the runtime.
    pub(crate) fn is_built_in(self) -> ort::Result<bool> {
        match self {
            Provider::Cpu => Ok(true),
            Provider::Cuda => ep::CUDA::is_available(),
            Provider::TensorRt => ep::TensorRT::is_available(),
            Provider::DirectMl => ep::DirectML::is_available(),
            Provider::CoreMl => ep::CoreML::is_available(),
            Provider::OpenVino => ep::OpenVINO::is_available(),
            Provider::Rocm => ep::ROCm::is_available(),
        }
    }

    /// Registers it on a session being built. Requires the runtime.
    pub(crate) fn register(
        self,
        builder: &mut ort::session::builder::SessionBuilder,
    ) -> ort::Result<()> {
        match self {
            Provider::Cpu => ep::CPU::default().register(builder),
            Provider::Cuda => ep::CUDA::default().register(builder),
            Provider::TensorRt => ep::TensorRT::default().register(builder),
            Provider::DirectMl => ep::DirectML::default().register(builder),
            Provider::CoreMl => ep::CoreML::default().register(builder),
            Provider::OpenVino => ep::OpenVINO::default().register(builder),
            Provider::Rocm => ep::ROCm::default().register(builder),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown execution provider {0:?} (expected auto, {names})", names = names())]
pub struct UnknownProvider(pub String);

fn names() -> String {
    Provider::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Choice {
    /// The first of [`Provider::AUTO_ORDER`] that works.
    #[default]
    Auto,
    /// This one, or an error.
    Only(Provider),
}

impl Choice {
    /// The providers to try, in order.
    pub fn candidates(self) -> Vec<Provider> {
        match self {
            Choice::Auto => Provider::AUTO_ORDER.to_vec(),
            Choice::Only(p) => vec![p],
        }
    }

    /// Whether a GPU build of the runtime should be preferred when one is installed.
    pub fn wants_gpu_runtime(self) -> bool {
        matches!(
            self,
            Choice::Auto | Choice::Only(Provider::Cuda | Provider::TensorRt)
        )
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Auto => f.write_str("auto"),
            Choice::Only(p) => p.fmt(f),
        }
    }
}

impl FromStr for Choice {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            Ok(Choice::Auto)
        } else {
            s.parse().map(Choice::Only)
        }
    }
}

/// The provider chosen, and what was tried before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The provider every session will use.
    pub provider: Provider,
    /// Providers `auto` tried and passed over, with why.
    pub passed_over: Vec<(Provider, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_list_the_choices() {
        for p in Provider::ALL {
            assert_eq!(p.name().parse::<Provider>(), Ok(p));
            assert_eq!(
                p.name().to_uppercase().parse::<Choice>(),
                Ok(Choice::Only(p))
            );
        }
        assert_eq!("auto".parse::<Choice>(), Ok(Choice::Auto));
        let err = "gpu".parse::<Choice>().unwrap_err().to_string();
        assert!(
            err.contains("\"gpu\"") && err.contains("auto, cpu, cuda"),
            "{err}"
        );
    }

    #[test]
    fn auto_tries_the_gpus_before_the_cpu_and_never_tensorrt() {
        let order = Choice::Auto.candidates();
        assert_eq!(order.first(), Some(&Provider::Cuda));
        assert_eq!(order.last(), Some(&Provider::Cpu));
        assert!(!order.contains(&Provider::TensorRt));
        assert_eq!(
            Choice::Only(Provider::Cpu).candidates(),
            vec![Provider::Cpu]
        );
        assert!(Choice::Auto.wants_gpu_runtime());
        assert!(!Choice::Only(Provider::Cpu).wants_gpu_runtime());
    }

    #[test]
    fn runtime_names_are_onnx_runtimes() {
        assert_eq!(Provider::Cpu.runtime_name(), "CPUExecutionProvider");
        assert_eq!(Provider::Cuda.runtime_name(), "CUDAExecutionProvider");
        assert_eq!(Provider::DirectMl.runtime_name(), "DmlExecutionProvider");
    }
}
