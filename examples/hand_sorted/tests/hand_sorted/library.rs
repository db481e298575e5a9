//! A library grown the way a person grows one, over months and from many sources, on
//! the real fixtures: a first batch through `run`, a hand-sorted import, discovery run
//! twice on a mixed folder, a second batch through `run` (with a person never seen
//! before), an identical re-run, and an `export-swap` refresh. After every step: no
//! faceset lost, renamed or emptied; re-runs change nothing; the cache names its model;
//! and roop-unleashed's detector finds exactly one face in every exported crop.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{copy, sibling};

/// Name → (kind, label, crop count), from the library manifest.
type Listing = BTreeMap<String, (String, String, usize)>;

fn listing(library: &Path) -> Listing {
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(library.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["version"], fs_library::VERSION);
    ["facesets", "thin_eras"]
        .iter()
        .flat_map(|k| manifest[*k].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                (
                    e["provenance"]["kind"].as_str().unwrap().to_string(),
                    e["provenance"]["label"].as_str().unwrap().to_string(),
                    e["faces"].as_array().unwrap().len(),
                ),
            )
        })
        .collect()
}

/// What must hold after every step: every entry of `before` is still there under the
/// same name, kind and label; no entry is empty; every crop is on disk.
fn check_grows(library: &Path, before: &Listing, step: &str) -> Listing {
    let now = listing(library);
    for (name, (kind, label, _)) in before {
        let (k, l, _) = now
            .get(name)
            .unwrap_or_else(|| panic!("{step}: {name} was lost"));
        assert_eq!(
            (k, l),
            (kind, label),
            "{step}: {name} changed owner or label"
        );
    }
    for (name, (_, _, crops)) in &now {
        assert!(*crops > 0, "{step}: {name} is empty");
        let pngs = fs::read_dir(library.join(name))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "png")
            })
            .count();
        assert_eq!(pngs, *crops, "{step}: {name} folder and manifest disagree");
    }
    now
}

