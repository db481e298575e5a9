//! The workflow programs (`hand_sorted`, `discover`, `era_split`) and `face-sets` on one
//! library: one test target, the helpers in [`util`].

mod library;
mod util;
mod workflows;
