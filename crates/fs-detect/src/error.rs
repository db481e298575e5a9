use std::path::PathBuf;

/// Errors from decoding, the runtime, or the detector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not an image in a supported format, or are damaged.
    #[error("cannot decode image: {0}")]
    Decode(#[source] image::ImageError),
    /// JPEG data that stops before its end-of-image marker.
    #[error("cannot decode image: JPEG data ends before its end-of-image marker (truncated file?)")]
    Truncated,
    /// A file of a known format that its decoder refused.
    #[error("cannot decode {format}: {message}")]
    Format {
        /// The format's name (`HEIC`, `JPEG XL`, …).
        format: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A format this build has no decoder for.
    #[error(
        "{format} support not built in: this build lacks the `{feature}` feature of fs-detect \
         ({how})"
    )]
    NotBuiltIn {
        /// The format's name.
        format: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
        /// What it takes to build with it.
        how: &'static str,
    },
    /// An image larger than the decoder's limits, refused before decoding it.
    #[error(
        "{format} image of {width}x{height} pixels is too large (at most {max_side} pixels a \
         side and {max_mib} MiB decoded)"
    )]
    TooLarge {
        /// The most pixels a side the decoder takes.
        max_side: u32,
        /// The most mebibytes a decoded image may take.
        max_mib: u64,
        /// The format's name.
        format: &'static str,
        /// Its width.
        width: u64,
        /// Its height.
        height: u64,
    },
    /// The ONNX Runtime library could not be loaded.
    #[error(
        "cannot load ONNX Runtime from {}: {message}; run `face-sets setup` (`cargo xtask setup` in a checkout) or point \
         ORT_DYLIB_PATH at libonnxruntime.so.<version>",
        path.display()
    )]
    Runtime {
        /// The library path tried.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model file is missing or ONNX Runtime rejected it.
    #[error("cannot load model {}: {message}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model's inputs or outputs are not what the detector expects.
    #[error("model {} has an unexpected layout: {message}", path.display())]
    Layout {
        /// The model file.
        path: PathBuf,
        /// What was unexpected.
        message: String,
    },
    /// The execution provider asked for is not in the loaded ONNX Runtime.
    #[error(
        "execution provider {provider} is not in the ONNX Runtime at {} (it has: {available}); \
         to get it, {hint}",
        library.display()
    )]
    ProviderUnavailable {
        /// The provider.
        provider: crate::provider::Provider,
        /// The library loaded.
        library: PathBuf,
        /// The providers it has.
        available: String,
        /// How to get one with it.
        hint: &'static str,
    },
    /// The execution provider is in the runtime but could not start (no device, a
    /// missing driver or library).
    #[error("execution provider {provider} could not start: {message}; {hint}")]
    ProviderFailed {
        /// The provider.
        provider: crate::provider::Provider,
        /// What ONNX Runtime said.
        message: String,
        /// How to get it working.
        hint: &'static str,
    },
    /// Inference failed.
    #[error("inference failed: {0}")]
    Inference(#[from] ort::Error),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
