//! The real binary on real files: embed, resume, aliases, bad input, crashes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{bin, face_sets, images, run, stderr};
use serde_json::Value;

/// Copies the fixture photos into `dir`.
fn copy_fixtures(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(images()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}

/// `inspect --json`, keyed by path.
fn inspect(cache: &Path) -> BTreeMap<String, Value> {
    let out = run(bin().arg("inspect").arg("--json").arg(cache));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["path"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn embed_finds_faces_records_aliases_and_resumes_without_work() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_fixtures(&photos);
    let cache = tmp.path().join("work/photos.fsc");
    let out = run(bin().arg("embed").arg(&photos).arg(&cache));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("14 images embedded (11 faces, 4 without a face); 0 errors"),
        "{}",
        stderr(&out)
    );

    let records = inspect(&cache);
    assert_eq!(records.len(), 14, "16 files, 2 byte-identical copies");
    let by_name: BTreeMap<&str, &Value> = records.iter().map(|(p, v)| (name_of(p), v)).collect();
    // f0005 is a copy of f0004, f0009 of f0012: the first path in order is canonical.
    assert_eq!(
        by_name["f0004.png"]["aliases"][0].as_str().map(name_of),
        Some("f0005.png")
    );
    assert_eq!(
        by_name["f0009.jpg"]["aliases"][0].as_str().map(name_of),
        Some("f0012.jpg")
    );
    assert_eq!(by_name["f0014.jpg"]["faces"].as_array().unwrap().len(), 2);
    assert!(by_name["f0004.png"]["faces"].as_array().unwrap().is_empty());
    let face = &by_name["f0003.png"]["faces"][0];
    assert_eq!(face["embedding"].as_array().unwrap().len(), 512);
    assert_eq!(face["kps"].as_array().unwrap().len(), 5);

    let again = run(bin().arg("embed").arg(&photos).arg(&cache));
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("16 unchanged, 0 hashed, 0 new aliases; 0 images embedded"),
        "{}",
        stderr(&again)
    );

    // A new byte-identical copy elsewhere becomes an alias without any model work.
    let more = tmp.path().join("more");
    fs::create_dir(&more).unwrap();
    fs::copy(photos.join("f0007.jpg"), more.join("copy of biden.jpg")).unwrap();
    let third = run(bin().arg("embed").arg(&more).arg(&cache));
    assert!(
        stderr(&third).contains("1 new aliases; 0 images embedded"),
        "{}",
        stderr(&third)
    );
    let summary = run(bin().arg("inspect").arg(&cache));
    let text = String::from_utf8(summary.stdout).unwrap();
    assert!(text.contains("aliases     3"), "{text}");
}

