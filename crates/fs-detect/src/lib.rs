//! Image decoding and face detection (SCRFD or YuNet).
//!
//! - [`decode`]: photo decoding with the orientation applied (JPEGs at a reduced scale
//!   when that is enough), and size limits so that a hostile file fails cleanly instead
//!   of exhausting memory.
//! - [`crop`]: a square crop of one face with the other faces kept out (export crops
//!   and thumbnails).
//! - [`runtime`]: loading the ONNX Runtime shared library (call [`runtime::init`] once,
//!   before creating any model).
//! - [`detector`]: one [`Detector`] for both families, with an input shaped to the
//!   image and, for SCRFD, a second pass that finds faces filling the frame.
//! - [`scrfd`]: SCRFD exactly as InsightFace runs it (normalisation, 3 strides × 2
//!   anchors, NMS 0.4, threshold 0.5).
//! - [`yunet`]: YuNet exactly as OpenCV's `FaceDetectorYN` runs it (raw BGR, 3
//!   strides, score `√(cls·obj)`, NMS 0.3, threshold 0.9).
//!
//! ```no_run
//! use fs_detect::{decode, runtime, Detector};
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

pub mod crop;
pub mod decode;
pub mod detector;
mod error;
mod family;
pub mod nms;
pub mod provider;
pub mod runtime;
pub mod scrfd;
pub mod yunet;

pub use detector::{Detection, Detector, DetectorKind};
pub use error::{Error, Result};
