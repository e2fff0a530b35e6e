//! One sync at a time per output file: an advisory lock (`flock`) on `.<name>.lock` beside it,
//! held for the whole sync, covering the file and its `.<name>.partial` checkpoint. Whoever holds
//! it wrote its process id into the file, so a second run can say who it waits for. The kernel
//! drops a lock when its holder dies (`kill -9` included), so a lock file left behind by a killed
//! run is simply taken by the next one: there are no stale locks to clean up. The holder removes
//! the file when it is done; a run that locked a file already removed (it opened it just before)
//! sees that the path names another file now, and tries again.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock of one output file, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked: whoever opens the path next makes a new file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("another sync{} is writing {out}", holder.map(|pid| format!(" (process {pid})")).unwrap_or_default())]
    Held {
        out: PathBuf,
        /// The process id the holder wrote, when it could be read.
        holder: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {source}; check the folder's permissions")]
    Io { path: PathBuf, source: std::io::Error },
}

/// `.<name>.lock` beside `out`.
pub fn lock_path(out: &Path) -> PathBuf {
    crate::hidden_beside(out, "lock")
}

impl OutputLock {
    /// Takes the lock of `out` at once, or says who holds it.
    pub fn try_acquire(out: &Path) -> Result<OutputLock, LockError> {
        let path = lock_path(out);
        let io = |source| LockError::Io { path: path.clone(), source };
        for _ in 0..8 {
            let mut file = open_private(&path).map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let holder = file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse().ok());
                    return Err(LockError::Held { out: out.to_path_buf(), holder });
                }
                Err(TryLockError::Error(source)) => return Err(io(source)),
            }
            if !still_named(&file, &path) {
                continue;
            }
            file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id())).and_then(|()| file.flush()).map_err(io)?;
            return Ok(OutputLock { file, path });
        }
        Err(io(std::io::Error::other("the lock file keeps being replaced")))
    }
}

/// Whether `path` still names the open `file` (its holder may have removed it meanwhile).
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// The lock file, created readable by this user only, never through a link.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_told_who_holds_the_file_and_gets_it_once_freed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let first = OutputLock::try_acquire(&out).unwrap();
        match OutputLock::try_acquire(&out) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(first);
        OutputLock::try_acquire(&out).unwrap();
    }

    #[test]
    fn a_lock_file_left_by_a_dead_run_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        std::fs::write(lock_path(&out), "999999").unwrap();
        let lock = OutputLock::try_acquire(&out).unwrap();
        assert_eq!(std::fs::read_to_string(lock_path(&out)).unwrap(), std::process::id().to_string());
        drop(lock);
        assert!(!lock_path(&out).exists(), "the holder removes the file when done");
    }
}
