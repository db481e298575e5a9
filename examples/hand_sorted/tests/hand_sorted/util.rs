//! What the workflow tests share: the workspace's binaries, and the fixture photos.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// A workspace binary beside this test's (`cargo test --workspace` builds every
/// package's binaries before running any test).
pub(crate) fn sibling(bin: &str) -> Command {
    if bin == env!("CARGO_PKG_NAME") {
        return Command::new(env!("CARGO_BIN_EXE_hand_sorted"));
    }
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join(bin);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p {bin}`)",
        path.display()
    );
    Command::new(path)
}

/// Runs `cmd`, failing the test unless it succeeds.
pub(crate) fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("program runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`ok`], and what it printed (stdout, then stderr).
pub(crate) fn said_ok(cmd: &mut Command) -> String {
    let out = ok(cmd);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies the fixture photo `name` to `to`, making its folder.
pub(crate) fn copy(name: &str, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(fs_fixtures::images().join(name), to).unwrap();
}
