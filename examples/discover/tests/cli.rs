//! The program's command line: help that explains the workflow, clear errors.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_discover"))
}

#[test]
fn help_explains_and_bad_input_is_refused() {
    let help = bin().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--cache") || text.contains("split"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.fsc");
    let out = bin()
        .args(["--source", "/nonexistent"])
        .arg("--cache")
        .arg(&missing)
        .arg("--swap-out")
        .arg(tmp.path().join("swap"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.fsc"), "the error names the cache: {err}");
    assert!(!tmp.path().join("swap").exists(), "nothing written");
}