#[test]
fn bad_files_are_recorded_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    fs::create_dir(&photos).unwrap();
    fs::copy(images().join("f0003.png"), photos.join("good.png")).unwrap();
    fs::write(photos.join("zero.jpg"), b"").unwrap();
    let jpeg = fs::read(images().join("f0012.jpg")).unwrap();
    fs::write(photos.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    fs::write(photos.join("text.jpg"), "just some notes, not a photo\n").unwrap();
    fs::create_dir(photos.join("x.jpg")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("gone.jpg"), photos.join("dangling.jpg")).unwrap();
    let fifo = photos.join("pipe.jpg");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = photos.join("huge.png");
    write_png_header(&huge, 100_000, 100_000);
    // A directory named like a photo, given explicitly through a list.
    let list = tmp.path().join("list.txt");
    fs::write(&list, format!("{}\n", photos.join("x.jpg").display())).unwrap();

    let cache = tmp.path().join("c.fsc");
    let out = run(bin()
        .arg("embed")
        .arg("--list")
        .arg(&list)
        .arg(&photos)
        .arg(&cache));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for (file, why) in [
        ("zero.jpg", "cannot decode"),
        ("truncated.jpg", "truncated"),
        ("text.jpg", "cannot decode"),
        ("x.jpg", "is a directory"),
        ("dangling.jpg", "cannot read"),
        ("pipe.jpg", "not a regular file"),
        ("huge.png", "limit"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not reported:\n{err}"));
        assert!(line.contains(why), "{file}: {line}");
    }
    let records = inspect(&cache);
    let good = records
        .iter()
        .find(|(p, _)| p.ends_with("good.png"))
        .unwrap()
        .1;
    assert_eq!(good["faces"].as_array().unwrap().len(), 1);
    for file in [
        "zero.jpg",
        "truncated.jpg",
        "text.jpg",
        "x.jpg",
        "dangling.jpg",
        "pipe.jpg",
        "huge.png",
    ] {
        let rec = records
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .unwrap_or_else(|| panic!("{file} not in cache"))
            .1;
        assert!(
            rec["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{file}: {rec}"
        );
    }
    // Sources are never modified.
    assert_eq!(
        fs::read(photos.join("truncated.jpg")).unwrap(),
        &jpeg[..jpeg.len() / 3]
    );
}

/// A PNG whose header claims a huge image; decoding must refuse it, not allocate 30 GB.
fn write_png_header(path: &Path, width: u32, height: u32) {
    let mut png = Vec::new();
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    fs::write(path, png).unwrap();
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Writes `variants` distinct copies of each fixture into `photos` (a trailing byte
/// changes the hash, not the picture); returns how many files that is.
fn write_variants(photos: &Path, variants: u8) -> usize {
    fs::create_dir_all(photos).unwrap();
    let mut count = 0;
    for entry in fs::read_dir(images()).unwrap() {
        let entry = entry.unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        for v in 0..variants {
            let mut b = bytes.clone();
            b.extend_from_slice(&[v; 3]);
            fs::write(
                photos.join(format!("{v}_{}", entry.file_name().to_string_lossy())),
                b,
            )
            .unwrap();
            count += 1;
        }
    }
    count
}

#[test]
fn killed_run_resumes_to_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let cache = tmp.path().join("killed.fsc");
    // Kill the run once at least 5 images are flushed. A machine fast enough to finish
    // before the kill lands gets a larger library and another try.
    let mut variants = 4u8;
    let (files, images_at_kill) = loop {
        let files = write_variants(&photos, variants);
        let _ = fs::remove_file(&cache);
        let mut child = bin()
            .args(["embed", "--flush-every", "1"])
            .arg(&photos)
            .arg(&cache)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let (n, finished) = loop {
            let n = fs_cache::Cache::open_read_only(&cache).map_or(0, |c| c.images().len());
            let finished = child.try_wait().unwrap().is_some();
            if n >= 5 || finished || started.elapsed().as_secs() > 120 {
                break (n, finished);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        if !finished {
            break (files, n);
        }
        assert!(
            variants < 64,
            "the run always finished before it could be killed"
        );
        variants *= 4;
    };
    assert!(
        (5..files).contains(&images_at_kill),
        "killed with {images_at_kill} of {files} images done"
    );
    let reference = tmp.path().join("reference.fsc");
    assert!(
        run(bin().arg("embed").arg(&photos).arg(&reference))
            .status
            .success()
    );
    let resumed = run(bin().arg("embed").arg(&photos).arg(&cache));
    assert!(resumed.status.success(), "{}", stderr(&resumed));

    let (a, b) = (inspect(&reference), inspect(&cache));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, ra) in &a {
        let rb = &b[path];
        assert_eq!(ra["hash"], rb["hash"], "{path}");
        assert_eq!(ra["aliases"], rb["aliases"], "{path}");
        let (fa, fb) = (
            ra["faces"].as_array().unwrap(),
            rb["faces"].as_array().unwrap(),
        );
        assert_eq!(fa.len(), fb.len(), "{path}");
        for (x, y) in fa.iter().zip(fb) {
            let dot: f64 = x["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .zip(y["embedding"].as_array().unwrap())
                .map(|(p, q)| p.as_f64().unwrap() * q.as_f64().unwrap())
                .sum();
            assert!(dot > 0.9999, "{path}: embeddings differ ({dot})");
            assert_eq!(x["bbox"], y["bbox"], "{path}");
        }
    }
}

#[test]
fn a_cache_of_another_model_is_refused_with_exit_2_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_fixtures(&photos);
    let cache = tmp.path().join("other-model.fsc");
    let other = fs_cache::ModelId {
        pack: "buffalo_l".into(),
        recognizer: "w600k_r50.onnx".into(),
        recognizer_sha256: "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43"
            .into(),
        embedding_size: 512,
        detector: "det_10g.onnx".into(),
        detector_sha256: "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91".into(),
    };
    fs_cache::Cache::open(&cache)
        .unwrap()
        .bind_model(&other)
        .unwrap();
    let before = fs::read(&cache).unwrap();
    let out = run(bin()
        .args(["embed", "--models", "buffalo_s"])
        .arg(&photos)
        .arg(&cache));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("buffalo_l (w600k_r50.onnx sha256 4c06341c33c2")
            && text.contains("buffalo_s (w600k_mbf.onnx sha256 9cc6e4a75f0e"),
        "{text}"
    );
    assert_eq!(fs::read(&cache).unwrap(), before, "the cache is left alone");

    // Without --models, the cache's own pack is used, and its absence is explained.
    let out = run(bin().arg("embed").arg(&photos).arg(&cache));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("made by buffalo_l") && stderr(&out).contains("not installed"),
        "{}",
        stderr(&out)
    );

    // A new cache says which model it is made by, and inspect prints it.
    let fresh = tmp.path().join("fresh.fsc");
    let out = run(bin().arg("embed").arg(&photos).arg(&fresh));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("faces by buffalo_s (w600k_mbf.onnx"),
        "{}",
        stderr(&out)
    );
    let summary = String::from_utf8(run(bin().arg("inspect").arg(&fresh)).stdout).unwrap();
    assert!(
        summary.contains("model       buffalo_s (w600k_mbf.onnx sha256 9cc6e4a75f0e…, 512-d"),
        "{summary}"
    );
}

#[test]
fn foreign_and_future_caches_are_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("notes.fsc");
    fs::write(&text, "shopping list").unwrap();
    let out = run(bin().arg("inspect").arg(&text));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a face-sets cache"),
        "{}",
        stderr(&out)
    );

    let future = tmp.path().join("future.fsc");
    let mut header = fs_cache::journal::header();
    header[8..10].copy_from_slice(&7u16.to_le_bytes());
    fs::write(&future, header).unwrap();
    let photos = tmp.path().join("p");
    fs::create_dir(&photos).unwrap();
    let out = run(bin().arg("embed").arg(&photos).arg(&future));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("format version 7"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(&future).unwrap(),
        header,
        "a refused cache is left alone"
    );
}

