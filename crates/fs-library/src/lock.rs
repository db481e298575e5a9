//! One writer at a time across processes: an advisory lock on `library.lock` (the
//! operating system's file lock, released when its holder exits, however it exits),
//! holding the holder's name and process id so a second writer can say who it waits
//! for.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The lock file's name, in the library folder.
pub const LOCK_FILE: &str = "library.lock";

/// Who is writing, as the lock file says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder(pub String);

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lock, held until dropped.
#[derive(Debug)]
pub(crate) struct WriterLock {
    file: File,
}

impl WriterLock {
    /// Takes the lock of the library in `dir` for `name`, waiting up to `timeout` for
    /// another writer; `on_busy` is told once who that is.
    pub(crate) fn acquire(
        dir: &Path,
        name: &str,
        timeout: Duration,
        on_busy: &dyn Fn(&Holder),
    ) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let io = |action: &'static str, path: &PathBuf| {
            let path = path.clone();
            move |source| Error::Io {
                path,
                action,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("open the lock file", &path))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if start.elapsed() >= timeout {
                        return Err(Error::Busy {
                            holder: holder.0,
                            waited: timeout,
                        });
                    }
                    if !told {
                        on_busy(&holder);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(Error::Io {
                        path,
                        action: "lock",
                        source,
                    });
                }
            }
        }
        let me = format!("{name}, pid {}", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(me.as_bytes()))
            .map_err(io("write the lock file", &path))?;
        Ok(Self { file })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Emptied first, so a reader never names a writer that has gone.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Who holds the lock, as its file says ("a face-sets program" when it says nothing
/// yet: the holder has just taken it).
fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(200).read_to_string(&mut text));
    let text = text.trim();
    Holder(if text.is_empty() {
        "a face-sets program".into()
    } else {
        text.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_lock_and_gives_up_after_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            WriterLock::acquire(dir.path(), "face-sets review", Duration::ZERO, &|_| {}).unwrap();
        let told = std::cell::RefCell::new(None);
        let err = WriterLock::acquire(
            dir.path(),
            "face-sets run",
            Duration::from_millis(100),
            &|h| {
                *told.borrow_mut() = Some(h.clone());
            },
        )
        .unwrap_err();
        let expected = format!("face-sets review, pid {}", std::process::id());
        assert_eq!(told.borrow().as_ref().unwrap().0, expected);
        assert!(err.to_string().contains(&expected), "{err}");
        drop(first);
        WriterLock::acquire(dir.path(), "face-sets run", Duration::ZERO, &|_| {}).unwrap();
    }
}
