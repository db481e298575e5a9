//! The `face-sets` binary on real files with the real models: one test target, its
//! modules by command, the helpers in [`util`].
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_cmp,
    clippy::needless_range_loop,
    reason = "tests compute counts and compare values they copied"
)]

mod calibrate;
mod camera_size;
mod cli;
mod docs;
mod export;
mod formats;
mod identities;
mod immich;
mod library;
mod provider;
mod util;
mod yunet_sface;