#[test]
fn missing_runtime_bad_flags_and_missing_sources_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(bin()
        .env(
            "ORT_DYLIB_PATH",
            tmp.path().join("libonnxruntime.so.1.31.1"),
        )
        .arg("embed")
        .arg(tmp.path())
        .arg(tmp.path().join("c.fsc")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cargo xtask setup"),
        "{}",
        stderr(&out)
    );

    let out = run(bin().args(["embed", "--det-size", "7", "a", "b"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--det-size"), "{}", stderr(&out));

    let out = run(bin()
        .arg("embed")
        .arg(tmp.path().join("nope"))
        .arg(tmp.path().join("c.fsc")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nope") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let commands = [
        "embed",
        "run",
        "export-swap",
        "review",
        "calibrate",
        "immich",
    ];
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(face_sets().args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for command in commands {
            assert!(script.contains(command), "{shell} completes {command}");
        }
        assert!(script.contains("lock-timeout"), "{shell} completes flags");
    }
    let out = run(face_sets().arg("man"));
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH face-sets 1"), "{page:.200}");
    for command in commands {
        assert!(
            page.contains(&command.replace('-', "\\-")),
            "the page lists {command}"
        );
    }
    let out = run(face_sets().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a bad flag");
}

#[test]
fn json_summaries_of_embed_cluster_and_run_say_what_was_done() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    fs::create_dir_all(&photos).unwrap();
    for name in ["f0001.jpg", "f0009.jpg", "f0002.jpg", "f0007.jpg"] {
        fs::copy(
            crate::util::fixtures().join("images").join(name),
            photos.join(name),
        )
        .unwrap();
    }
    fs::write(photos.join("broken.jpg"), b"not a photo").unwrap();
    let cache = tmp.path().join("c.fsc");
    let out = run(face_sets()
        .arg("embed")
        .arg("--json")
        .arg(&photos)
        .arg(&cache));
    assert_eq!(
        out.status.code(),
        Some(1),
        "one file failed: {}",
        stderr(&out)
    );
    let embed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(embed["files"], 5);
    assert_eq!(embed["embedded"], 4);
    assert!(embed["faces"].as_u64().unwrap() >= 4, "{embed}");
    assert_eq!(embed["cache"], cache.display().to_string());
    assert_eq!(embed["errors"].as_array().unwrap().len(), 1);
    assert!(
        embed["errors"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("broken.jpg")
    );

    let raw = tmp.path().join("raw");
    let out = run(face_sets()
        .arg("cluster")
        .arg("--json")
        .arg(&cache)
        .arg(&raw));
    assert!(out.status.success(), "{}", stderr(&out));
    let cluster: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest: Value =
        serde_json::from_slice(&fs::read(raw.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        cluster["people"].as_u64().unwrap() as usize,
        manifest["clusters"].as_array().unwrap().len()
    );

    let run_dir = tmp.path().join("run");
    let out = run(face_sets()
        .args(["run", "--json", "--min-faces", "2", "--no-crop-check"])
        .arg(&photos)
        .arg(&run_dir));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(Path::new(summary["report"].as_str().unwrap()).is_file());
    assert_eq!(summary["photos"], 5);
    assert!(summary["identities"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(
        summary["added"].as_array().unwrap().len() as u64,
        summary["identities"]
    );
    assert!(summary["revision"].as_u64().unwrap() >= 1);
    assert_eq!(summary["errors"].as_array().unwrap().len(), 1);
}
