//! Importing photos from a self-hosted Immich server (2.x and 3.x).
//!
//! - [`client`]: a typed client for `search/metadata`, `faces`, `assets/{id}/original`,
//!   `server/ping` and `server/version`, authenticated by `x-api-key`.
//! - [`stage`]: staging every photo and video asset that has a big enough face: bounded
//!   concurrency, content-hash dedup, paths from the server sanitised so nothing lands
//!   outside the staging folder, `queue.json` and `state.json` written atomically for
//!   resume, retries with backoff, and a circuit breaker for outages.
//! - [`dto`]: the request/response shapes, following the official SDK's types.
//!
//! ```no_run
//! use fs_immich::{client::Client, stage::{StageOptions, stage}};
//! let client = Client::new("https://photos.example.com", &std::env::var("IMMICH_API_KEY")?);
//! let summary = stage(&client, &StageOptions::new("alice", "staging"), &fs_progress::Silent)?;
//! println!("{} staged", summary.staged);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod client;
pub mod dto;
mod error;
#[cfg(feature = "mock-server")]
pub mod mock;
pub mod paths;
pub mod stage;

pub use error::{Error, Result};
