//! cluster, refine, extend and dedup on the real fixture photos with the real models.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::util::{bin, fixtures, labels, ok};
use serde_json::Value;

/// Copies the named fixtures (all when `None`) into `dir`.
fn photos(dir: &Path, only: Option<&[&str]>) {
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(fixtures().join("images")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if only.is_none_or(|o| o.contains(&name.as_str())) {
            fs::copy(entry.path(), dir.join(&name)).unwrap();
        }
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn file_name(p: &Value) -> String {
    p.as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// Cluster name → file names of the photos of its faces (every path, aliases included).
fn members(manifest: &Value) -> BTreeMap<String, BTreeSet<String>> {
    manifest["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let files = c["faces"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["paths"].as_array().unwrap().iter().map(file_name))
                .collect();
            (c["name"].as_str().unwrap().to_string(), files)
        })
        .collect()
}

fn folder(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.rsplit("__").next().unwrap().to_string()
            })
            .collect()
        })
        .unwrap_or_default()
}

#[test]
fn cluster_groups_people_and_never_mixes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src, None);
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache));
    let out = tmp.path().join("raw");
    ok(bin().arg("cluster").arg(&cache).arg(&out));

    let labels = labels();
    let manifest = json(&out.join("manifest.json"));
    let clusters = members(&manifest);
    // Every person's photos in exactly one cluster; no cluster with two people.
    let mut home: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, files) in &clusters {
        let people: BTreeSet<&str> = files
            .iter()
            .map(|f| labels[f].as_str())
            .filter(|p| *p != "multi")
            .collect();
        assert_eq!(people.len(), 1, "{name} mixes {people:?}");
        let person = people.into_iter().next().unwrap();
        assert!(
            home.insert(person, name).is_none(),
            "{person} split across clusters"
        );
        // The folder holds exactly the manifest's photos.
        assert_eq!(folder(&out.join(name)), *files, "{name}");
    }
    for (file, person) in &labels {
        match person.as_str() {
            "" => assert!(
                folder(&out.join("_noface")).contains(file),
                "{file} not in _noface"
            ),
            "multi" => {
                // The group photo is in both people's folders.
                assert!(clusters[home["Barack_Obama"]].contains(file));
                assert!(clusters[home["Joe_Biden"]].contains(file));
            }
            p => assert!(clusters[home[p]].contains(file), "{file} not with {p}"),
        }
    }
    // Aliases are materialised: f0009 and f0012 are the same bytes, f0004 and f0005 too.
    assert!(
        clusters[home["Barack_Obama"]]
            .is_superset(&["f0009.jpg".into(), "f0012.jpg".into()].into())
    );
    assert!(folder(&out.join("_noface")).contains("f0005.png"));
    assert_eq!(manifest["clusters"][0]["name"], "person_001");

    // Same command again: a no-op. Other parameters into the same OUT: refused.
    let again = ok(bin().arg("cluster").arg(&cache).arg(&out));
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 files placed"));
    let clash = bin()
        .args(["cluster", "--threshold", "0.3"])
        .arg(&cache)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(clash.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&clash.stderr).contains("different result"));
    assert_eq!(
        json(&out.join("manifest.json")),
        manifest,
        "refused run left the result alone"
    );
    // Either candidate graph, chosen by hand, gives these same clusters.
    for graph in ["exact", "approximate"] {
        let other = tmp.path().join(format!("raw-{graph}"));
        ok(bin()
            .args(["cluster", "--graph", graph])
            .arg(&cache)
            .arg(&other));
        assert_eq!(
            members(&json(&other.join("manifest.json"))),
            clusters,
            "--graph {graph}"
        );
    }
    let bad = bin()
        .args(["cluster", "--graph", "fastest"])
        .arg(&cache)
        .arg(tmp.path().join("never"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--graph"));
    // Sources untouched.
    for entry in fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            fs::read(entry.path()).unwrap(),
            fs::read(fixtures().join("images").join(entry.file_name())).unwrap()
        );
    }
}

