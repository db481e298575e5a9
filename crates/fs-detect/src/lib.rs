//! Image decoding and SCRFD face detection.
//!
//! - [`decode`]: JPEG, PNG and WebP decoding with EXIF orientation applied, and size
//!   limits so that a hostile file fails cleanly instead of exhausting memory.
//! - [`runtime`]: loading the ONNX Runtime shared library (call [`runtime::init`] once,
//!   before creating any model).
//! - [`scrfd`]: the SCRFD detector exactly as InsightFace runs it (letterbox,
//!   normalisation, 3 strides × 2 anchors, NMS 0.4, threshold 0.5), with an input shaped
//!   to the image and a second pass that finds faces filling the frame.
//!
//! ```no_run
//! use fs_detect::{decode, runtime, scrfd::Detector};
//!
//! runtime::init("/opt/onnxruntime/libonnxruntime.so.1.31.1")?;
//! let mut detector = Detector::builder("det_500m.onnx").build()?;
//! let bytes = std::fs::read("portrait.jpg")?;
//! let image = decode::decode_image(&bytes)?;
//! for face in detector.detect(&image)? {
//!     println!("{:?} score {:.2}", face.bbox, face.score);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod decode;
mod error;
pub mod nms;
pub mod provider;
pub mod runtime;
pub mod scrfd;

pub use error::{Error, Result};
pub use scrfd::{Detection, Detector};
