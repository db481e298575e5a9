//! Writing results to disk.
//!
//! This crate will materialise cluster folders (`person_NNN/`, `faceset_NNN/`), write
//! square single-face PNG crops and `.fsz` bundles, and the manifests, atomically.
//! Nothing is implemented yet.
#![warn(missing_docs)]
