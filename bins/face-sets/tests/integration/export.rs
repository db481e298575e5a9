//! enrich, export-swap, run and report on the real fixtures with the real models.

use crate::util::{bin, images, ok};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use fs_cache::{Cache, FaceKey};
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// All fixtures plus a mirrored copy of the official portrait.
fn photos(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(images()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let portrait = image::open(images().join("f0012.jpg")).unwrap();
    portrait.fliph().save(dir.join("mirrored.png")).unwrap();
    let turned = image::open(images().join("f0008.jpg")).unwrap();
    turned
        .fliph()
        .save(dir.join("mirrored_turned.png"))
        .unwrap();
}

fn analyzer() -> fs_embedder::pipeline::FaceAnalyzer {
    let loc = fs_fixtures::locations();
    fs_detect::runtime::init(&loc.runtime).expect("run `cargo xtask setup`");
    let pack = fs_packs::ModelPack::from_dir(loc.models.join("buffalo_s"))
        .expect("run `cargo xtask setup`");
    fs_embedder::pipeline::FaceAnalyzer::new(&pack, 640, 2).unwrap()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn exported_crops_are_single_faces_of_their_identity_in_valid_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let cache_path = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache_path));
    ok(bin()
        .arg("cluster")
        .arg(&cache_path)
        .arg(tmp.path().join("raw")));
    ok(bin()
        .args(["refine", "--min-faces", "2"])
        .arg(&cache_path)
        .arg(tmp.path().join("refined")));
    ok(bin().arg("enrich").arg(&cache_path));
    let out = tmp.path().join("swap");
    let export = |extra: &[&str]| {
        ok(bin()
            .arg("export-swap")
            .arg(&cache_path)
            .arg(tmp.path().join("refined/refine_manifest.json"))
            .arg(&out)
            .arg("--raw-manifest")
            .arg(tmp.path().join("raw/manifest.json"))
            .args(["--candidates", "--top-n", "2"])
            .args(extra))
    };
    export(&[]);

    let cache = Cache::open_read_only(&cache_path).unwrap();
    let embedding_of = |key: &str| -> Vec<f32> {
        let key: FaceKey = key.parse().unwrap();
        cache.image(&key.hash).unwrap().faces()[key.index as usize]
            .embedding
            .unit()
            .to_vec()
    };
    let manifest = json(&out.join("manifest.json"));
    let facesets = manifest["facesets"].as_array().unwrap();
    assert_eq!(facesets.len(), 2);
    let mut analyzer = analyzer();
    let mut crops = 0;
    for faceset in facesets {
        let name = faceset["name"].as_str().unwrap();
        let dir = out.join(name);
        let faces = faceset["faces"].as_array().unwrap();
        assert!(!faces.is_empty());
        // Identity centroid from the cache embeddings of the exported faces.
        let mut centre = vec![0f32; 512];
        for f in faces {
            for (c, v) in centre
                .iter_mut()
                .zip(embedding_of(f["face"]["key"].as_str().unwrap()))
            {
                *c += v;
            }
        }
        let centre = unit(&centre);
        let mut last = f32::MAX;
        for (rank, f) in faces.iter().enumerate() {
            assert_eq!(f["rank"].as_u64().unwrap() as usize, rank);
            let q = f["quality"]["composite"].as_f64().unwrap() as f32;
            assert!(
                q <= last + 1e-6,
                "{name}: rank {rank} scores {q} above the one before ({last})"
            );
            last = q;
            let png = image::open(dir.join(f["png"].as_str().unwrap()))
                .unwrap()
                .to_rgb8();
            assert_eq!(png.dimensions(), (512, 512));
            let found = analyzer.analyze(&png).unwrap();
            assert_eq!(found.len(), 1, "{name}/{}: {} faces", f["png"], found.len());
            let d = 1.0 - dot(&unit(&found[0].embedding), &centre);
            assert!(d <= 0.45, "{name}/{}: {d} from its identity", f["png"]);
            crops += 1;
        }
        // Bundles: plain zips of 0.png, 1.png, … in rank order, each out_size².
        for (bundle, expected) in [
            (faceset["top_bundle"].as_str().unwrap(), faces.len().min(2)),
            (faceset["all_bundle"].as_str().unwrap(), faces.len()),
        ] {
            let mut zip = zip::ZipArchive::new(fs::File::open(dir.join(bundle)).unwrap()).unwrap();
            assert_eq!(zip.len(), expected, "{bundle}");
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).unwrap();
                assert_eq!(entry.name(), format!("{i}.png"));
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                assert_eq!(
                    bytes,
                    fs::read(dir.join(faces[i]["png"].as_str().unwrap())).unwrap(),
                    "{bundle} member {i}"
                );
                let img =
                    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
                assert_eq!((img.width(), img.height()), (512, 512));
            }
        }
    }
    assert!(crops >= 4);

    // Re-export: the same files, no duplicates.
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = walk(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    };
    let before = listing(&out);
    export(&[]);
    assert_eq!(listing(&out), before);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn enrich_gives_landmarks_and_a_pose_that_mirrors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let cache_path = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache_path));
    // The embed pass places the landmarks and the pose on the image it decoded, so
    // enrich has nothing left to do on new photos.
    let first = ok(bin().arg("enrich").arg(&cache_path));
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(
        said.starts_with("enriched 0 faces") && said.contains("0 errors"),
        "{said}"
    );

    let cache = Cache::open_read_only(&cache_path).unwrap();
    let by_name: BTreeMap<String, &fs_cache::ImageRecord> = cache
        .images()
        .flat_map(|i| {
            i.all_paths()
                .map(move |p| (p.file_name().unwrap().to_string_lossy().into_owned(), i))
        })
        .collect();
    for image in cache.images() {
        for face in image.faces() {
            let lm = face.landmarks_2d_106.as_ref().expect("landmarks");
            assert_eq!(lm.len(), 106);
            let [x1, y1, x2, y2] = face.bbox;
            let (w, h) = (x2 - x1, y2 - y1);
            let inside = lm
                .iter()
                .filter(|p| {
                    p[0] > x1 - 0.2 * w
                        && p[0] < x2 + 0.2 * w
                        && p[1] > y1 - 0.2 * h
                        && p[1] < y2 + 0.2 * h
                })
                .count();
            assert!(
                inside >= 100,
                "{}: {inside} of 106 landmarks near the face",
                image.path.display()
            );
            assert!(face.pose.is_some());
        }
    }
    let pose = |name: &str| by_name[name].faces()[0].pose.unwrap();
    let (front, mirror) = (pose("f0012.jpg"), pose("mirrored.png"));
    println!("portrait {front:?}\nmirrored {mirror:?}");
    assert!(
        front.yaw.abs() < 15.0 && front.pitch.abs() < 20.0 && front.roll.abs() < 10.0,
        "{front:?}"
    );
    assert!(
        front.yaw * mirror.yaw < 0.0,
        "yaw {} vs mirrored {}",
        front.yaw,
        mirror.yaw
    );
    // A face turned away from the camera: its mirror image turns the other way by about
    // as much (five keypoints give a coarse pose, so allow a few degrees).
    let (turned, turned_back) = (pose("f0008.jpg"), pose("mirrored_turned.png"));
    println!("turned {turned:?}\nmirrored {turned_back:?}");
    assert!(turned.yaw.abs() > 10.0, "{turned:?}");
    assert!(turned.yaw * turned_back.yaw < 0.0);
    assert!(
        (turned.yaw + turned_back.yaw).abs() < 0.5 * turned.yaw.abs(),
        "{turned:?} vs {turned_back:?}"
    );
}

