//! What the tests of the library and of the review page share: the fixture photos'
//! people, HTTP calls to a review server, and a headless browser's flags.

use std::path::Path;

use fs_library::Library;

/// The fixture photos of Barack Obama (`fixtures/labels.csv`).
pub const OBAMA: &[&str] = &[
    "f0001.jpg",
    "f0009.jpg",
    "f0011.jpg",
    "f0012.jpg",
    "f0015.jpg",
];

/// The fixture photos of Joe Biden.
pub const BIDEN: &[&str] = &["f0002.jpg", "f0007.jpg", "f0008.jpg"];

/// The entry holding a face of one of `photos`.
pub fn entry_with(library: &Library, photos: &[&str]) -> String {
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

/// The keys of the faces `entry` exports, best first.
pub fn face_keys(library: &Library, entry: &str) -> Vec<String> {
    library
        .entry(entry)
        .unwrap_or_else(|| panic!("no entry {entry}"))
        .export
        .faces
        .iter()
        .map(|f| f.face.key.clone())
        .collect()
}

/// An HTTP client that returns every status as an answer, not an error.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs a decision to the review server at `base`, with `token` (none when empty)
/// and an `Origin` header when given; the status and the body.
pub fn decide(
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
    let mut response = request
        .send(body.to_string().as_bytes())
        .expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// GETs `url`: the status and the body.
pub fn get(url: &str) -> (u16, Vec<u8>) {
    let mut response = agent().get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_vec().unwrap_or_default(),
    )
}

/// A headless Chromium on this machine (`.ci/run` installs Debian's), failing the test
/// when there is none.
pub fn chromium() -> &'static str {
    crate::chromium()
        .expect("a headless Chromium is needed for this test: apt-get install chromium")
}

/// Chromium's flags for a headless run that reaches nothing but the page, with its
/// profile in `profile` (add `--virtual-time-budget` to dump or shoot a page).
pub fn headless(profile: &Path) -> Vec<String> {
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
