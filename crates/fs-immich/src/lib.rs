//! Importing photos from a self-hosted Immich server.
//!
//! This crate will hold a typed client for the Immich endpoints the importer uses and
//! the staging logic (resume, bounded concurrency, circuit breaker). Nothing is
//! implemented yet.
#![warn(missing_docs)]
