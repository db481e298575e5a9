//! Face quality measures and gates.
//!
//! Today this crate measures sharpness ([`laplacian_variance`]), which the embedding
//! pipeline stores with every face so that later stages never decode a photo again to
//! gate on blur. Frontality, landmark symmetry, the composite score and the gates will
//! join it.
//!
//! ```
//! use image::{GrayImage, Luma};
//! let flat = GrayImage::from_pixel(32, 32, Luma([128]));
//! assert_eq!(fs_quality::laplacian_variance(&flat), 0.0);
//! ```
#![warn(missing_docs)]

mod sharpness;

pub use sharpness::{face_sharpness, laplacian_variance, to_gray};
