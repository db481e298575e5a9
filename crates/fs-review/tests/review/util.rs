//! The library of the fixture photos, made by the pipeline in this process, and the
//! review server over it.

use std::path::{Path, PathBuf};

use fs_pipeline::{Models, RunOptions};
use fs_progress::Silent;

/// The installed models, or those this process's variables name.
pub(crate) fn models() -> Models {
    Models::default().at(fs_fixtures::locations())
}

/// `face-sets run --min-faces 2 --no-crop-check PHOTOS OUT`.
pub(crate) fn run_pipeline(photos: &Path, out: &Path) {
    RunOptions::new(photos, out)
        .min_faces(2)
        .crop_check(false)
        .run(&models(), &Silent)
        .unwrap();
}

/// The fixture photos and a `run` of them.
pub(crate) fn library_of_fixtures(root: &Path) -> (PathBuf, PathBuf) {
    let photos = root.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    for entry in std::fs::read_dir(images).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), photos.join(entry.file_name())).unwrap();
    }
    let out = root.join("out");
    run_pipeline(&photos, &out);
    (photos, out)
}

/// What `face-sets review OUT` serves, and its address; thumbnails are kept in
/// OUT/thumbnails. The server stops when dropped.
pub(crate) fn serve(out: &Path) -> (fs_review::Server, String) {
    let wait = std::time::Duration::from_secs(10);
    let inputs = fs_pipeline::review::open(out, None, true, wait, &models(), &Silent).unwrap();
    let server = fs_review::Server::start(fs_review::Config {
        library: inputs.library,
        cache: inputs.cache,
        raw: inputs.raw,
        thumbnails: out.join("thumbnails"),
        port: 0,
        options: inputs.options,
    })
    .unwrap();
    let url = server.url().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    (server, url)
}
