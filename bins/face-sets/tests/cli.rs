#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::float_cmp
)]
//! The real binary on real files: embed, resume, aliases, bad input, crashes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_face-sets"));
    cmd.arg("--quiet");
    cmd
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "panic: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copies the fixture photos into `dir`.
fn copy_fixtures(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(fixtures()).unwrap() {
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
    fs::copy(fixtures().join("f0003.png"), photos.join("good.png")).unwrap();
    fs::write(photos.join("zero.jpg"), b"").unwrap();
    let jpeg = fs::read(fixtures().join("f0012.jpg")).unwrap();
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

#[test]
fn killed_run_resumes_to_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    fs::create_dir(&photos).unwrap();
    // 4 distinct variants of each fixture (a trailing byte changes the hash, not the
    // picture) so the run lasts long enough to be killed part-way.
    for entry in fs::read_dir(fixtures()).unwrap() {
        let entry = entry.unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        for v in 0..4u8 {
            let mut b = bytes.clone();
            b.extend_from_slice(&[v; 3]);
            fs::write(
                photos.join(format!("{v}_{}", entry.file_name().to_string_lossy())),
                b,
            )
            .unwrap();
        }
    }
    let reference = tmp.path().join("reference.fsc");
    assert!(
        run(bin().arg("embed").arg(&photos).arg(&reference))
            .status
            .success()
    );

    let cache = tmp.path().join("killed.fsc");
    let mut child = bin()
        .args(["embed", "--flush-every", "1"])
        .arg(&photos)
        .arg(&cache)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let images_at_kill = loop {
        let n = fs_cache::Cache::open_read_only(&cache).map_or(0, |c| c.images().len());
        if n >= 5 || started.elapsed().as_secs() > 120 {
            break n;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        (5..64).contains(&images_at_kill),
        "killed with {images_at_kill} of 64 images done"
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
