//! stage → embed → discover from a loopback Immich-shaped server, compared with the
//! local pipeline on the same photos.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use fs_cache::Cache;
use fs_embedder::pipeline::{EmbedOptions, FaceAnalyzer, Source};
use fs_export::swap::SwapOptions;
use fs_identities::discover::{DiscoverOptions, discover};
use fs_identities::gates::RefineOptions;
use fs_immich::mock::{MockAsset, MockImmich};
use fs_library::{Kind, Library, NewFaceset};
use fs_progress::Silent;

const KEY: &str = "sk-test-immich-import";

/// Every fixture as an asset; Immich's box for a labelled face is 200 px, none otherwise.
fn assets() -> Vec<MockAsset> {
    let labels = fs::read_to_string(fs_fixtures::dir().join("labels.csv")).unwrap();
    labels
        .lines()
        .skip(1)
        .map(|l| {
            let (path, identity) = l.split_once(',').unwrap();
            let name = path.trim_start_matches("images/");
            let file = fs_fixtures::dir().join(path);
            let size = image::image_dimensions(&file).unwrap();
            let faces = if identity.is_empty() {
                vec![]
            } else {
                vec![[0.0, 0.0, 200.0, 200.0]]
            };
            MockAsset::image(
                &format!("asset-{name}"),
                &format!("/usr/src/app/upload/library/{name}"),
                fs::read(&file).unwrap(),
                size,
                faces,
            )
        })
        .collect()
}

fn gates() -> DiscoverOptions {
    DiscoverOptions {
        gates: RefineOptions {
            min_faces: 2,
            ..RefineOptions::default()
        },
        ..DiscoverOptions::default()
    }
}

/// Each exported identity as its set of face keys.
fn identities(library: &Path) -> BTreeSet<BTreeSet<String>> {
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(library.join("manifest.json")).unwrap()).unwrap();
    manifest["facesets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["face"]["key"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// `immich_import` for user nic, staging, cache and library under `dir`.
fn import(mock: &MockImmich, dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_immich_import"));
    cmd.args(["--user", "nic", "--min-faces", "2", "--workers", "4"])
        .arg("--staging")
        .arg(dir.join("staging"))
        .arg("--cache")
        .arg(dir.join("immich.fsc"))
        .arg("--swap-out")
        .arg(dir.join("immich_library"))
        .env("IMMICH_URL", mock.url())
        .env("IMMICH_API_KEY", KEY);
    cmd
}

#[test]
fn immich_import_finds_the_identities_the_local_pipeline_finds() {
    let mock = MockImmich::start(assets(), KEY);
    let tmp = tempfile::tempdir().unwrap();
    let out = import(&mock, tmp.path())
        .arg("--log")
        .arg(tmp.path().join("logs/import.log"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("stage: 16 seen, 10 staged"),
        "face photos staged, the copy deduplicated: {text}"
    );
    let log = fs::read_to_string(tmp.path().join("logs/import.log")).unwrap();
    assert!(log.contains("discover:") && !log.contains(KEY));

    // The local pipeline on the same photos, through the same library code.
    let loc = fs_fixtures::locations();
    fs_detect::runtime::init(&loc.runtime).expect("run `cargo xtask setup`");
    let pack = fs_packs::ModelPack::from_dir(loc.models.join("buffalo_s")).unwrap();
    let mut analyzer = FaceAnalyzer::new(&pack, 640, 2).unwrap();
    let mut cache = Cache::open(tmp.path().join("local.fsc")).unwrap();
    fs_embedder::pipeline::embed(
        &[Source::Tree(fs_fixtures::dir().join("images"))],
        &mut cache,
        &mut analyzer,
        &EmbedOptions::default(),
        &Silent,
    )
    .unwrap();
    let local_library = tmp.path().join("local_library");
    let options = SwapOptions::default();
    let mut library = Library::open(&local_library).unwrap();
    let found = discover(&cache, |_| true, &[], &gates());
    let new: Vec<NewFaceset> = found
        .kept()
        .map(|c| NewFaceset {
            faces: c.survivors.clone(),
            kind: Kind::Discovered,
            label: "local".into(),
            sources: Vec::new(),
            params: serde_json::Value::Null,
            marker: "local".into(),
            label_bundles: false,
            thin: false,
            suffix: String::new(),
        })
        .collect();
    library.add(&cache, &new, &options).unwrap();
    library.save().unwrap();

    let (remote, local) = (
        identities(&tmp.path().join("immich_library")),
        identities(&local_library),
    );
    assert!(!local.is_empty());
    assert_eq!(remote, local);

    // A second import stages nothing new and rediscovers nobody.
    let again = import(&mock, tmp.path()).output().unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && text.contains("0 staged") && !text.contains("added "),
        "{text}"
    );
    assert_eq!(identities(&tmp.path().join("immich_library")), remote);
}
