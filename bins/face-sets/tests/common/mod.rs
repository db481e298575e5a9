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
    fs_fixtures::labels(&fixtures()).unwrap()
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

/// A headless Chromium on this machine (`.ci/run` installs Debian's), failing the test
/// when there is none.
pub(crate) fn chromium() -> &'static str {
    fs_fixtures::chromium()
        .expect("a headless Chromium is needed for this test: apt-get install chromium")
}

/// Chromium's flags for a headless run that reaches nothing but the page, with its
/// profile in `profile` (add `--virtual-time-budget` to dump or shoot a page).
pub(crate) fn headless(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .into_iter()
    .map(str::to_string)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}
