use super::*;

fn export(name: &str, label: Option<&str>, top_bundle: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "faces": [],
        "dropped": [],
        "top_bundle": top_bundle,
        "all_bundle": "x_all.fsz",
        "mean_quality": 0.5,
        "label": label,
    })
}

fn with_one_crop(mut v: serde_json::Value) -> serde_json::Value {
    v["faces"] = serde_json::json!([{
        "rank": 0,
        "png": "abc_0.png",
        "face": {
            "key": format!("{}:0", "ab".repeat(32)),
            "path": "/p/a.jpg",
            "paths": ["/p/a.jpg"],
            "bbox": [0.0, 0.0, 100.0, 100.0],
            "det_score": 0.9,
            "sharpness": null
        },
        "quality": {"frontality": 0.5, "det_score": 0.9, "symmetry": 0.5, "size": 0.5, "sharpness": 0.5, "composite": 0.5}
    }]);
    v
}

#[test]
fn unknown_and_newer_versions_are_refused_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SWAP_MANIFEST);
    for text in [r#"{"version": 9, "facesets": []}"#, r#"{"facesets": []}"#] {
        fs::write(&path, text).unwrap();
        let err = Library::open(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::UnsupportedVersion { .. }), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
    fs::write(&path, "{ not json").unwrap();
    assert!(matches!(
        Library::open(dir.path()),
        Err(Error::Manifest { .. })
    ));
}

#[test]
fn a_version_1_manifest_loads_with_each_entry_given_a_kind() {
    let dir = tempfile::tempdir().unwrap();
    let face: FacesetExport = serde_json::from_value(with_one_crop(export(
        "faceset_001",
        None,
        "faceset_001_top30.fsz",
    )))
    .unwrap();
    let v1 = serde_json::json!({
        "version": 1,
        "cache": "/w/cache.fsc",
        "params": {"top_n": 30},
        "facesets": [
            serde_json::to_value(&face).unwrap(),
            with_one_crop(export("faceset_002", Some("alice"), "alice_top30.fsz")),
            with_one_crop(export("faceset_003", Some("mixed"), "faceset_003_top30.fsz")),
            with_one_crop(export("faceset_004", Some("immich-nic"), "faceset_004_top30.fsz")),
            with_one_crop(export("faceset_005_2001-2004", Some("faceset_002 era 2001-2004"), "faceset_005_2001-2004_top30.fsz")),
            export("faceset_006", Some("empty"), "faceset_006_top30.fsz"),
        ],
        "thin_eras": [with_one_crop(export("faceset_007_2010", Some("faceset_002 era 2010"), "faceset_007_2010_top30.fsz"))],
        "errors": [["/p/bad.jpg", "truncated"]],
    });
    fs::write(dir.path().join(SWAP_MANIFEST), v1.to_string()).unwrap();
    let library = Library::open(dir.path()).unwrap();
    let kinds: Vec<(String, Kind)> = library
        .entries()
        .map(|e| (e.export.name.clone(), e.provenance.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("faceset_001".to_string(), Kind::Refined),
            ("faceset_002".to_string(), Kind::HandSorted),
            ("faceset_003".to_string(), Kind::Discovered),
            ("faceset_004".to_string(), Kind::Immich),
            ("faceset_005_2001-2004".to_string(), Kind::Era),
            ("faceset_007_2010".to_string(), Kind::Era),
        ],
        "the empty faceset_006 is not carried over"
    );
    assert_eq!(
        library.entry("faceset_001").unwrap().provenance.label,
        "faceset_001"
    );
    assert_eq!(library.entry("faceset_001").unwrap().errors.len(), 1);
    // Its number stays taken.
    fs::create_dir(dir.path().join("faceset_006")).unwrap();
    assert_eq!(library.next_number(), 8);
    // Saving writes version 2, which loads to the same manifest.
    library.save().unwrap();
    let again = Library::open(dir.path()).unwrap();
    assert_eq!(again.manifest(), library.manifest());
    assert_eq!(again.manifest().version, VERSION);
}

#[test]
fn next_number_counts_folders_on_disk_and_under_thin() {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open(dir.path()).unwrap();
    assert_eq!(library.next_number(), 1);
    fs::create_dir_all(dir.path().join(THIN).join("faceset_012_2001")).unwrap();
    assert_eq!(library.next_number(), 13);
    fs::create_dir_all(dir.path().join("faceset_020")).unwrap();
    assert_eq!(library.next_number(), 21);
    assert!(!library.is_free("faceset_020"));
    assert!(library.is_free("faceset_019"));
}

#[test]
fn saving_the_same_manifest_leaves_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let library = Library::open(dir.path().join("lib")).unwrap();
    library.save().unwrap();
    let path = dir.path().join("lib").join(SWAP_MANIFEST);
    let first = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    Library::open(dir.path().join("lib"))
        .unwrap()
        .save()
        .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), first);
}

#[test]
fn names_and_labels() {
    assert_eq!(leading_number("faceset_012"), Some(12));
    assert_eq!(leading_number("faceset_012_2005-2010"), Some(12));
    assert_eq!(leading_number("_thin"), None);
    assert_eq!(safe_label("nic's photos/2020"), "nic_s_photos_2020");
}

fn model(recognizer_sha256: &str) -> ModelId {
    ModelId {
        pack: "buffalo_s".into(),
        recognizer: "w600k_mbf.onnx".into(),
        recognizer_sha256: recognizer_sha256.into(),
        embedding_size: 512,
        detector: "scrfd_500m_bnkps.onnx".into(),
        detector_sha256: "d".into(),
    }
}

#[test]
fn calibrated_distances_are_kept_and_apply_only_to_their_model() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = fs_packs::thresholds::PACK_THRESHOLDS[0]
        .recognizer_sha256
        .unwrap();
    let ours = model(pinned);
    let mut library = Library::open(dir.path()).unwrap();
    // Before calibration: the pack's table, found by the recogniser's checksum.
    assert_eq!(
        library.distances_for(Some(&ours)),
        (
            fs_packs::thresholds::BUFFALO_S,
            Origin::Pack("buffalo_s".into())
        )
    );
    let measured = Thresholds {
        cluster: 0.61,
        ..fs_packs::thresholds::BUFFALO_S
    };
    library.set_calibrated(Calibrated {
        model: Some(ours.clone()),
        thresholds: measured,
        people: 12,
        faces: 340,
        false_match_rate: 0.01,
        created: 1,
    });
    library.save().unwrap();
    let reopened = Library::open(dir.path()).unwrap();
    let (values, origin) = reopened.distances_for(Some(&ours));
    assert_eq!(values, measured);
    assert!(matches!(origin, Origin::Calibrated(_)), "{origin:?}");
    // Another recogniser's embeddings get their own pack's values, never these.
    let (values, origin) = reopened.distances_for(Some(&model("other")));
    assert_eq!(values, fs_packs::thresholds::REFERENCE);
    assert!(matches!(origin, Origin::Unknown(_)), "{origin:?}");
}