#[test]
fn group_photo_crops_show_only_their_own_face() {
    let image =
        fs_detect::decode::decode_image(&fs::read(images().join("f0014.jpg")).unwrap()).unwrap();
    let mut analyzer = analyzer();
    let faces = analyzer.analyze(&image).unwrap();
    assert_eq!(faces.len(), 2);
    let boxes: Vec<[f32; 4]> = faces.iter().map(|f| f.detection.bbox).collect();
    for (i, face) in faces.iter().enumerate() {
        let others: Vec<[f32; 4]> = boxes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, b)| *b)
            .collect();
        // Generous padding: the neighbour would be in frame without tightening or masking.
        let crop =
            fs_detect::crop::crop_single_face(&image, face.detection.bbox, &others, 1.5, 512);
        let found = analyzer.analyze(&crop).unwrap();
        assert_eq!(
            found.len(),
            1,
            "face {i}: {} faces in its crop",
            found.len()
        );
        assert!(
            dot(&unit(&found[0].embedding), &unit(&face.embedding)) > 0.8,
            "face {i}: crop shows someone else"
        );
    }
}

#[test]
fn run_twice_then_the_report_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let out = tmp.path().join("out");
    let first = ok(bin().args(["run", "--min-faces", "2"]).arg(&src).arg(&out));
    let text = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(text.contains("16 images embedded this run"), "{text}");
    assert!(
        text.contains("library: 2 identities (2 added, 0 updated); 0 errors"),
        "{text}"
    );
    let library_manifest = out.join("facesets_swap_ready/manifest.json");
    let before = std::fs::read(&library_manifest).unwrap();
    let second = ok(bin().args(["run", "--min-faces", "2"]).arg(&src).arg(&out));
    let text = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(
        text.contains("0 images embedded this run, 0 faces found this run"),
        "no detection work: {text}"
    );
    assert!(
        text.contains("0 new identities; library: 2 identities (0 added, 0 updated)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&library_manifest).unwrap(),
        before,
        "a re-run leaves the library byte-identical"
    );

    let manifest = json(&out.join("facesets_swap_ready/manifest.json"));
    let exported = manifest["facesets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["faces"].as_array().unwrap().is_empty())
        .count();
    let report = out.join("report.html");
    let html = fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network resources"
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(crate::util::chromium())
        .args(crate::util::headless(profile.path()))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_else(|| panic!("no body in {dom}"));
    let attr = |name: &str| -> usize {
        body.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in <body{body}>"))
    };
    assert_eq!(attr("data-broken"), 0, "broken images in the report");
    assert!(attr("data-images") >= exported * 2);
    assert_eq!(attr("data-identities"), exported);
    assert_eq!(dom.matches("class=\"identity\"").count(), exported);
}

/// `run` cuts each face's and each photo's thumbnail in its embed pass, from the image
/// it decodes anyway; `report` on an output without them cuts the same faces again from
/// the photos.
#[test]
fn the_embed_pass_cuts_the_thumbnails_that_report_would_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let out = tmp.path().join("out");
    ok(bin().args(["run", "--min-faces", "2"]).arg(&src).arg(&out));
    let assets = out.join("report_assets");
    let cache = Cache::open_read_only(out.join("cache.fsc")).unwrap();
    let mut faces = Vec::new();
    for image in cache.images() {
        let photo = fs_embedder::thumbnails::photo_path(&assets, &image.hash);
        assert!(photo.is_file(), "no thumbnail of {}", image.path.display());
        for index in 0..image.faces().len() {
            let key = FaceKey {
                hash: image.hash,
                index: u32::try_from(index).unwrap(),
            };
            faces.push(fs_embedder::thumbnails::path(&assets, &key));
        }
    }
    assert!(faces.len() >= 12, "{} faces", faces.len());
    let read = |p: &Path| {
        image::load_from_memory(&fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .unwrap()
            .to_rgb8()
    };
    let from_embed: BTreeMap<PathBuf, image::RgbImage> =
        faces.iter().map(|p| (p.clone(), read(p))).collect();
    let side = fs_detect::crop::THUMB_SIDE;
    assert!(from_embed.values().all(|t| t.dimensions() == (side, side)));

    // Without them, the report cuts what it shows from the photos.
    fs::remove_dir_all(&assets).unwrap();
    // What an older report left: its PNG thumbnails go, anything else stays.
    fs::create_dir_all(&assets).unwrap();
    fs::write(assets.join("face_00ff_0.png"), b"old").unwrap();
    fs::write(assets.join("notes.txt"), b"mine").unwrap();
    ok(bin().arg("report").arg(&out));
    assert!(!assets.join("face_00ff_0.png").exists());
    assert!(assets.join("notes.txt").exists());
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    let shown: Vec<&str> = html
        .split("src=\"report_assets/")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(
        !shown.is_empty(),
        "the fixtures' report shows singletons or dropped faces"
    );
    let mut compared = 0;
    for name in shown {
        let again = read(&assets.join(name));
        if let Some(before) = from_embed.get(&assets.join(name)) {
            // The embed pass cut from a coarser decode: the same face, resampled.
            let diff: f64 = before
                .as_raw()
                .iter()
                .zip(again.as_raw())
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / before.as_raw().len() as f64;
            assert!(diff < 12.0, "{name}: mean difference {diff:.1} of 255");
            compared += 1;
        }
    }
    assert!(compared > 0, "no face thumbnail in the report");
}

/// kill -9 of `run` while its embed pass writes thumbnails: none is left half-written,
/// and the next run leaves one for every face of the cache.
#[test]
fn kill_9_of_run_mid_embed_leaves_whole_thumbnails_and_the_next_run_completes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let out = tmp.path().join("out");
    let assets = out.join("report_assets");
    let thumbs = || -> Vec<PathBuf> {
        fs::read_dir(&assets).map_or_else(
            |_| Vec::new(),
            |d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
                    .collect()
            },
        )
    };
    let mut child = bin()
        .args(["run", "--min-faces", "2"])
        .arg(&src)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !thumbs()
        .iter()
        .any(|p| p.to_string_lossy().contains("face_"))
        && start.elapsed() < std::time::Duration::from_mins(1)
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "run finished before it could be killed mid-embed"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
    let whole = |p: &Path| {
        image::load_from_memory(&fs::read(p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    };
    let left = thumbs();
    assert!(!left.is_empty());
    for p in &left {
        whole(p);
    }

    ok(bin().args(["run", "--min-faces", "2"]).arg(&src).arg(&out));
    let cache = Cache::open_read_only(out.join("cache.fsc")).unwrap();
    for image in cache.images() {
        whole(&fs_embedder::thumbnails::photo_path(&assets, &image.hash));
        for index in 0..image.faces().len() {
            let key = FaceKey {
                hash: image.hash,
                index: u32::try_from(index).unwrap(),
            };
            whole(&fs_embedder::thumbnails::path(&assets, &key));
        }
    }
}

/// A resized re-encode of a photo is a visual duplicate: left out of the export at the
/// default `--face-similarity`, kept when the flag asks for near-identity only.
#[test]
fn face_similarity_decides_which_copies_are_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let original = image::open(images().join("f0011.jpg")).unwrap();
    original
        .resize_exact(
            original.width() * 9 / 10,
            original.height() * 9 / 10,
            image::imageops::FilterType::Triangle,
        )
        .save(src.join("f0011_smaller.png"))
        .unwrap();
    let cache = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache));
    ok(bin()
        .args(["refine", "--min-faces", "2"])
        .arg(&cache)
        .arg(tmp.path().join("refined")));
    let exported = |similarity: &str| -> Vec<String> {
        let out = tmp.path().join(format!("swap-{similarity}"));
        ok(bin()
            .arg("export-swap")
            .arg(&cache)
            .arg(tmp.path().join("refined/refine_manifest.json"))
            .arg(&out)
            .args(["--face-similarity", similarity]));
        let manifest = json(&out.join("manifest.json"));
        manifest["facesets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["faces"].as_array().unwrap().clone())
            .map(|f| {
                f["face"]["paths"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let by_default = exported("0.85");
    let strict = exported("0.9999");
    let copies = |faces: &[String]| {
        faces
            .iter()
            .filter(|p| p.contains("f0011.jpg") || p.contains("f0011_smaller.png"))
            .count()
    };
    assert_eq!(
        copies(&by_default),
        1,
        "one of the two copies: {by_default:?}"
    );
    assert_eq!(copies(&strict), 2, "both copies: {strict:?}");
}

#[test]
fn enrich_fills_faces_without_landmarks_as_the_embed_pass_places_them() {
    // A cache whose faces lack landmarks and pose (as one written before the embed pass
    // placed them): enrich decodes each photo in full and fills them in, where the embed
    // pass had placed them on its scaled decode.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    photos(&src);
    let cache_path = tmp.path().join("c.fsc");
    ok(bin().arg("embed").arg(&src).arg(&cache_path));
    let placed: BTreeMap<String, Vec<fs_cache::Face>> = {
        let mut cache = Cache::open(&cache_path).unwrap();
        let images: Vec<(fs_cache::ContentHash, Vec<fs_cache::Face>)> = cache
            .images()
            .map(|i| (i.hash, i.faces().to_vec()))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        let mut placed = BTreeMap::new();
        for (hash, faces) in images {
            let bare = faces
                .iter()
                .cloned()
                .map(|f| fs_cache::Face {
                    landmarks_2d_106: None,
                    pose: None,
                    ..f
                })
                .collect();
            cache.replace_faces(hash, bare).unwrap();
            placed.insert(hash.to_string(), faces);
        }
        cache.flush().unwrap();
        placed
    };
    let out = ok(bin().arg("enrich").arg(&cache_path));
    let said = String::from_utf8_lossy(&out.stderr);
    let faces: usize = placed.values().map(Vec::len).sum();
    assert!(
        said.starts_with(&format!("enriched {faces} faces")),
        "{said}"
    );
    let cache = Cache::open_read_only(&cache_path).unwrap();
    for image in cache.images().filter(|i| !i.faces().is_empty()) {
        for (face, before) in image.faces().iter().zip(&placed[&image.hash.to_string()]) {
            let (now, then) = (
                face.landmarks_2d_106.as_ref().expect("enriched"),
                before.landmarks_2d_106.as_ref().expect("placed by embed"),
            );
            assert_eq!(face.pose, before.pose, "pose from the same keypoints");
            // Mean distance between the two placements, as a share of the face's size.
            let side = face.short_side();
            let mean = now
                .iter()
                .zip(then)
                .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
                .sum::<f32>()
                / 106.0;
            assert!(
                mean < 0.03 * side,
                "{}: landmarks {mean:.1} px apart on a {side:.0}-px face",
                image.path.display()
            );
        }
    }
}
