//! The three workflow programs on the real fixtures, one after another on one library:
//! hand-sorted import, mixed-folder discovery and era split.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, FaceKey};
use serde_json::Value;

use crate::util::{copy, ok, sibling};

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).expect("manifest exists")).expect("valid JSON")
}

/// Every faceset (and thin era) name → its face keys, from the top-level manifest.
fn identities(manifest: &Value) -> BTreeMap<String, Vec<String>> {
    ["facesets", "thin_eras"]
        .iter()
        .flat_map(|k| manifest[*k].as_array().cloned().unwrap_or_default())
        .map(|f| {
            let keys = f["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["face"]["key"].as_str().unwrap().to_string())
                .collect();
            (f["name"].as_str().unwrap().to_string(), keys)
        })
        .collect()
}

/// Reference embeddings of the two people in the group photo.
struct People {
    obama: Vec<f32>,
    biden: Vec<f32>,
}

fn people(cache: &Cache) -> People {
    let find = |name: &str| -> Vec<f32> {
        let image = cache
            .images()
            .find(|i| i.all_paths().any(|p| p.ends_with(name)))
            .unwrap();
        image.faces()[0].embedding.unit().to_vec()
    };
    People {
        obama: find("obama/f0012.jpg"),
        biden: find("biden/f0007.jpg"),
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn who(cache: &Cache, key: &str, people: &People) -> &'static str {
    let key: FaceKey = key.parse().unwrap();
    let e = cache.image(&key.hash).unwrap().faces()[key.index as usize]
        .embedding
        .unit();
    if dot(e, &people.obama) > dot(e, &people.biden) {
        "obama"
    } else {
        "biden"
    }
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for entry in rd {
            let p = entry.unwrap().path();
            if p.is_dir() {
                out.extend(tree(&p));
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hand_sorted_then_discover_then_era_split_never_renumber() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Trusted folders: one person each; Obama's holds the group photo with Biden as a
    // bystander. The mixed folder holds a byte-identical copy of the group photo.
    copy("f0012.jpg", &root.join("obama/f0012.jpg"));
    copy("f0001.jpg", &root.join("obama/f0001.jpg"));
    copy("f0014.jpg", &root.join("obama/f0014.jpg"));
    copy("f0007.jpg", &root.join("biden/f0007.jpg"));
    copy("f0002.jpg", &root.join("biden/f0002.jpg"));
    copy("f0014.jpg", &root.join("mixed/group copy.jpg"));
    let cache_path = root.join("work/photos.fsc");
    let swap = root.join("facesets_swap_ready");
    for dir in ["obama", "biden", "mixed"] {
        ok(sibling("face-sets")
            .arg("--quiet")
            .arg("embed")
            .arg(root.join(dir))
            .arg(&cache_path));
    }

    ok(sibling("hand_sorted")
        .arg("--cache")
        .arg(&cache_path)
        .arg("--swap-out")
        .arg(&swap)
        .arg("--trusted")
        .arg(format!("obama={}", root.join("obama").display()))
        .arg("--trusted")
        .arg(format!("biden={}", root.join("biden").display()))
        .arg("--mixed")
        .arg(root.join("mixed")));
    let cache = Cache::open_read_only(&cache_path).unwrap();
    let people = people(&cache);
    let manifest = json(&swap.join("manifest.json"));
    let facesets = manifest["facesets"].as_array().unwrap();
    assert_eq!(facesets.len(), 2);
    let mut analyzer = {
        let loc = fs_fixtures::locations();
        fs_detect::runtime::init(&loc.runtime).expect("run `cargo xtask setup`");
        fs_embedder::pipeline::FaceAnalyzer::new(
            &fs_packs::ModelPack::from_dir(loc.models.join("buffalo_s")).unwrap(),
            640,
            2,
        )
        .unwrap()
    };
    for f in facesets {
        let label = f["label"].as_str().unwrap();
        let name = f["name"].as_str().unwrap();
        assert!(swap.join(name).join(format!("{label}.txt")).is_file());
        assert!(
            swap.join(name).join(format!("{label}_top30.fsz")).is_file(),
            "bundles named after the label"
        );
        let mut group_crops = 0;
        for e in f["faces"].as_array().unwrap() {
            let key = e["face"]["key"].as_str().unwrap();
            // The bystander never enters the wrong identity.
            assert_eq!(who(&cache, key, &people), label, "{name}: {key}");
            if e["face"]["path"].as_str().unwrap().ends_with("f0014.jpg") {
                group_crops += 1;
                let png = image::open(swap.join(name).join(e["png"].as_str().unwrap()))
                    .unwrap()
                    .to_rgb8();
                let found = analyzer.analyze(&png).unwrap();
                assert_eq!(
                    found.len(),
                    1,
                    "{name}: group photo crop shows {} faces",
                    found.len()
                );
                let e = &found[0].embedding;
                let (o, b) = (dot(e, &people.obama), dot(e, &people.biden));
                assert_eq!(
                    if o > b { "obama" } else { "biden" },
                    label,
                    "{name}: wrong face cropped"
                );
            }
        }
        assert_eq!(
            group_crops, 1,
            "{name}: the group photo lands in every identity it shows"
        );
    }
    let after_import = identities(&manifest);

    // Discovery: a new person (the astronaut) plus a photo of someone already known.
    copy("f0003.png", &root.join("newsrc/a.png"));
    copy("f0013.jpg", &root.join("newsrc/b.jpg"));
    copy("f0011.jpg", &root.join("newsrc/c.jpg"));
    ok(sibling("face-sets")
        .arg("--quiet")
        .arg("embed")
        .arg(root.join("newsrc"))
        .arg(&cache_path));
    let discover = |dry: bool| {
        let mut cmd = sibling("discover");
        cmd.arg("--cache")
            .arg(&cache_path)
            .arg("--source")
            .arg(root.join("newsrc"))
            .arg("--swap-out")
            .arg(&swap)
            // The astronaut's second photo is a 256 px thumbnail: a 45 px face.
            .args([
                "--min-faces",
                "2",
                "--min-short",
                "40",
                "--min-face-short",
                "40",
            ]);
        if dry {
            cmd.arg("--dry-run");
        }
        ok(&mut cmd)
    };
    let before = tree(&swap);
    let dry = discover(true);
    let dry_text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry_text.contains("1 covered"), "{dry_text}");
    assert_eq!(tree(&swap), before, "--dry-run writes nothing");
    let real = discover(false);
    let real_text = String::from_utf8_lossy(&real.stdout).into_owned();
    let cache = Cache::open_read_only(&cache_path).unwrap();
    let manifest = json(&swap.join("manifest.json"));
    let after_discover = identities(&manifest);
    for (name, keys) in &after_import {
        assert_eq!(&after_discover[name], keys, "{name} changed");
    }
    let new: Vec<&String> = after_discover
        .keys()
        .filter(|n| !after_import.contains_key(*n))
        .collect();
    assert_eq!(
        new,
        ["faceset_003"],
        "one new identity, numbered past the maximum: {real_text}"
    );
    assert!(!after_discover["faceset_003"].is_empty(), "{real_text}");
    for key in &after_discover["faceset_003"] {
        let key: FaceKey = key.parse().unwrap();
        let path = &cache.image(&key.hash).unwrap().path;
        assert!(
            path.starts_with(root.join("newsrc")) && !path.ends_with("c.jpg"),
            "{}",
            path.display()
        );
    }
    assert!(swap.join("faceset_003/newsrc.txt").is_file());

    // Era split of the Obama identity: with the default anchor size every era is thin.
    let obama = manifest["facesets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "obama")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    ok(sibling("era_split")
        .arg("split")
        .arg("--cache")
        .arg(&cache_path)
        .arg("--swap-out")
        .arg(&swap)
        .arg("--faceset")
        .arg(&obama)
        .arg("--root")
        .arg(root));
    let manifest = json(&swap.join("manifest.json"));
    let after_split = identities(&manifest);
    for (name, keys) in &after_discover {
        assert_eq!(&after_split[name], keys, "{name} changed");
    }
    let thin = manifest["thin_eras"].as_array().unwrap();
    assert!(!thin.is_empty());
    for era in thin {
        let name = era["name"].as_str().unwrap();
        assert!(name.starts_with("faceset_004"), "{name}");
        assert!(swap.join("_thin").join(name).join("THIN.txt").is_file());
    }
}

/// Adds an EXIF block with `DateTime` to JPEG bytes (after SOI), the way cameras do.
fn with_exif_year(jpeg: &[u8], year: u32) -> Vec<u8> {
    let date = format!("{year}:06:15 12:00:00\0");
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0132u16.to_le_bytes()); // DateTime
    tiff.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    tiff.extend_from_slice(&20u32.to_le_bytes());
    tiff.extend_from_slice(&26u32.to_le_bytes()); // value offset
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    tiff.extend_from_slice(date.as_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A fixture re-encoded without its own metadata, then dated.
fn dated(name: &str, year: u32, to: &Path) {
    let img = image::open(fs_fixtures::images().join(name))
        .unwrap()
        .to_rgb8();
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::write(to, with_exif_year(&jpeg, year)).unwrap();
}

#[test]
fn era_split_follows_exif_years_and_rereads_no_exif() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Biden in two looks: the official portrait (2009) and the Blue Room photos (2016).
    dated("f0007.jpg", 2009, &root.join("photos/portrait.jpg"));
    dated("f0002.jpg", 2009, &root.join("photos/portrait_small.jpg"));
    dated("f0008.jpg", 2016, &root.join("photos/blue_room.jpg"));
    dated("f0014.jpg", 2016, &root.join("photos/group.jpg"));
    let cache = root.join("c.fsc");
    let fs_bin = || {
        let mut c = sibling("face-sets");
        c.arg("--quiet");
        c
    };
    ok(fs_bin().arg("embed").arg(root.join("photos")).arg(&cache));
    ok(fs_bin().arg("cluster").arg(&cache).arg(root.join("raw")));
    ok(fs_bin()
        .args(["refine", "--min-faces", "2"])
        .arg(&cache)
        .arg(root.join("refined")));
    let swap = root.join("swap");
    ok(fs_bin()
        .arg("export-swap")
        .arg(&cache)
        .arg(root.join("refined/refine_manifest.json"))
        .arg(&swap));
    let manifest = json(&swap.join("manifest.json"));
    let biden = manifest["facesets"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();

    let era = |mode: &str, extra: &[&str]| {
        ok(sibling("era_split")
            .arg(mode)
            .arg("--cache")
            .arg(&cache)
            .arg("--swap-out")
            .arg(&swap)
            .arg("--faceset")
            .arg(&biden)
            .args(extra))
    };
    let probe = era("probe", &[]);
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert!(
        text.contains("\"2009\"") && text.contains("\"2016\""),
        "{text}"
    );
    let exif_cache = PathBuf::from(format!("{}.exif-years.json", cache.display()));
    let years: BTreeMap<String, Option<i32>> =
        serde_json::from_str(&fs::read_to_string(&exif_cache).unwrap()).unwrap();
    assert!(
        years.values().all(|y| matches!(y, Some(2009 | 2016))),
        "{years:?}"
    );

    let root_arg = root.join("photos").display().to_string();
    let split_args = [
        "--root",
        root_arg.as_str(),
        "--anchor-min",
        "2",
        "--thin-below",
        "2",
        "--min-short",
        "50",
    ];
    let split = era("split", &split_args);
    let text = String::from_utf8_lossy(&split.stdout).into_owned();
    // The probe read the seed's photos; the split reads only the ones it recovered besides.
    assert!(text.contains("EXIF: 2 photos read, 2 from"), "{text}");
    let manifest = json(&swap.join("manifest.json"));
    let eras: Vec<&Value> = manifest["facesets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != biden.as_str())
        .collect();
    let mut labels: Vec<String> = eras
        .iter()
        .map(|f| {
            f["name"]
                .as_str()
                .unwrap()
                .rsplit('_')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    labels.sort();
    assert_eq!(labels, ["2009", "2016"], "{text}");
    for f in &eras {
        let name = f["name"].as_str().unwrap();
        let year = name.rsplit('_').next().unwrap();
        assert!(swap.join(name).join(format!("{year}.txt")).is_file());
        for e in f["faces"].as_array().unwrap() {
            let path = e["face"]["path"].as_str().unwrap();
            let expected = if path.ends_with("portrait.jpg") || path.ends_with("portrait_small.jpg")
            {
                "2009"
            } else {
                "2016"
            };
            assert_eq!(year, expected, "{path} in era {year}");
        }
    }

    // A re-run reads no EXIF: with the cache file doctored, its years are what count.
    let years: BTreeMap<String, Option<i32>> =
        serde_json::from_str(&fs::read_to_string(&exif_cache).unwrap()).unwrap();
    assert_eq!(years.len(), 4);
    let doctored: BTreeMap<String, Option<i32>> =
        years.keys().map(|k| (k.clone(), Some(1999))).collect();
    fs::write(&exif_cache, serde_json::to_string(&doctored).unwrap()).unwrap();
    let probe = era("probe", &[]);
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert!(
        text.contains("\"1999\"") && !text.contains("\"2009\""),
        "{text}"
    );
    let again: BTreeMap<String, Option<i32>> =
        serde_json::from_str(&fs::read_to_string(&exif_cache).unwrap()).unwrap();
    assert_eq!(again, doctored);
    // And splitting again adds nothing: the eras exist.
    fs::write(&exif_cache, serde_json::to_string(&years).unwrap()).unwrap();
    let before = fs::read(swap.join("manifest.json")).unwrap();
    let again = era("split", &split_args);
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        text.contains("split before, skipped") && text.contains("EXIF: 0 photos read"),
        "{text}"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&fs::read(swap.join("manifest.json")).unwrap()).unwrap(),
        serde_json::from_slice::<Value>(&before).unwrap()
    );
}
