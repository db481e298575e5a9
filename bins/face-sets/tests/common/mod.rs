//! Helpers shared by the tests that run the real `face-sets` binary.
#![allow(dead_code, reason = "each test file uses its own subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary, with no provider chosen from the environment.
pub(crate) fn face_sets() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_face-sets"));
    cmd.env_remove("FACE_SETS_PROVIDER");
    cmd
}

/// The repository's `fixtures/` folder.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Runs `cmd`, failing the test if it panicked.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "panic: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Its stderr, as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