#[test]
fn a_library_grown_from_many_sources_never_loses_renames_or_empties_a_faceset() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let src = root.join("photos");
    let out = root.join("out");
    let library = out.join("facesets_swap_ready");
    let manifest = library.join("manifest.json");

    // 1. First batch: four photos of one person and a photo without a face.
    for (name, to) in [
        ("f0001.jpg", "a.jpg"),
        ("f0011.jpg", "b.jpg"),
        ("f0012.jpg", "c.jpg"),
        ("f0015.jpg", "d.jpg"),
        ("f0010.png", "e.png"),
    ] {
        copy(name, &src.join("2024").join(to));
    }
    // The astronaut's best photo has a 91 px face: below export-swap's 100 px default.
    let run = || {
        crate::util::said_ok(
            sibling("face-sets")
                .args(["run", "--min-faces", "1", "--min-face-short", "80"])
                .arg(&src)
                .arg(&out),
        )
    };
    let text = run();
    let first = check_grows(&library, &Listing::new(), "first run");
    assert_eq!(first.len(), 1, "{text}\n{first:?}");
    assert!(first.values().all(|(kind, _, _)| kind == "refined"));
    let inspect = crate::util::said_ok(
        sibling("face-sets")
            .arg("inspect")
            .arg(out.join("cache.fsc")),
    );
    assert!(
        inspect.contains("model       buffalo_s (w600k_mbf.onnx sha256 9cc6e4a75f0e"),
        "{inspect}"
    );

    // 2. A hand-sorted folder, embedded into a cache of its own.
    for name in ["f0002.jpg", "f0007.jpg", "f0008.jpg"] {
        copy(name, &root.join("sorted/biden").join(name));
    }
    let hand_cache = root.join("work/hand.fsc");
    crate::util::said_ok(
        sibling("face-sets")
            .args(["--quiet", "embed"])
            .arg(root.join("sorted"))
            .arg(&hand_cache),
    );
    let text = crate::util::said_ok(
        sibling("hand_sorted")
            .arg("--cache")
            .arg(&hand_cache)
            .arg("--swap-out")
            .arg(&library)
            .arg("--trusted")
            .arg(format!("biden={}", root.join("sorted/biden").display())),
    );
    let imported = check_grows(&library, &first, "hand-sorted import");
    assert_eq!(imported.len(), 2, "{text}");
    let biden = imported
        .iter()
        .find(|(_, (kind, label, _))| kind == "hand-sorted" && label == "biden")
        .map(|(name, _)| name.clone())
        .expect("the hand-sorted identity");

    // 3. Discovery on a mixed folder of known people, twice: nothing new, nothing empty,
    //    and the second run leaves the library byte-identical.
    copy("f0014.jpg", &root.join("mixed/group.jpg"));
    copy("f0016.jpg", &root.join("mixed/other.jpg"));
    crate::util::said_ok(
        sibling("face-sets")
            .args(["--quiet", "embed"])
            .arg(root.join("mixed"))
            .arg(&hand_cache),
    );
    let discover = || {
        crate::util::said_ok(
            sibling("discover")
                .arg("--cache")
                .arg(&hand_cache)
                .arg("--source")
                .arg(root.join("mixed"))
                .arg("--swap-out")
                .arg(&library)
                .args(["--min-faces", "1"]),
        )
    };
    let text = discover();
    assert!(
        text.contains("2 covered by 2 existing identities"),
        "{text}"
    );
    let discovered = check_grows(&library, &imported, "discovery");
    assert_eq!(discovered, imported, "{text}");
    let bytes = fs::read(&manifest).unwrap();
    let text = discover();
    assert_eq!(
        fs::read(&manifest).unwrap(),
        bytes,
        "second discovery: {text}"
    );

    // 4. A second batch: the group photo, and a person never seen before.
    copy("f0014.jpg", &src.join("2025/group.jpg"));
    copy("f0003.png", &src.join("2025/astronaut.png"));
    let text = run();
    let second = check_grows(&library, &discovered, "second run");
    let new: Vec<(&String, &(String, String, usize))> = second
        .iter()
        .filter(|(name, _)| !discovered.contains_key(*name))
        .collect();
    assert_eq!(new.len(), 1, "one new person: {text}\n{second:?}");
    let (new_name, (kind, _, _)) = new[0];
    assert_eq!(kind, "refined");
    let highest = discovered.keys().max().unwrap();
    assert!(new_name > highest, "{new_name} is numbered past {highest}");
    assert_eq!(
        second[&biden], imported[&biden],
        "the hand-sorted identity is not refreshed by run"
    );

    // 5. An identical re-run, then an export-swap refresh: nothing changes.
    let bytes = fs::read(&manifest).unwrap();
    let text = run();
    assert!(text.contains("0 new identities"), "{text}");
    assert_eq!(
        fs::read(&manifest).unwrap(),
        bytes,
        "identical re-run: {text}"
    );
    // The refresh run does, by hand: same cut, candidates from the raw clusters.
    let text = crate::util::said_ok(
        sibling("face-sets")
            .args(["export-swap", "--min-face-short", "80", "--candidates"])
            .arg("--raw-manifest")
            .arg(out.join("raw/manifest.json"))
            .arg(out.join("cache.fsc"))
            .arg(out.join("facesets/refine_manifest.json"))
            .arg(&library),
    );
    check_grows(&library, &second, "export-swap refresh");
    assert_eq!(
        fs::read(&manifest).unwrap(),
        bytes,
        "export-swap refresh: {text}"
    );

    // Every crop holds exactly one face for roop-unleashed's detector.
    fs_detect::runtime::init(&fs_fixtures::locations().runtime).expect("run `cargo xtask setup`");
    let pack = fs_fixtures::locations().default_pack();
    let mut detector = fs_detect::Detector::builder(pack.join("scrfd_500m_bnkps.onnx"))
        .input_size(640)
        .shape_to_image(false)
        .recover_filling_faces(false)
        .build()
        .unwrap();
    let mut crops = 0;
    for name in second.keys() {
        for entry in fs::read_dir(library.join(name)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "png") {
                let image = image::open(&path).unwrap().to_rgb8();
                let found = detector.detect(&image).unwrap();
                assert_eq!(found.len(), 1, "{}", path.display());
                crops += 1;
            }
        }
    }
    assert!(crops >= 5, "{crops} crops");
}
