//! Helpers shared by the tests that run the real `face-sets` binary.
#![allow(dead_code, reason = "each test file uses its own subset")]

use std::collections::BTreeMap;
use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use fs_library::Library;

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

// The library of the fixture photos, and the review server over it.

pub(crate) fn run_pipeline(photos: &Path, out: &Path) {
    let out = run(face_sets()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(photos)
        .arg(out));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The entry holding a face of one of `photos`.
pub(crate) fn entry_with(library: &Library, photos: &[&str]) -> String {
    library
        .entries()
        .find(|e| {
            e.review.merged_into.is_none()
                && e.export
                    .faces
                    .iter()
                    .any(|f| photos.iter().any(|p| f.face.path.ends_with(p)))
        })
        .unwrap_or_else(|| panic!("no entry holds {photos:?}"))
        .export
        .name
        .clone()
}

pub(crate) const OBAMA: &[&str] = &[
    "f0001.jpg",
    "f0009.jpg",
    "f0011.jpg",
    "f0012.jpg",
    "f0015.jpg",
];
pub(crate) const BIDEN: &[&str] = &["f0002.jpg", "f0007.jpg", "f0008.jpg"];

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

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub(crate) fn decide(
    base: &str,
    token: &str,
    origin: Option<&str>,
    body: &serde_json::Value,
) -> (u16, String) {
    let mut request = agent()
        .post(format!("{base}/api/decide"))
        .header("content-type", "application/json");
    if !token.is_empty() {
        request = request.header("x-review-token", token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let mut response = request.send(body.to_string().as_bytes()).unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub(crate) fn get(url: &str) -> (u16, Vec<u8>) {
    let mut response = agent().get(url).call().unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_vec().unwrap_or_default(),
    )
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

/// The keys of the faces `entry` exports, best first.
pub(crate) fn face_keys(library: &Library, entry: &str) -> Vec<String> {
    library
        .entry(entry)
        .unwrap()
        .export
        .faces
        .iter()
        .map(|f| f.face.key.clone())
        .collect()
}