#[test]
fn refine_keeps_gated_single_identity_facesets() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src, None);
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache));
    let out = tmp.path().join("facesets");
    ok(bin()
        .args(["refine", "--min-faces", "3"])
        .arg(&cache)
        .arg(&out));
    let manifest = json(&out.join("refine_manifest.json"));
    let labels = labels();
    let facesets = manifest["facesets"].as_array().unwrap();
    assert_eq!(
        facesets.len(),
        2,
        "Obama and Biden have 3+ photos; Eileen Collins only 2"
    );
    for f in facesets {
        let people: BTreeSet<&str> = f["faces"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|face| face["paths"].as_array().unwrap())
            .map(|p| labels[&file_name(p)].as_str())
            .filter(|p| *p != "multi")
            .collect();
        assert_eq!(people.len(), 1, "{}: {people:?}", f["name"]);
        for face in f["faces"].as_array().unwrap() {
            let b = face["bbox"].as_array().unwrap();
            let short = (b[2].as_f64().unwrap() - b[0].as_f64().unwrap())
                .min(b[3].as_f64().unwrap() - b[1].as_f64().unwrap());
            assert!(short >= 90.0 && face["det_score"].as_f64().unwrap() >= 0.6);
        }
    }
    // Raising the size floor past every faceset leaves none.
    let none = tmp.path().join("none");
    ok(bin()
        .args(["refine", "--min-faces", "50"])
        .arg(&cache)
        .arg(&none));
    assert!(
        json(&none.join("refine_manifest.json"))["facesets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn extend_keeps_numbers_and_folds_new_photos_in() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    // Half the photos: two of Obama, two of Biden, the astronaut twice, a cat.
    photos(
        &first,
        Some(&[
            "f0012.jpg",
            "f0011.jpg",
            "f0007.jpg",
            "f0008.jpg",
            "f0003.png",
            "f0013.jpg",
            "f0004.png",
        ]),
    );
    photos(
        &second,
        Some(&[
            "f0001.jpg",
            "f0015.jpg",
            "f0002.jpg",
            "f0014.jpg",
            "f0016.jpg",
            "f0005.png",
            "f0009.jpg",
        ]),
    );
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&first).arg(&cache));
    let raw = tmp.path().join("raw");
    let refined = tmp.path().join("refined");
    ok(bin().arg("cluster").arg(&cache).arg(&raw));
    ok(bin()
        .args(["refine", "--min-faces", "2"])
        .arg(&cache)
        .arg(&refined));
    let before = members(&json(&raw.join("manifest.json")));
    let refine_before = json(&refined.join("refine_manifest.json"));

    ok(bin().arg("embed").arg(&second).arg(&cache));
    let out = ok(bin()
        .arg("extend")
        .arg(&cache)
        .arg(&raw)
        .arg("--refine-out")
        .arg(&refined));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let after = members(&json(&raw.join("manifest.json")));
    let labels = labels();
    for (name, files) in &before {
        assert!(after[name].is_superset(files), "{name} lost members");
        let person: BTreeSet<&str> = files.iter().map(|f| labels[f].as_str()).collect();
        let grown: BTreeSet<&str> = after[name]
            .iter()
            .map(|f| labels[f].as_str())
            .filter(|p| *p != "multi")
            .collect();
        assert_eq!(person, grown, "{name} took in someone else");
    }
    let obama = before
        .iter()
        .find(|(_, f)| f.contains("f0012.jpg"))
        .unwrap()
        .0;
    let biden = before
        .iter()
        .find(|(_, f)| f.contains("f0007.jpg"))
        .unwrap()
        .0;
    for f in ["f0001.jpg", "f0015.jpg", "f0014.jpg", "f0009.jpg"] {
        assert!(after[obama].contains(f), "{f} did not join {obama}");
    }
    for f in ["f0002.jpg", "f0014.jpg"] {
        assert!(after[biden].contains(f), "{f} did not join {biden}");
    }
    assert!(
        folder(&raw.join(obama)).contains("f0015.jpg"),
        "new photo materialised"
    );
    assert!(folder(&raw.join("_noface")).contains("f0016.jpg"));
    assert!(text.contains("new faces joined facesets"), "{text}");
    let refine_after = json(&refined.join("refine_manifest.json"));
    let names = |m: &Value| {
        m["facesets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&refine_before),
        names(&refine_after),
        "facesets keep their numbers"
    );

    // A second extend with nothing new changes nothing.
    let manifest = fs::read(raw.join("manifest.json")).unwrap();
    let again = ok(bin().arg("extend").arg(&cache).arg(&raw));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .lines()
            .any(|l| l.starts_with("0 new faces")),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(fs::read(raw.join("manifest.json")).unwrap(), manifest);
}

