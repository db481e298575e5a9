//! Photos as phones and cameras make them: every format read, upright, through the real
//! binary; hostile files of each format are errors, never crashes.
//!
//! The copies are made at test time from one fixture photo with Debian's tools
//! (`ImageMagick`'s `convert`, `heif-enc`, `avifenc`, `cjxl`; `.ci/run` installs them).
//! The rotated HEIC (`irot`) is checked in: Debian 12's `heif-enc` cannot write one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{face_sets, fixtures, run, stderr};
use serde_json::Value;

/// The photo every copy is made from: one face, 910×1137.
const SOURCE: &str = "images/f0009.jpg";
const SIZE: (u64, u64) = (910, 1137);

/// Runs a conversion tool, failing the test with how to install it when it is missing.
fn tool(program: &str, args: &[&std::ffi::OsStr]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} is needed to make the test photos ({e}); on Debian: apt-get install \
             imagemagick libheif-examples libavif-bin libjxl-tools"
            )
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `jpeg` with an EXIF segment saying "turn a quarter right to view" (orientation 6).
fn with_orientation_6(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
    for field in [274u16, 3] {
        tiff.extend_from_slice(&field.to_le_bytes());
    }
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&6u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A camera RAW file in miniature: a TIFF container (as DNG, NEF, ARW and CR2 are)
/// holding a thumbnail and the full JPEG preview.
fn raw_with_preview(preview: &[u8], thumbnail: &[u8]) -> Vec<u8> {
    let mut out = b"II*\0\x08\0\0\0\0\0\0\0\0\0".to_vec();
    out.extend_from_slice(thumbnail);
    out.extend_from_slice(&[0u8, 0xFF, 0xD8, 0xFF, 0x00, 0x13]); // a false start
    out.extend_from_slice(preview);
    out.extend_from_slice(&[0x5A; 4096]); // "sensor data"
    out
}

/// One copy of the source photo per format, made at test time; returns file → format.
fn make_photos(dir: &Path) -> BTreeMap<String, &'static str> {
    fs::create_dir_all(dir).unwrap();
    let source = fixtures().join(SOURCE);
    let at = |name: &str| dir.join(name).into_os_string();
    let src = source.as_os_str();
    tool("convert", &[src, &at("rgb8.tif")]);
    tool(
        "convert",
        &[src, "-depth".as_ref(), "16".as_ref(), &at("rgb16.tif")],
    );
    tool(
        "convert",
        &[
            src,
            "-colorspace".as_ref(),
            "CMYK".as_ref(),
            &at("cmyk.tif"),
        ],
    );
    tool(
        "convert",
        &[
            src,
            "-colorspace".as_ref(),
            "Gray".as_ref(),
            &at("grey.tif"),
        ],
    );
    tool("convert", &[src, &at("photo.bmp")]);
    tool(
        "convert",
        &[src, "-quality".as_ref(), "85".as_ref(), &at("photo.webp")],
    );
    tool("convert", &[src, &at("photo.gif")]);
    tool(
        "heif-enc",
        &[
            "-q".as_ref(),
            "85".as_ref(),
            src,
            "-o".as_ref(),
            &at("photo.heic"),
        ],
    );
    tool(
        "avifenc",
        &["-s".as_ref(), "8".as_ref(), src, &at("photo.avif")],
    );
    tool("cjxl", &[src, &at("photo.jxl")]);
    // Stored turned a quarter left, with EXIF orientation 6 to turn it back.
    let turned = dir.join("turned.jpg");
    tool(
        "convert",
        &[
            src,
            "-rotate".as_ref(),
            "-90".as_ref(),
            "-strip".as_ref(),
            turned.as_os_str(),
        ],
    );
    let bytes = fs::read(&turned).unwrap();
    fs::remove_file(&turned).unwrap();
    fs::write(dir.join("exif6.jpg"), with_orientation_6(&bytes)).unwrap();
    fs::copy(
        fixtures().join("formats/f0009_irot.heic"),
        dir.join("irot.heic"),
    )
    .unwrap();
    let thumb = dir.join("thumb.jpg");
    tool(
        "convert",
        &[src, "-resize".as_ref(), "160x".as_ref(), thumb.as_os_str()],
    );
    let thumbnail = fs::read(&thumb).unwrap();
    fs::remove_file(&thumb).unwrap();
    fs::write(
        dir.join("camera.dng"),
        raw_with_preview(&fs::read(&source).unwrap(), &thumbnail),
    )
    .unwrap();
    [
        ("rgb8.tif", "TIFF"),
        ("rgb16.tif", "TIFF"),
        ("cmyk.tif", "TIFF"),
        ("grey.tif", "TIFF"),
        ("photo.bmp", "BMP"),
        ("photo.webp", "WebP"),
        ("photo.gif", "GIF"),
        ("photo.heic", "HEIC"),
        ("photo.avif", "AVIF"),
        ("photo.jxl", "JPEG XL"),
        ("exif6.jpg", "JPEG"),
        ("irot.heic", "HEIC"),
        ("camera.dng", "RAW"),
    ]
    .into_iter()
    .map(|(f, k)| (f.to_string(), k))
    .collect()
}

