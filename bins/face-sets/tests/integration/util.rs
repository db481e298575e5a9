//! Helpers shared by the tests that run the real `face-sets` binary.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary, with no provider chosen from the environment.
pub(crate) fn face_sets() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_face-sets"));
    cmd.env_remove("FACE_SETS_PROVIDER");
    cmd
}

/// The binary with `--quiet` (no bars, no notes) and no provider chosen from the
/// environment.
pub(crate) fn bin() -> Command {
    let mut cmd = face_sets();
    cmd.arg("--quiet");
    cmd
}

/// Runs `cmd`, failing the test unless it succeeds.
pub(crate) fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", stderr(&out));
    out
}

pub(crate) use fs_fixtures::{dir as fixtures, images};

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

// The library of the fixture photos, and the review server over it.

pub(crate) fn run_pipeline(photos: &Path, out: &Path) {
    let out = run(face_sets()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(photos)
        .arg(out));
    assert!(out.status.success(), "{}", stderr(&out));
}

pub(crate) use fs_fixtures::review::{
    BIDEN, OBAMA, chromium, decide, entry_with, face_keys, get, headless,
};

/// The fixture photos and a `run` of them.
pub(crate) fn library_of_fixtures(root: &Path) -> (PathBuf, PathBuf) {
    let photos = root.join("photos");
    fs::create_dir_all(&photos).unwrap();
    for entry in fs::read_dir(fixtures().join("images")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), photos.join(entry.file_name())).unwrap();
    }
    let out = root.join("out");
    run_pipeline(&photos, &out);
    (photos, out)
}

/// `face-sets review OUT --no-open`, and the address it prints; thumbnails are kept
/// in OUT/thumbnails.
pub(crate) fn serve(out: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_face-sets"))
        .args(["review", "--no-open", "--port", "0", "--thumbnails"])
        .arg(out.join("thumbnails"))
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    (child, line.trim().to_string())
}

pub(crate) struct Stop(pub(crate) Child);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `run` of the fixture photos: where they are, the run's output, its library and
/// its cache. Bind `_tmp` when destructuring (`..` would drop it, and the folder with it).
pub(crate) struct Fixture {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) photos: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) cache: fs_cache::Cache,
}

pub(crate) fn fixture_library() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, out) = library_of_fixtures(tmp.path());
    Fixture {
        dir: out.join("facesets_swap_ready"),
        cache: fs_cache::Cache::open_read_only(out.join("cache.fsc")).unwrap(),
        _tmp: tmp,
        photos,
        out,
    }
}
