//! `face-sets calibrate` on the fixtures' labelled people, and the library keeping what
//! it measured.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

// Without `--quiet`: the tests read the notices that say which distances are used.
use crate::util::{face_sets as bin, fixtures, run, stderr};
use serde_json::Value;

/// One folder per labelled person of `fixtures/labels.csv` under `dir`, and their
/// `LABEL=DIR` arguments.
fn labelled_folders(dir: &Path) -> Vec<String> {
    let labels = fs::read_to_string(fixtures().join("labels.csv")).unwrap();
    let mut people = std::collections::BTreeSet::new();
    for line in labels.lines().skip(1) {
        let (path, person) = line.trim_end().split_once(',').unwrap();
        if person.is_empty() || person == "multi" {
            continue;
        }
        let folder = dir.join(person);
        fs::create_dir_all(&folder).unwrap();
        let source = fixtures().join(path);
        fs::copy(&source, folder.join(source.file_name().unwrap())).unwrap();
        people.insert(person.to_string());
    }
    people
        .into_iter()
        .map(|p| format!("{p}={}", dir.join(&p).display()))
        .collect()
}

fn embed(photos: &Path, cache: &Path) {
    let out = run(bin().arg("embed").arg(photos).arg(cache));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn known_people_get_recommendations_that_separate_them_with_a_warning_that_they_are_few() {
    let tmp = tempfile::tempdir().unwrap();
    let people = tmp.path().join("people");
    let folders = labelled_folders(&people);
    assert_eq!(folders.len(), 3);
    let cache = tmp.path().join("people.fsc");
    embed(&people, &cache);

    let out = run(bin()
        .args(["calibrate", "--json"])
        .arg(&cache)
        .args(&folders));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Ten labelled files, one a byte-identical copy: nine photos, one face each.
    assert_eq!(report["people"], 3);
    assert_eq!(report["faces"], 9);
    assert!(
        report["warning"]
            .as_str()
            .is_some_and(|w| w.contains("too few")),
        "{report:#}"
    );
    assert!(
        stderr(&out).contains("too few to trust"),
        "{}",
        stderr(&out)
    );
    assert!(
        report["current_from"]
            .as_str()
            .unwrap()
            .contains("buffalo_s"),
        "{report:#}"
    );

    // The recommended clustering separates the three people exactly.
    let cluster = report["recommended"]["cluster"].as_f64().unwrap();
    let at = report["measurement"]["clustering"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["threshold"].as_f64().unwrap() - cluster).abs() < 1e-6)
        .expect("the recommendation is a measured distance");
    assert_eq!(at["precision"].as_f64(), Some(1.0), "{at}");
    assert_eq!(at["f"].as_f64(), Some(1.0), "{at}");
    // No face has another person's centroid within a recommended face-to-centroid gate,
    // and a tight gate is never looser than its loose one.
    let points = report["measurement"]["face_to_centroid"]
        .as_array()
        .unwrap();
    let r = &report["recommended"];
    for family in ["outlier", "export_outlier", "join", "known", "candidate"] {
        let t = r[family].as_f64().unwrap();
        let other = points
            .iter()
            .filter(|p| p["threshold"].as_f64().unwrap() <= t + 1e-6)
            .map(|p| p["other"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!(other <= 0.01, "{family} {t}: {other}");
    }
    assert!(r["known"].as_f64() <= r["join"].as_f64());
    assert!(r["export_outlier"].as_f64() <= r["outlier"].as_f64());

    // The table names every family.
    let out = run(bin().arg("calibrate").arg(&cache).args(&folders));
    let table = String::from_utf8_lossy(&out.stdout);
    for family in [
        "cluster",
        "merge",
        "outlier",
        "export-outlier",
        "join",
        "known",
        "candidate",
    ] {
        assert!(table.contains(family), "{table}");
    }
}

#[test]
fn a_labels_file_measures_what_the_same_people_in_folders_do() {
    let tmp = tempfile::tempdir().unwrap();
    let people = tmp.path().join("people");
    let folders = labelled_folders(&people);
    let cache = tmp.path().join("people.fsc");
    embed(&people, &cache);
    // The same photos, as LFW lays them out: one file listing `path,identity`, paths
    // relative to it, and a row with no identity that is left out.
    let mut csv = String::from("path,identity\n");
    for folder in &folders {
        let (person, dir) = folder.split_once('=').unwrap();
        for photo in fs::read_dir(dir).unwrap() {
            let name = photo.unwrap().file_name();
            writeln!(csv, "{person}/{},{person}", name.to_string_lossy()).unwrap();
        }
    }
    csv += "nobody/none.jpg,\n";
    let labels = people.join("labels.csv");
    fs::write(&labels, csv).unwrap();
    let measure = |args: &[std::ffi::OsString]| -> Value {
        let out = run(bin().args(["calibrate", "--json"]).arg(&cache).args(args));
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let by_file = measure(&["--labels".into(), labels.clone().into_os_string()]);
    let by_folder = measure(&folders.iter().map(Into::into).collect::<Vec<_>>());
    assert_eq!(by_file["people"], 3, "{by_file:#}");
    for field in ["people", "faces", "recommended"] {
        assert_eq!(by_file[field], by_folder[field], "{field}");
    }

    // Folders and a labels file together are refused.
    let out = run(bin()
        .arg("calibrate")
        .arg(&cache)
        .arg(&folders[0])
        .arg("--labels")
        .arg(&labels));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn one_person_missing_folders_and_photos_outside_the_cache_are_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let people = tmp.path().join("people");
    let folders = labelled_folders(&people);
    let cache = tmp.path().join("people.fsc");
    embed(&people, &cache);

    let out = run(bin().arg("calibrate").arg(&cache).arg(&folders[0]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at least two people"),
        "{}",
        stderr(&out)
    );

    let missing = format!("nobody={}", tmp.path().join("nobody").display());
    let out = run(bin()
        .arg("calibrate")
        .arg(&cache)
        .arg(&folders[0])
        .arg(&missing));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nobody="), "{}", stderr(&out));

    // A photo added to a folder after embedding is counted, with the command to run.
    let (_, obama) = folders[0].split_once('=').unwrap();
    fs::copy(
        fixtures().join("images/f0012.jpg"),
        Path::new(obama).join("new.jpg"),
    )
    .unwrap();
    let out = run(bin().arg("calibrate").arg(&cache).args(&folders));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 photos under the folders are not in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn written_calibration_needs_force_when_few_and_then_steers_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let people = tmp.path().join("people");
    let folders = labelled_folders(&people);
    let out_dir = tmp.path().join("out");
    let first = run(bin()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(&people)
        .arg(&out_dir));
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("the buffalo_s defaults"),
        "{}",
        stderr(&first)
    );
    let library = out_dir.join("facesets_swap_ready");
    let manifest_path = library.join("manifest.json");
    let before = fs::read(&manifest_path).unwrap();

    let cache = out_dir.join("cache.fsc");
    let refused = run(bin()
        .arg("calibrate")
        .arg(&cache)
        .args(&folders)
        .arg("--write")
        .arg(&library));
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(fs::read(&manifest_path).unwrap(), before, "nothing written");

    let kept = run(bin()
        .arg("calibrate")
        .arg(&cache)
        .args(&folders)
        .arg("--write")
        .arg(&library)
        .arg("--force"));
    assert!(kept.status.success(), "{}", stderr(&kept));
    let manifest: Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["calibrated"]["people"], 3);
    assert_eq!(manifest["calibrated"]["model"]["pack"], "buffalo_s");
    let entries_before = manifest["facesets"].as_array().unwrap().len();
    assert!(entries_before > 0, "{manifest:#}");

    let second = run(bin()
        .args(["run", "--min-faces", "2", "--no-crop-check"])
        .arg(&people)
        .arg(&out_dir));
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("calibrated for"),
        "{}",
        stderr(&second)
    );
    let manifest: Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["calibrated"]["people"], 3, "the run keeps it");
    assert_eq!(
        manifest["facesets"].as_array().unwrap().len(),
        entries_before
    );
    for entry in manifest["facesets"].as_array().unwrap() {
        assert_eq!(
            entry["provenance"]["distances"]["defaults"]["from"], "calibrated",
            "{entry:#}"
        );
    }
}
