//! The `yunet_sface` pack end to end through the real binary: every stage of `run`,
//! its own distances, enrich without landmark models, and packs that never mix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::util::{face_sets, fixtures, labels, run, stderr};
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn file_name(v: &Value) -> String {
    v.as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

#[test]
fn run_with_the_free_pack_sorts_people_exports_them_and_keeps_to_its_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    fs::create_dir_all(&photos).unwrap();
    for entry in fs::read_dir(fixtures().join("images")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), photos.join(entry.file_name())).unwrap();
    }
    let out_dir = tmp.path().join("out");
    let out = run(face_sets()
        .args(["run", "--models", "yunet_sface", "--min-faces", "2"])
        .arg(&photos)
        .arg(&out_dir));
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("faces by yunet_sface (face_recognition_sface_2021dec_int8bq_ortfix.onnx"),
        "{text}"
    );
    assert!(
        text.contains("distances: cluster 0.51, merge 0.35")
            && text.contains("(the yunet_sface defaults)"),
        "{text}"
    );
    assert!(
        text.contains("the yunet_sface pack has no landmark models"),
        "{text}"
    );

    // Clustering: every labelled person in exactly one cluster, no cluster mixing two.
    let labels = labels();
    let raw = json(&out_dir.join("raw/manifest.json"));
    let mut home: BTreeMap<String, String> = BTreeMap::new();
    for cluster in raw["clusters"].as_array().unwrap() {
        let name = cluster["name"].as_str().unwrap();
        let people: BTreeSet<&str> = cluster["faces"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["paths"].as_array().unwrap().iter().map(file_name))
            .map(|f| labels[&f].as_str())
            .filter(|p| *p != "multi")
            .collect();
        assert_eq!(people.len(), 1, "{name} mixes {people:?}");
        let person = people.into_iter().next().unwrap().to_string();
        assert!(
            home.insert(person.clone(), name.into()).is_none(),
            "{person} split"
        );
    }
    let people: BTreeSet<&str> = labels
        .values()
        .map(String::as_str)
        .filter(|p| !p.is_empty() && *p != "multi")
        .collect();
    assert_eq!(
        home.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        people
    );

    // Export: each faceset has single-face PNG crops and both bundles.
    let ready = out_dir.join("facesets_swap_ready");
    let manifest = json(&ready.join("manifest.json"));
    let facesets: Vec<String> = fs::read_dir(&ready)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("faceset_"))
        .collect();
    assert!(facesets.len() >= 2, "{facesets:?} {manifest}");
    for faceset in &facesets {
        let dir = ready.join(faceset);
        let pngs = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("png".as_ref()))
            .count();
        assert!(pngs >= 1, "{faceset} has no crops");
        assert!(dir.join(format!("{faceset}_all.fsz")).is_file());
    }

    // Enrich gave every face a pose from its keypoints and no 106-point landmarks.
    let cache = out_dir.join("cache.fsc");
    let listing = run(face_sets().args(["inspect", "--json"]).arg(&cache));
    let mut faces = 0;
    for line in String::from_utf8(listing.stdout).unwrap().lines() {
        let image: Value = serde_json::from_str(line).unwrap();
        for face in image["faces"].as_array().unwrap() {
            assert_eq!(face["embedding"].as_array().unwrap().len(), 128);
            assert_eq!(face["pose"]["source"], "MeanFace5", "{face}");
            assert!(face["landmarks_2d_106"].is_null());
            faces += 1;
        }
    }
    assert_eq!(faces, 11, "faces found by YuNet in the fixtures");

    // A re-run keeps to the cache's pack without being told, and changes nothing.
    let library = fs::read(ready.join("manifest.json")).unwrap();
    let out = run(face_sets().arg("run").arg(&photos).arg(&out_dir));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the yunet_sface defaults"));
    assert_eq!(fs::read(ready.join("manifest.json")).unwrap(), library);

    // Another pack on the same output is refused, plainly, and nothing is touched.
    let cache_bytes = fs::read(&cache).unwrap();
    let out = run(face_sets()
        .args(["run", "--models", "buffalo_s"])
        .arg(&photos)
        .arg(&out_dir));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be compared") && stderr(&out).contains("yunet_sface"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&cache).unwrap(), cache_bytes);
    assert_eq!(fs::read(ready.join("manifest.json")).unwrap(), library);
}
