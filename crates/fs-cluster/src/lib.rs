//! Identity clustering over L2-normalised face embeddings. No I/O.
//!
//! - [`Embeddings`]: a row-major matrix of unit vectors, one row per face, in the
//!   caller's order (the order decides ties, so sort rows by path first).
//! - [`agglomerative`]: average-linkage clustering cut at a cosine-distance threshold,
//!   exact without a distance matrix (sum vectors over a candidate graph).
//!   Rows of one group (faces of one photo) can be kept apart.
//! - [`by_quality`]: quality-aware clustering — the faces above a quality bar are
//!   linked, the others attached to the nearest centroid within the join distance.
//! - [`graph`]: the candidate graphs — every pair within the threshold (blocked GEMM),
//!   or each row's nearest neighbours within the cells of an inverted-file index for
//!   very large libraries.
//! - [`calibrate`]: the distance thresholds measured on labelled faces.
//! - [`centroid`]: centroids, centroid-level merges, outlier rejection and
//!   nearest-centroid assignment.
//!
//! Long runs report progress through [`fs_progress::Progress`].
//!
//! ```
//! use fs_cluster::{Embeddings, agglomerative::cluster};
//! let e = Embeddings::from_rows(2, &[[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]]);
//! let clusters = cluster(&e, 0.55);
//! assert_eq!(clusters, vec![vec![0, 1], vec![2]]);
//! ```
#![warn(missing_docs)]

pub mod agglomerative;
pub mod by_quality;
pub mod calibrate;
pub mod centroid;
mod embeddings;
pub mod graph;

pub use embeddings::{Embeddings, connected_groups, cosine_distance};