#[test]
fn dedup_finds_the_listed_duplicates_and_never_pairs_two_people() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src, None);
    // A greyscale copy of Biden's portrait and of the cat (no face: perceptual hash).
    for (from, to) in [
        ("f0007.jpg", "grey_biden.png"),
        ("f0004.png", "grey_cat.png"),
    ] {
        image::open(fixtures().join("images").join(from))
            .unwrap()
            .grayscale()
            .save(src.join(to))
            .unwrap();
    }
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache));
    ok(bin().arg("dedup").arg(&cache));
    let report = json(&tmp.path().join("c.fsc.duplicates.json"));

    // Which group each file is in, by kind; an alias counts as its canonical image.
    let exact: Vec<BTreeSet<String>> = report["byte_identical"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_array().unwrap().iter().map(file_name).collect())
        .collect();
    let canonical = |f: &str| -> String {
        exact
            .iter()
            .find(|g| g.contains(f))
            .map_or(f.to_string(), |g| g.iter().next().unwrap().clone())
    };
    let near: Vec<BTreeSet<String>> = report["near_duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(file_name)
                .collect()
        })
        .collect();

    let manifest = fs::read_to_string(fixtures().join("manifest.csv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (file, kind, of) = (
            cols[0].trim_start_matches("images/"),
            cols[4],
            cols[5].trim_start_matches("images/"),
        );
        match kind {
            "exact" => assert!(
                exact.iter().any(|g| g.contains(file) && g.contains(of)),
                "{file} = {of}"
            ),
            "near" => {
                let (a, b) = (canonical(file), canonical(of));
                assert!(
                    near.iter().any(|g| g.contains(&a) && g.contains(&b)),
                    "{file} ~ {of}: {near:?}"
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "2 exact and 4 near pairs in manifest.csv");
    for (copy, of) in [
        ("grey_biden.png", "f0007.jpg"),
        ("grey_cat.png", "f0004.png"),
    ] {
        assert!(
            near.iter().any(|g| g.contains(copy) && g.contains(of)),
            "greyscale {copy} ~ {of}: {near:?}"
        );
    }
    let mut labels = labels();
    labels.insert("grey_biden.png".into(), "Joe_Biden".into());
    labels.insert("grey_cat.png".into(), String::new());
    for group in exact.iter().chain(&near) {
        let people: BTreeSet<&str> = group.iter().map(|f| labels[f].as_str()).collect();
        assert_eq!(people.len(), 1, "{group:?} pairs different people");
    }
}

#[test]
fn two_faces_of_one_photo_are_never_one_identity_unless_allowed() {
    // At a distance loose enough to join everyone, plain linkage puts the group photo's
    // two faces (Obama and Biden in f0014) into one cluster; by default they stay apart.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(
        &src,
        Some(&[
            "f0001.jpg",
            "f0002.jpg",
            "f0007.jpg",
            "f0011.jpg",
            "f0014.jpg",
        ]),
    );
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache));
    let faces_of_group_photo = |flags: &[&str], out: &str| -> Vec<usize> {
        let out = tmp.path().join(out);
        ok(bin()
            .args(["cluster", "--threshold", "1.9"])
            .args(flags)
            .arg(&cache)
            .arg(&out));
        members(&json(&out.join("manifest.json")))
            .values()
            .map(|files| usize::from(files.contains("f0014.jpg")))
            .filter(|&n| n > 0)
            .collect()
    };
    // f0014's faces: in two clusters by default, in one when allowed.
    assert_eq!(faces_of_group_photo(&[], "apart").len(), 2);
    assert_eq!(
        faces_of_group_photo(&["--allow-same-photo", "--link-all"], "together").len(),
        1
    );
}
