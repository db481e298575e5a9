//! Replacing a file so that readers, and a crash, see the old bytes or the new ones.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to a temp file beside `path`, syncs it, renames it over `path` and
/// syncs the directory so the rename itself is durable. On failure the temp file is
/// removed and `path` is left as it was, except when only the directory sync failed:
/// then `path` holds the new bytes, but they are not known to be durable.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    rename_into(path, bytes, true)
}

/// Replaces `path` with `bytes` through a temp file and a rename, without syncing: a
/// reader sees the old bytes or the new ones, but a crash may leave the old. For files
/// that can be made again (thumbnails), where a sync per file would cost more than the
/// file.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    rename_into(path, bytes, false)
}

/// Temp files made so far: each call's is its own, since threads of one process may
/// replace the same file at once.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn rename_into(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp_name.push(format!(".{}.{call}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if !durable {
            return Ok(());
        }
        // The rename is durable once its directory is synced. Some file systems cannot
        // sync a directory at all (they answer "invalid input" or "unsupported"); there
        // the rename is as durable as they make it.
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) =>
            {
                Err(e)
            }
            _ => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// [`write`], unless `path` already holds exactly `bytes`: then nothing is written and
/// its modification time stays (views rewritten after every change touch only what
/// changed).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    write(path, bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        super::write(&path, b"old").unwrap();
        super::write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        super::write_if_changed(&path, b"new").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        super::write_if_changed(&path, b"newer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"newer");
        super::replace(&path, b"again").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A write into a missing folder fails and creates nothing.
        assert!(super::write(&dir.path().join("missing/x"), b"x").is_err());
    }
}
