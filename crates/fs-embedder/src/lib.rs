//! From photos to face embeddings.
//!
//! - [`align`]: five-point similarity alignment onto the 112×112 ArcFace template.
//! - [`arcface`]: the ArcFace recogniser, batched.
//! - [`pipeline`]: scan → hash → decode → detect → embed → [`fs_cache::Cache`], with
//!   decoding overlapped with inference.
//!
//! ```no_run
//! use fs_packs::ModelPack;
//! use fs_embedder::pipeline::{embed, EmbedOptions, FaceAnalyzer, Source};
//! use fs_progress::Silent;
//!
//! fs_detect::runtime::init("libonnxruntime.so.1.31.1")?;
//! let pack = ModelPack::from_dir("models/buffalo_s")?;
//! let mut analyzer = FaceAnalyzer::new(&pack, 640, 2)?;
//! let mut cache = fs_cache::Cache::open("photos.fsc")?;
//! let summary = embed(&[Source::Tree("photos".into())], &mut cache, &mut analyzer,
//!                     &EmbedOptions::default(), &Silent)?;
//! assert!(summary.errors.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod align;
pub mod arcface;
pub mod enrich;
mod error;
pub mod landmark;
mod onnx;
pub mod pipeline;
pub mod pose;
pub mod thumbnails;

pub use error::{Error, Result};
/// Where the runtime and the packs are installed (from `fs-packs`).
pub use fs_packs::locations;
