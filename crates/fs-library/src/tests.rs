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
    // Imported into the database on open: the manifest is its view now, at the
    // current version, and the old file is kept beside it.
    assert!(dir.path().join(DATABASE).is_file());
    assert_eq!(
        fs::read_to_string(dir.path().join("manifest.v1.json")).unwrap(),
        v1.to_string()
    );
    let view = read_manifest(&dir.path().join(SWAP_MANIFEST)).unwrap();
    assert_eq!(&view, library.manifest());
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
fn a_library_never_written_leaves_no_file_and_saving_no_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(dir.path().join("lib")).unwrap();
    library.save().unwrap();
    assert!(!dir.path().join("lib").exists(), "nothing to write");

    let lib = dir.path().join("lib");
    fs::create_dir_all(&lib).unwrap();
    let mut entry = with_one_crop(export("faceset_001", None, "faceset_001_top30.fsz"));
    entry["provenance"] =
        serde_json::json!({"kind": "refined", "label": "faceset_001", "created": 1, "updated": 1});
    let v3 = serde_json::json!({"version": 3, "facesets": [entry]});
    fs::write(lib.join(SWAP_MANIFEST), v3.to_string()).unwrap();
    let library = Library::open(&lib).unwrap();
    assert_eq!(library.revision(), 0, "an import is no change of its own");
    let path = lib.join(SWAP_MANIFEST);
    let before: Vec<_> = [SWAP_MANIFEST, DATABASE]
        .iter()
        .map(|f| fs::read(lib.join(f)).unwrap())
        .collect();
    let first = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut again = Library::open(&lib).unwrap();
    again
        .set_calibrated(Calibrated {
            model: None,
            thresholds: Thresholds::default(),
            people: 1,
            faces: 1,
            false_match_rate: 0.01,
            created: 1,
        })
        .unwrap();
    // Taken back before saving: nothing changed, nothing is written.
    again.reload().unwrap();
    again.save().unwrap();
    drop(again);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), first);
    let after: Vec<_> = [SWAP_MANIFEST, DATABASE]
        .iter()
        .map(|f| fs::read(lib.join(f)).unwrap())
        .collect();
    assert!(
        before == after,
        "the manifest and the database are byte-identical"
    );
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
    library
        .set_calibrated(Calibrated {
            model: Some(ours.clone()),
            thresholds: measured,
            people: 12,
            faces: 340,
            false_match_rate: 0.01,
            created: 1,
        })
        .unwrap();
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

/// A decision record of every kind, as `decisions.jsonl` held them before the database.
fn every_kind_of_decision() -> Vec<review::Record> {
    let face = || format!("{}:0", "ab".repeat(32));
    let decisions = [
        Decision::Rename {
            entry: "faceset_001".into(),
            label: "Alice".into(),
        },
        Decision::Reject {
            entry: "faceset_001".into(),
            face: face(),
            reason: RejectReason::NotAFace,
        },
        Decision::Move {
            face: face(),
            from: "faceset_001".into(),
            to: "faceset_002".into(),
        },
        Decision::Split {
            entry: "faceset_002".into(),
            faces: vec![face()],
            label: "Bob".into(),
        },
        Decision::Merge {
            from: "faceset_002".into(),
            into: "faceset_001".into(),
        },
        Decision::Accept {
            face: face(),
            entry: "faceset_001".into(),
        },
        Decision::Lock {
            entry: "faceset_001".into(),
            locked: true,
        },
        Decision::Undo,
    ];
    decisions
        .into_iter()
        .zip(1..)
        .map(|(decision, seq)| review::Record {
            seq,
            at: 1_795_945_200 + seq,
            undoes: matches!(decision, Decision::Undo).then_some(seq - 1),
            decision,
            redoes: None,
            before: std::collections::BTreeMap::from([(
                "faceset_001".to_string(),
                Review {
                    label: Some("before".into()),
                    ..Review::default()
                },
            )]),
            rows_before: std::collections::BTreeMap::new(),
            created: (seq == 4).then(|| "faceset_003".to_string()),
            accepted: None,
        })
        .collect()
}

#[test]
fn libraries_of_versions_2_and_3_with_every_kind_of_decision_import_losslessly_once() {
    for version in [2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = with_one_crop(export("faceset_001", None, "faceset_001_top30.fsz"));
        entry["provenance"] = serde_json::json!({
            "kind": "refined", "label": "faceset_001", "created": 5, "updated": 6
        });
        if version == 3 {
            entry["review"] = serde_json::json!({"label": "Alice", "locked": true,
                "excluded": {"cd:0": "rejected: not a face"}});
        }
        let old = serde_json::json!({
            "version": version,
            "facesets": [entry],
            "thin_eras": [],
            "candidates": [],
        });
        fs::write(dir.path().join(SWAP_MANIFEST), old.to_string()).unwrap();
        let records = every_kind_of_decision();
        let mut log = String::new();
        for r in &records {
            log.push_str(&serde_json::to_string(r).unwrap());
            log.push('\n');
        }
        if version == 3 {
            fs::write(dir.path().join(review::DECISIONS_FILE), &log).unwrap();
        }
        let library = Library::open(dir.path()).unwrap();
        let expected: LibraryManifest = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(library.manifest().facesets, expected.facesets, "v{version}");
        let kept = if version == 3 {
            records.clone()
        } else {
            Vec::new()
        };
        assert_eq!(library.decisions().unwrap().records(), kept.as_slice());
        assert_eq!(
            library.revision(),
            kept.last().map_or(0, |r| r.seq),
            "pages keep the revision they saw"
        );
        assert_eq!(
            library.healed().len(),
            1,
            "the import is said: {:?}",
            library.healed()
        );
        // The old files beside the database, as they were; the views are the same
        // state, the decisions byte for byte.
        assert_eq!(
            fs::read_to_string(dir.path().join(format!("manifest.v{version}.json"))).unwrap(),
            old.to_string()
        );
        let view = read_manifest(&dir.path().join(SWAP_MANIFEST)).unwrap();
        assert_eq!(view.version, VERSION);
        assert_eq!(view.facesets, expected.facesets);
        if version == 3 {
            assert_eq!(
                fs::read_to_string(dir.path().join(review::DECISIONS_FILE)).unwrap(),
                log
            );
            assert_eq!(
                fs::read_to_string(dir.path().join("decisions.v3.jsonl")).unwrap(),
                log
            );
        }
        // Once: opening again imports nothing.
        drop(library);
        let again = Library::open(dir.path()).unwrap();
        assert!(again.healed().is_empty(), "{:?}", again.healed());
        assert_eq!(again.decisions().unwrap().records(), kept.as_slice());
    }
}

#[test]
fn a_database_of_a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA + 1)
            .unwrap();
    }
    let before = fs::read(&path).unwrap();
    let message = Library::open(dir.path()).unwrap_err().to_string();
    assert!(message.contains("library.sqlite"), "{message}");
    assert!(
        message.contains(&format!("schema version {}", SCHEMA + 1)),
        "{message}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn labels_must_make_file_names() {
    assert_eq!(check_label("  Ann Smith ").unwrap(), "Ann Smith");
    for bad in [
        "",
        "   ",
        "a/b",
        "a\\b",
        "tab\there",
        "..",
        &"x".repeat(101),
    ] {
        let why = check_label(bad).unwrap_err();
        assert!(why.len() < 120, "a short message: {why}");
    }
    assert!(
        check_label(&"é".repeat(100)).is_ok(),
        "characters, not bytes"
    );
}
