//! The embedder on the real fixtures with the real models: detection, and parity with
//! the reference implementations (InsightFace, OpenCV). One test target; the helpers
//! are in [`util`].
#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "tests print and compare small counts and pixel sizes"
)]

mod detection;
mod parity;
mod parity_yunet_sface;
mod util;
