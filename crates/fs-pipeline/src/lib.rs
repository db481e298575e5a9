//! face-sets' stages as functions: what the `face-sets` binary, the workflow examples
//! and other Rust tools call, so that each does exactly what the others do.
//!
//! - [`run`]: every stage, from a photo folder to a grown library and its report, in
//!   the [`RunLayout`].
//! - [`stages`]: embed, enrich, export to the library and the report, one at a time;
//!   [`identities`]: cluster, refine, extend and dedup from a cache file.
//! - [`models`]: which runtime, pack and distances a stage uses (the one place that
//!   decides); [`calibrate`]: distances measured on labelled folders.
//! - [`inspect`], [`review`]: what a cache holds; what the review page serves.
//!
//! Every stage reports through [`fs_progress::Progress`] and returns a summary that
//! prints as the lines a person reads (`Display`) and serialises as one JSON object.
//!
//! ```no_run
//! use fs_pipeline::{Models, RunOptions};
//! let summary = RunOptions::new("photos", "sorted").run(&Models::default(), &fs_progress::Silent)?;
//! println!("{summary}");
//! # Ok::<(), fs_pipeline::Error>(())
//! ```
#![warn(missing_docs)]

pub mod calibrate;
mod error;
pub mod grow;
pub mod identities;
pub mod inspect;
pub mod layout;
pub mod models;
pub mod review;
pub mod run;
pub mod stages;

pub use error::{Error, Result};
pub use layout::RunLayout;
pub use models::{Models, Overrides};
pub use run::{RunOptions, RunSummary};
