//! Helpers shared by the tests that run the real `face-sets` binary.
#![allow(dead_code, reason = "each test file uses its own subset")]

use std::collections::BTreeMap;
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

/// `file name → identity` from `fixtures/labels.csv` ("" no face, "multi" group photo).
pub(crate) fn labels() -> BTreeMap<String, String> {
    std::fs::read_to_string(fixtures().join("labels.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (p, id) = l.split_once(',').unwrap();
            (p.trim_start_matches("images/").to_string(), id.to_string())
        })
        .collect()
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
