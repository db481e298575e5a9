//! Result folders: photos put in by copy, hard link or symlink, named after the
//! flattened absolute source path (sources are only read), and the one writer of each
//! result's manifest ([`write_raw`], [`write_refine`]).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, io_err};
use crate::faces::FaceRow;
use crate::manifest::{self, RAW_MANIFEST, REFINE_MANIFEST, RawManifest, RefineManifest};

/// The folder of a raw result's faces that joined no cluster.
pub const SINGLETONS: &str = "_singletons";
/// The folder of a raw result's photos without a face.
pub const NOFACE: &str = "_noface";

/// How a photo appears in a result folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// An independent copy (safe anywhere; the default).
    #[default]
    Copy,
    /// A hard link (no extra space; same file system only).
    Hardlink,
    /// A symbolic link to the absolute source path.
    Symlink,
}

/// Longest file name written, in bytes (most file systems allow 255).
const MAX_NAME: usize = 200;

/// The destination name of a source: its absolute path flattened (`/` → `__`), so the
/// same photo gets the same name on every run whatever the source root was. Names too
/// long for a file system keep their end and gain a hash of the whole path.
pub fn safe_dst_name(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = abs.to_string_lossy();
    let mut name = String::with_capacity(text.len());
    for c in text.trim_start_matches(['/', '\\']).chars() {
        match c {
            '/' | '\\' => name.push_str("__"),
            ':' | '\0' => name.push('_'),
            c if c.is_control() => name.push('_'),
            c => name.push(c),
        }
    }
    if name.len() <= MAX_NAME {
        return name;
    }
    let digest = blake3::hash(text.as_bytes()).to_hex();
    let mut start = name.len() - (MAX_NAME - 17);
    while !name.is_char_boundary(start) {
        start += 1;
    }
    format!("{}_{}", &digest[..16], &name[start..])
}

/// Places `src` in `dir` under its safe name; returns whether a new file was made
/// (an existing entry with that name is left as it is).
pub fn place(src: &Path, dir: &Path, mode: Mode) -> Result<bool> {
    let dst = dir.join(safe_dst_name(src));
    if dst.symlink_metadata().is_ok() {
        return Ok(false);
    }
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    match mode {
        Mode::Copy => {
            let tmp: PathBuf = dir.join(format!(".{}.tmp", std::process::id()));
            fs::copy(src, &tmp)
                .and_then(|_| fs::rename(&tmp, &dst))
                .inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })
                .map_err(io_err(src, "copy"))?;
        }
        Mode::Hardlink => fs::hard_link(src, &dst).map_err(io_err(src, "hard-link"))?,
        Mode::Symlink => {
            let target = std::path::absolute(src).map_err(io_err(src, "resolve"))?;
            symlink(&target, &dst).map_err(io_err(src, "symlink"))?;
        }
    }
    Ok(true)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// What writing a result did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Files placed this run.
    pub placed: usize,
    /// Files already there.
    pub existing: usize,
}

/// What `out` may hold before a result is written to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// Nothing, or this exact result (then files are only added if missing); anything
    /// else is refused with [`crate::Error::Conflict`].
    Nothing,
    /// An earlier result this one extends: new files are added, the manifest replaced.
    Earlier,
}

/// Writes a `cluster` result: `person_NNN/`, `_singletons/`, `_noface/` and
/// `manifest.json` under `out`. The only writer of a raw manifest.
pub fn write_raw(
    out: &Path,
    manifest: &RawManifest,
    mode: Mode,
    over: Over,
) -> Result<WriteSummary> {
    if over == Over::Nothing {
        manifest::check_out_dir(out, RAW_MANIFEST, manifest)?;
    }
    let summary = place_raw(out, manifest, mode)?;
    fs::create_dir_all(out).map_err(io_err(out, "create output directory"))?;
    manifest::write_json(&out.join(RAW_MANIFEST), manifest)?;
    Ok(summary)
}

/// Writes a `refine` result: `faceset_NNN/` and `refine_manifest.json` under `out`.
/// The only writer of a refine manifest.
pub fn write_refine(
    out: &Path,
    manifest: &RefineManifest,
    mode: Mode,
    over: Over,
) -> Result<WriteSummary> {
    if over == Over::Nothing {
        manifest::check_out_dir(out, REFINE_MANIFEST, manifest)?;
    }
    let mut summary = WriteSummary::default();
    for faceset in &manifest.facesets {
        for path in unique_paths(&faceset.faces) {
            summary.count(place(path, &out.join(&faceset.name), mode)?);
        }
    }
    fs::create_dir_all(out).map_err(io_err(out, "create output directory"))?;
    manifest::write_json(&out.join(REFINE_MANIFEST), manifest)?;
    Ok(summary)
}

/// Places every path of every face (each photo once per folder) and of no-face photos.
fn place_raw(out: &Path, manifest: &RawManifest, mode: Mode) -> Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    for cluster in &manifest.clusters {
        for path in unique_paths(&cluster.faces) {
            summary.count(place(path, &out.join(&cluster.name), mode)?);
        }
    }
    for path in unique_paths(&manifest.singletons) {
        summary.count(place(path, &out.join(SINGLETONS), mode)?);
    }
    for path in &manifest.noface {
        summary.count(place(path, &out.join(NOFACE), mode)?);
    }
    Ok(summary)
}

impl WriteSummary {
    fn count(&mut self, placed: bool) {
        if placed {
            self.placed += 1;
        } else {
            self.existing += 1;
        }
    }
}

fn unique_paths(faces: &[FaceRow]) -> BTreeSet<&Path> {
    faces
        .iter()
        .flat_map(|f| f.paths.iter().map(std::path::PathBuf::as_path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flatten_absolute_paths_and_stay_short() {
        assert_eq!(
            safe_dst_name(Path::new("/mnt/x/src/a b.jpg")),
            "mnt__x__src__a b.jpg"
        );
        let long = format!("/{}/photo.jpg", "d".repeat(400));
        let name = safe_dst_name(Path::new(&long));
        assert!(
            name.len() <= MAX_NAME && name.ends_with("photo.jpg"),
            "{name}"
        );
        assert_ne!(
            name,
            safe_dst_name(Path::new(&format!("/{}/photo.jpg", "e".repeat(400))))
        );
    }

    #[test]
    fn every_mode_places_once_and_leaves_the_source_alone() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.jpg");
        fs::write(&src, b"photo").unwrap();
        for (i, mode) in [Mode::Copy, Mode::Hardlink, Mode::Symlink]
            .into_iter()
            .enumerate()
        {
            let out = dir.path().join(format!("out{i}"));
            assert!(place(&src, &out, mode).unwrap());
            assert!(!place(&src, &out, mode).unwrap());
            assert_eq!(fs::read(out.join(safe_dst_name(&src))).unwrap(), b"photo");
            assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "no temp files left");
        }
        assert_eq!(fs::read(&src).unwrap(), b"photo");
    }
}
