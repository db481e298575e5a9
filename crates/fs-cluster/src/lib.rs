//! Identity clustering over face embeddings.
//!
//! This crate will hold cosine distances on L2-normalised embeddings, average-linkage
//! agglomerative clustering with a distance threshold, centroid merges, outlier
//! rejection and nearest-centroid assignment. It has no I/O. Nothing is implemented yet.
#![warn(missing_docs)]
