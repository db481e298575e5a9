//! Identity clustering over L2-normalised face embeddings. No I/O.
//!
//! - [`Embeddings`]: a row-major matrix of unit vectors, one row per face, in the
//!   caller's order (the order decides ties, so sort rows by path first).
//! - [`agglomerative`]: average-linkage clustering cut at a cosine-distance threshold
//!   (kodama on a condensed `f32` matrix filled block-wise by a matrix product).
//! - [`centroid`]: centroids, centroid-level merges, outlier rejection and
//!   nearest-centroid assignment.
//!
//! ```
//! use fs_cluster::{Embeddings, agglomerative::cluster};
//! let e = Embeddings::from_rows(2, &[[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]]);
//! let clusters = cluster(&e, 0.55);
//! assert_eq!(clusters, vec![vec![0, 1], vec![2]]);
//! ```
#![warn(missing_docs)]

pub mod agglomerative;
pub mod centroid;
mod embeddings;

pub use embeddings::{Embeddings, connected_groups, cosine_distance};