fn inspect(cache: &Path) -> BTreeMap<String, Value> {
    let out = run(face_sets().args(["inspect", "--json"]).arg(cache));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .flat_map(|l| {
            // Every path of the record, aliases (byte-identical copies) included.
            let v: Value = serde_json::from_str(l).unwrap();
            let mut paths = vec![v["path"].clone()];
            paths.extend(v["aliases"].as_array().cloned().unwrap_or_default());
            paths
                .into_iter()
                .filter_map(|p| Some(p.as_str()?.rsplit('/').next()?.to_string()))
                .map(|name| (name, v.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_format_is_read_upright_with_its_one_face() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let expected = make_photos(&photos);
    fs::write(photos.join("notes.txt"), "not a photo").unwrap();
    let cache = tmp.path().join("c.fsc");
    let out = run(face_sets().arg("embed").arg(&photos).arg(&cache));
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{} photo files", expected.len())) && text.contains("0 errors"),
        "{text}"
    );
    assert!(
        text.contains(
            "formats: AVIF 1, BMP 1, GIF 1, HEIC 2, JPEG 1, JPEG XL 1, RAW 1, TIFF 4, WebP 1"
        ) && text.contains("skipped: 1 not photos (.txt)"),
        "{text}"
    );

    let summary = String::from_utf8(run(face_sets().arg("inspect").arg(&cache)).stdout).unwrap();
    assert!(
        summary.contains(
            "formats     AVIF 1, BMP 1, GIF 1, HEIC 2, JPEG 1, JPEG XL 1, RAW 1, TIFF 4, WebP 1"
        ),
        "{summary}"
    );

    // The source's own detection, for where the face is when upright.
    let reference = tmp.path().join("ref.fsc");
    let out = run(face_sets()
        .arg("embed")
        .arg(fixtures().join(SOURCE))
        .arg(&reference));
    assert!(out.status.success(), "{}", stderr(&out));
    let upright = inspect(&reference).into_values().next().unwrap();
    let kps = |v: &Value| -> Vec<[f64; 2]> {
        v["faces"][0]["kps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect()
    };
    let want = kps(&upright);

    let images = inspect(&cache);
    for (file, format) in &expected {
        let image = &images[file];
        assert_eq!(
            (
                image["width"].as_u64().unwrap(),
                image["height"].as_u64().unwrap()
            ),
            SIZE,
            "{file} ({format}) size"
        );
        assert_eq!(
            image["faces"].as_array().unwrap().len(),
            1,
            "{file} ({format}): {image}"
        );
        // Upright: every keypoint within a tenth of the face's eye distance of the
        // source's (lossy formats move them a little; a turned photo moves them hundreds
        // of pixels).
        let got = kps(image);
        let eyes = (want[1][0] - want[0][0]).hypot(want[1][1] - want[0][1]);
        for (g, w) in got.iter().zip(&want) {
            let off = (g[0] - w[0]).hypot(g[1] - w[1]);
            assert!(
                off < 0.1 * eyes,
                "{file} ({format}): keypoint {g:?} vs {w:?}"
            );
        }
    }
}

/// Copies of `bytes` cut short, with bytes flipped, and emptied.
fn damaged(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut flipped = bytes.to_vec();
    let n = flipped.len();
    for i in (n / 8..n).step_by((n / 64).max(1)) {
        flipped[i] ^= 0xA5;
    }
    vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("header only", bytes[..bytes.len().min(64)].to_vec()),
        ("bit-flipped", flipped),
        ("empty", Vec::new()),
    ]
}

#[test]
fn hostile_files_of_every_format_are_errors_naming_the_file_never_crashes() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    let expected = make_photos(&good);
    let bad = tmp.path().join("bad");
    fs::create_dir_all(&bad).unwrap();
    let mut made: Vec<PathBuf> = Vec::new();
    for file in expected.keys() {
        let bytes = fs::read(good.join(file)).unwrap();
        for (how, copy) in damaged(&bytes) {
            let path = bad.join(format!("{}-{file}", how.replace(' ', "_")));
            fs::write(&path, copy).unwrap();
            made.push(path);
        }
    }
    // A BMP header claiming 60000×60000 pixels (10 GB decoded) and nothing else.
    let mut huge = b"BM".to_vec();
    huge.extend_from_slice(&[0; 12]);
    huge.extend_from_slice(&40u32.to_le_bytes());
    huge.extend_from_slice(&60_000i32.to_le_bytes());
    huge.extend_from_slice(&60_000i32.to_le_bytes());
    huge.extend_from_slice(&1u16.to_le_bytes());
    huge.extend_from_slice(&24u16.to_le_bytes());
    huge.extend_from_slice(&[0; 24]);
    fs::write(bad.join("huge.bmp"), &huge).unwrap();
    // A JPEG that says it is HEIC by name.
    fs::copy(fixtures().join(SOURCE), bad.join("misnamed.heic")).unwrap();

    let cache = tmp.path().join("c.fsc");
    let start = std::time::Instant::now();
    let out = run(face_sets().arg("embed").arg(&bad).arg(&cache));
    let text = stderr(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the run goes on past bad files: {text}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_mins(5),
        "hostile files must not hang the run"
    );
    let images = inspect(&cache);
    let failed = |name: &str| {
        text.contains(name) || images.get(name).is_some_and(|v| v["error"].is_string())
    };
    for path in &made {
        let name = path.file_name().unwrap().to_string_lossy();
        // A RAW file cut in half still holds its thumbnail, which is read instead.
        let whole_or_nothing = !name.starts_with("truncated") || !name.ends_with(".dng");
        if (name.starts_with("empty")
            || name.starts_with("header_only")
            || name.starts_with("truncated"))
            && whole_or_nothing
        {
            assert!(failed(&name), "{name} is reported as an error: {text}");
        }
    }
    for (file, format) in [
        ("truncated-photo.heic", "HEIC"),
        ("truncated-photo.avif", "AVIF"),
        ("truncated-rgb8.tif", "TIFF"),
        ("truncated-photo.jxl", "JPEG XL"),
    ] {
        assert!(
            text.contains(&format!("{file}: cannot decode {format}")),
            "the error names the format: {text}"
        );
    }
    assert!(
        text.contains("huge.bmp") && (text.contains("too large") || text.contains("limit")),
        "{text}"
    );
    let summary = String::from_utf8(run(face_sets().arg("inspect").arg(&cache)).stdout).unwrap();
    assert!(
        summary.contains("  undecodable ") && summary.contains("HEIC "),
        "{summary}"
    );
    // A JPEG named .heic is read for what it is.
    assert_eq!(
        images["truncated-camera.dng"]["width"].as_u64(),
        Some(160),
        "the thumbnail of a cut RAW file"
    );
    assert_eq!(
        images["misnamed.heic"]["faces"].as_array().map(Vec::len),
        Some(1),
        "{text}"
    );
    // Every file was looked at, and each damaged one either decoded or is an error.
    for path in &made {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            images.contains_key(&name) || failed(&name),
            "{name} is neither in the cache nor reported"
        );
    }
}

#[test]
fn symlinked_directories_are_counted_or_followed_and_loops_end() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir_all(&photos).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    fs::copy(fixtures().join("images/f0001.jpg"), photos.join("a.jpg")).unwrap();
    fs::copy(fixtures().join("images/f0002.jpg"), elsewhere.join("b.jpg")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, photos.join("linked")).unwrap();
    std::os::unix::fs::symlink(&photos, elsewhere.join("back")).unwrap();

    let out = run(face_sets()
        .arg("embed")
        .arg(&photos)
        .arg(tmp.path().join("plain.fsc")));
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 photo files")
            && text.contains("skipped: 1 symlinked directories (--follow enters them)"),
        "{text}"
    );

    let out = run(face_sets()
        .args(["embed", "--follow"])
        .arg(&photos)
        .arg(tmp.path().join("followed.fsc")));
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("2 photo files") && text.contains("1 symlinks looping back to a parent"),
        "{text}"
    );
}
