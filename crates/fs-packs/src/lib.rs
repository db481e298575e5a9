//! What each model pack is, where it is installed, and which distances fit it.
//!
//! - [`catalogue`]: the model files this project knows by name, by role, with the
//!   SHA-256 each is pinned to.
//! - [`locations`]: where the ONNX Runtime library and the packs are installed.
//! - [`pack`]: one installed pack's files, by role, and the id of the embeddings it makes.
//! - [`thresholds`]: the distance defaults of each pack's embedding space.
//!
//! A small crate with no model runtime in it, so that installing (`cargo xtask setup`)
//! and reading defaults need none of the heavy crates.
//!
//! ```
//! use fs_packs::thresholds::{for_pack, Family};
//! let (defaults, origin) = for_pack("buffalo_s");
//! assert_eq!(defaults.get(Family::Cluster), 0.65);
//! assert_eq!(origin.to_string(), "the buffalo_s defaults");
//! ```
#![warn(missing_docs)]

pub mod catalogue;
pub mod locations;
pub mod pack;
pub mod thresholds;

pub use catalogue::DEFAULT_PACK;
pub use locations::Locations;
pub use pack::{ModelPack, PackError};
pub use thresholds::Thresholds;
