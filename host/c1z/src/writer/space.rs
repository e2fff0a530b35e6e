//! A full output folder: telling a lack of space (SQLite's "database or disk is full",
//! `ENOSPC`, a quota's `EDQUOT`) from other failures, and saying what the operator needs to
//! know to fix it: which folder, what is free there, and about how much more this sync needs.
//!
//! The estimate is the sizes of what this sync still has to write: its database grows to about
//! the size of the last sync's (read from the previous file's zstd header, which records it),
//! and the finished file is about as large as the previous one (or an eighth of its database,
//! the least compression measured, when there is none).

use super::early::{head_bytes, noted_database_size};
use super::package::{file_len, output_dir};
use super::{C1zWriter, WriteError};
use crate::C1Z_V1_MAGIC;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The least compression measured for a sync's database (BENCHMARKS.md: 14-17x).
const WORST_RATIO: u64 = 8;
/// What an estimate says at least beyond what is free.
const MORE_THAN_FREE: u64 = 1 << 20;

/// Whether `error` is a lack of space (or quota) where the writer writes.
pub(super) fn is_out_of_space(error: &WriteError) -> bool {
    match error {
        WriteError::Sqlite { source, .. } => source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
        WriteError::Io { source, .. } => is_full_io(source),
        _ => false,
    }
}

fn is_full_io(error: &io::Error) -> bool {
    #[cfg(unix)]
    if matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
        return true;
    }
    error.kind() == io::ErrorKind::StorageFull || error.kind() == io::ErrorKind::QuotaExceeded
}

/// What the writer knows about the space it needs, taken before a failure is explained.
pub(super) struct SpaceNeeds {
    folder: PathBuf,
    database: PathBuf,
    out: PathBuf,
    resumable: bool,
}

/// Which part of the work failed for want of space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Stage {
    /// Rows and checkpoints: the database is still growing.
    Rows,
    /// The end: indexes, compression, the rename.
    Finish,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::Rows => "storing the sync's rows",
            Stage::Finish => "finishing the file",
        }
    }
}

impl SpaceNeeds {
    pub(super) fn of(writer: &C1zWriter) -> SpaceNeeds {
        SpaceNeeds::before_start(&writer.out, writer.db_path.clone(), writer.is_resumable())
    }

    /// For a writer not yet made: its output and where its database is (or will be).
    pub(super) fn before_start(out: &Path, database: PathBuf, resumable: bool) -> SpaceNeeds {
        SpaceNeeds { folder: output_dir(out).unwrap_or_else(|_| PathBuf::from(".")), database, out: out.to_path_buf(), resumable }
    }

    /// `error` as [`WriteError::OutOfSpace`] when it is a lack of space; otherwise unchanged.
    pub(super) fn explain(&self, stage: Stage, error: WriteError) -> WriteError {
        if !is_out_of_space(&error) {
            return error;
        }
        let during = match &error {
            WriteError::Sqlite { action, .. } | WriteError::Io { action, .. } => *action,
            _ => "writing",
        };
        let free = free_bytes(&self.folder).unwrap_or(0);
        WriteError::OutOfSpace {
            folder: self.folder.clone(),
            stage: stage.describe(),
            during,
            free_bytes: free,
            // It did not fit in what is free: whatever the estimate, more than that is needed.
            needed_bytes: self.needed_bytes().max(free + MORE_THAN_FREE),
            resumable: self.resumable,
        }
    }

    /// About how many more bytes this sync needs in the folder to finish: the growth of its
    /// database to the size of the last sync's (with no last sync, by half again, for the
    /// indexes built at the end) and the compressed file.
    fn needed_bytes(&self) -> u64 {
        let database_now = database_bytes(&self.database);
        let previous_file = file_len(&self.out).ok();
        let previous_database = previous_file.and_then(|_| recorded_content_size(&self.out));
        let final_database = match previous_database {
            Some(previous) => database_now.max(previous),
            None => database_now + database_now / 2,
        };
        let file = match (previous_file, previous_database) {
            (Some(file), Some(database)) if database > 0 => final_database.saturating_mul(file) / database,
            _ => final_database / WORST_RATIO,
        };
        (final_database - database_now) + file
    }
}

/// The database and its journal, as they stand.
fn database_bytes(database: &Path) -> u64 {
    let mut journal = database.as_os_str().to_owned();
    journal.push("-journal");
    file_len(database).unwrap_or(0) + file_len(Path::new(&journal)).unwrap_or(0)
}

/// The uncompressed size a `.c1z` records: in the size note of a file of several frames
/// (`early`), else in its one zstd frame's header (our writer always records it; other writers
/// may not).
fn recorded_content_size(c1z: &Path) -> Option<u64> {
    let mut head = Vec::with_capacity(head_bytes());
    File::open(c1z).ok()?.take(head_bytes() as u64).read_to_end(&mut head).ok()?;
    let frame = head.strip_prefix(C1Z_V1_MAGIC.as_slice())?;
    noted_database_size(&head).or_else(|| zstd::zstd_safe::get_frame_content_size(frame).ok().flatten())
}

/// Bytes this user may still write in `folder`.
pub(super) fn free_bytes(folder: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(folder).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        None
    }
}

/// `bytes` for a person: `812 KiB`, `23.4 MiB`, `1.2 GiB`.
pub(super) fn human(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{} KiB", (b / KIB).ceil() as u64)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_file_system_shortages_are_told_from_other_failures() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(is_out_of_space(&WriteError::Sqlite { action: "committing", source: full }));
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(!is_out_of_space(&WriteError::Sqlite { action: "committing", source: busy }));
        let io = |errno| WriteError::Io { action: "writing", path: "x".into(), source: io::Error::from_raw_os_error(errno) };
        assert!(is_out_of_space(&io(libc::ENOSPC)) && is_out_of_space(&io(libc::EDQUOT)));
        assert!(!is_out_of_space(&io(libc::EACCES)));
    }

    #[test]
    fn the_estimate_follows_the_previous_file_and_the_growth_still_to_come() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let database = dir.path().join("db");
        std::fs::write(&database, vec![1u8; 100_000]).unwrap();
        let needs = SpaceNeeds { folder: dir.path().into(), database: database.clone(), out: out.clone(), resumable: true };
        // No previous file: half again for the indexes; the file an eighth of the database.
        assert_eq!(needs.needed_bytes(), 50_000 + 18_750);
        // A previous file whose database was 400,000 bytes, compressed to 40,000.
        let compressed = zstd::bulk::compress(&vec![7u8; 400_000], 1).unwrap();
        let mut c1z = C1Z_V1_MAGIC.to_vec();
        c1z.extend_from_slice(&compressed);
        c1z.resize(40_000, 0);
        std::fs::write(&out, &c1z).unwrap();
        assert_eq!(recorded_content_size(&out), Some(400_000));
        assert_eq!(needs.needed_bytes(), 300_000 + 40_000);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(1), "1 KiB");
        assert_eq!(human(5 << 20), "5.0 MiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
