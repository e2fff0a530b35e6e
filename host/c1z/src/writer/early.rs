//! Compressing while the lookup indexes are built. Building them is SQLite's work on one
//! thread; it appends new pages and leaves the rows' pages as they are, so those pages are
//! compressed on the other cores meanwhile, straight into the staging file. The file is then
//! three zstd frames, which every zstd reader (baton's included) reads as one stream:
//!
//! ```text
//! C1ZF\0 | page 1 | size note (skippable frame, pads the room left for page 1) | the rows' pages | the new pages
//! ```
//!
//! Page 1 (the schema and the file header, which the index build changes) is compressed last,
//! into room kept for it; the skippable frame after it fills what is left of that room and
//! records the whole database's size. The rows' pages are checked after the build (a CRC of
//! what was compressed against what is there now); if any changed, the file is compressed
//! again from the start, so the result never depends on SQLite keeping them.

use super::package::{RemoveOnDrop, compression_threads, create_staging_file, encoder, put_in_place, staging_path};
use super::{WriteError, io_err};
use crate::C1Z_V1_MAGIC;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Below this many bytes of rows the whole file is compressed after the build. Measured
/// (BENCHMARKS.md, 5 ms added): on the 1M-grant site (1 GB of database) 6% off a first sync and
/// 9% off one replacing a file, for 25-30 MiB more peak memory (zstd's buffers beside SQLite's
/// sort); on the 100k site no faster, and 22 MiB more.
pub(super) const EARLY_MIN_BYTES: u64 = 256 << 20;
/// Bytes kept after the magic for page 1's frame and the size note. Page 1 (the file header
/// and the schema's SQL, ~3.5 KB of text) compresses to about 1.2 KiB; one that does not fit
/// sends the file down the plain path.
const HEAD_ROOM: u64 = 4096;
/// First word of a zstd skippable frame (any of 16 values; readers skip all of them).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5B;
/// What the size note's payload starts with, before the database's size (u64, little-endian).
const SIZE_NOTE_TAG: &[u8; 8] = b"C1ZSIZE\0";
/// Bytes read from the database at a time (the stop flag is checked between reads).
const READ_BYTES: usize = 1 << 20;

/// The rows' pages being compressed into the staging file on other threads.
pub(super) struct EarlyCompression {
    staging: PathBuf,
    page_size: u64,
    /// End of the rows' pages (the database's size when the build started).
    stable_end: u64,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<io::Result<(File, u32)>>>,
}

impl EarlyCompression {
    /// Starts compressing `db_path`'s pages after the first up to its present size into the
    /// staging file of `out`; none when there are too few to be worth it (`min_bytes`).
    pub(super) fn start(db_path: &Path, page_size: u64, out: &Path, min_bytes: u64) -> Result<Option<EarlyCompression>, WriteError> {
        let stable_end = fs::metadata(db_path).map(|m| m.len()).map_err(io_err("reading the size of", db_path))?;
        if stable_end < page_size + min_bytes {
            return Ok(None);
        }
        let staging = staging_path(out);
        let mut file = create_staging_file(&staging)?;
        let reserve = |file: &mut File| -> io::Result<()> {
            file.write_all(C1Z_V1_MAGIC)?;
            file.seek(SeekFrom::Start(C1Z_V1_MAGIC.len() as u64 + HEAD_ROOM)).map(drop)
        };
        if let Err(error) = reserve(&mut file) {
            let _ = fs::remove_file(&staging);
            return Err(io_err("writing", &staging)(error));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (db, flag) = (db_path.to_path_buf(), Arc::clone(&stop));
        let worker = std::thread::Builder::new()
            .name("c1z-early-zstd".into())
            .spawn(move || compress_range(&db, page_size, stable_end, file, &flag))
            .map_err(io_err("starting a compression thread for", &staging))?;
        Ok(Some(EarlyCompression { staging, page_size, stable_end, stop, worker: Some(worker) }))
    }

    /// Completes the file once the database is finished (`db_len` bytes): waits for the rows'
    /// pages, checks them, appends the new pages, writes page 1 into its room, and renames the
    /// staged file over `out`. Returns the file's size, or none when the rows' pages changed
    /// during the build or page 1 does not fit its room (the staged file is removed; the caller
    /// compresses from the start).
    pub(super) fn finish(mut self, db_path: &Path, db_len: u64, out: &Path) -> Result<Option<u64>, WriteError> {
        let mut guard = RemoveOnDrop::armed(&self.staging);
        let worker = self.worker.take().expect("the worker is taken once, here");
        let joined = worker.join().unwrap_or_else(|_| Err(io::Error::other("the compression thread panicked")));
        let (mut file, crc) = joined.map_err(io_err("writing", &self.staging))?;
        if db_len < self.stable_end || range_crc(db_path, self.page_size, self.stable_end).map_err(io_err("reading", db_path))? != crc {
            tracing::warn!("the database's row pages changed while its indexes were built; compressing the whole file again");
            return Ok(None);
        }
        let Some(head) = head_frames(db_path, self.page_size, db_len).map_err(io_err("reading", db_path))? else {
            tracing::warn!("the database's first page did not fit the room kept for it; compressing the whole file again");
            return Ok(None);
        };
        let complete = |file: &mut File| -> io::Result<()> {
            let mut tail = encoder(&mut *file, db_len - self.stable_end, compression_threads())?;
            io::copy(&mut range(db_path, self.stable_end, db_len)?, &mut tail)?;
            tail.finish()?;
            file.seek(SeekFrom::Start(C1Z_V1_MAGIC.len() as u64))?;
            file.write_all(&head)
        };
        complete(&mut file).map_err(io_err("writing", &self.staging))?;
        put_in_place(file, &mut guard, out).map(Some)
    }
}

impl Drop for EarlyCompression {
    /// An unfinished one (the build failed): stop the thread, remove the staged file.
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.stop.store(true, Ordering::Relaxed);
            let _ = worker.join();
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// Bytes `start..end` of the database.
fn range(db_path: &Path, start: u64, end: u64) -> io::Result<io::Take<File>> {
    let mut db = File::open(db_path)?;
    db.seek(SeekFrom::Start(start))?;
    Ok(db.take(end - start))
}

/// A reader that keeps the CRC-32 of what passed through it.
struct Crc<R> {
    inner: R,
    hasher: crc32fast::Hasher,
}

impl<R> Crc<R> {
    fn of(inner: R) -> Crc<R> {
        Crc { inner, hasher: crc32fast::Hasher::new() }
    }
}

impl<R: Read> Read for Crc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The worker: bytes `page_size..end` of the database as one frame into `file` (positioned
/// after the head room); the file and the CRC of what it compressed.
fn compress_range(db_path: &Path, page_size: u64, end: u64, mut file: File, stop: &AtomicBool) -> io::Result<(File, u32)> {
    let mut source = Crc::of(range(db_path, page_size, end)?);
    // One core is the index build's; zstd's buffers grow with its workers (about 20 MB each).
    let mut frame = encoder(&mut file, end - page_size, compression_threads().saturating_sub(1).max(1))?;
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped: the sync's finish failed"));
        }
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        frame.write_all(&buf[..n])?;
    }
    frame.finish()?;
    Ok((file, source.hasher.finalize()))
}

/// The CRC-32 of bytes `page_size..end` of the database as they are now.
fn range_crc(db_path: &Path, page_size: u64, end: u64) -> io::Result<u32> {
    let mut source = Crc::of(range(db_path, page_size, end)?);
    io::copy(&mut source, &mut io::sink())?;
    Ok(source.hasher.finalize())
}

/// What fills the room after the magic: page 1 as a frame, then the size note (a skippable
/// frame to the end of the room); none when page 1's frame leaves no room for the note.
fn head_frames(db_path: &Path, page_size: u64, db_len: u64) -> io::Result<Option<Vec<u8>>> {
    let mut page = vec![0u8; page_size as usize];
    File::open(db_path)?.read_exact(&mut page)?;
    let mut frames = Vec::new();
    let mut head = encoder(&mut frames, page_size, 0)?;
    head.write_all(&page)?;
    head.finish()?;
    let room = HEAD_ROOM as usize;
    let Some(note_len) = room.checked_sub(frames.len() + 8).filter(|len| *len >= 16) else { return Ok(None) };
    frames.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
    frames.extend_from_slice(&(note_len as u32).to_le_bytes());
    frames.extend_from_slice(SIZE_NOTE_TAG);
    frames.extend_from_slice(&db_len.to_le_bytes());
    frames.resize(room, 0);
    Ok(Some(frames))
}

/// The database size a file's size note records, given the file's first [`head_bytes`] bytes;
/// none for a file of one frame.
pub(super) fn noted_database_size(start: &[u8]) -> Option<u64> {
    let frames = start.strip_prefix(C1Z_V1_MAGIC.as_slice())?;
    let first = zstd::zstd_safe::find_frame_compressed_size(frames).ok()?;
    let note = frames.get(first..first + 24)?;
    let word = |at: usize| u32::from_le_bytes(note[at..at + 4].try_into().expect("four bytes"));
    (word(0) == SKIPPABLE_MAGIC && &note[8..16] == SIZE_NOTE_TAG).then(|| u64::from_le_bytes(note[16..24].try_into().expect("eight bytes")))
}

/// How many bytes from the start of a file [`noted_database_size`] needs.
pub(super) fn head_bytes() -> usize {
    C1Z_V1_MAGIC.len() + HEAD_ROOM as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// A database of `rows` rows of 500 bytes on 16 KiB pages, no page free.
    fn database(dir: &Path, rows: u32) -> (PathBuf, Connection) {
        let path = dir.join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB);").unwrap();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO t (k, v) SELECT 'key-' || i, randomblob(250) || zeroblob(250) FROM n",
            [rows],
        )
        .unwrap();
        (path, conn)
    }

    fn decompressed(c1z: &Path) -> Vec<u8> {
        let bytes = fs::read(c1z).unwrap();
        zstd::stream::decode_all(bytes.strip_prefix(C1Z_V1_MAGIC.as_slice()).expect("magic")).unwrap()
    }

    #[test]
    fn a_file_compressed_while_the_indexes_build_holds_the_finished_database() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path(), 20_000);
        let out = dir.path().join("sync.c1z");
        let early = EarlyCompression::start(&db, 16384, &out, 0).unwrap().expect("started");
        conn.execute_batch("CREATE INDEX t_k ON t (k); CREATE INDEX t_v ON t (v);").unwrap();
        drop(conn);
        let db_len = fs::metadata(&db).unwrap().len();
        assert!(db_len > early.stable_end, "the build appended pages");
        let written = early.finish(&db, db_len, &out).unwrap().expect("finished early");

        assert_eq!(fs::metadata(&out).unwrap().len(), written);
        assert_eq!(decompressed(&out), fs::read(&db).unwrap(), "the file is the database, byte for byte");
        let head = &fs::read(&out).unwrap()[..head_bytes()];
        assert_eq!(noted_database_size(head), Some(db_len));
        assert_eq!(zstd::zstd_safe::get_frame_content_size(&head[5..]).unwrap(), Some(16384), "page 1 alone in the first frame");
        assert!(!staging_path(&out).exists());
    }

    #[test]
    fn rows_changed_during_the_build_send_the_file_down_the_plain_path() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path(), 5_000);
        let out = dir.path().join("sync.c1z");
        let early = EarlyCompression::start(&db, 16384, &out, 0).unwrap().expect("started");
        // Changed after it was compressed (one changed before is compressed as it is then).
        while !early.worker.as_ref().unwrap().is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        conn.execute("UPDATE t SET v = zeroblob(500) WHERE id = 2500", []).unwrap();
        drop(conn);
        let db_len = fs::metadata(&db).unwrap().len();
        assert_eq!(early.finish(&db, db_len, &out).unwrap(), None, "a changed row page is noticed");
        assert!(!out.exists() && !staging_path(&out).exists(), "nothing is left: the caller compresses the whole file");
    }

    #[test]
    fn a_small_database_or_a_failed_build_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _conn) = database(dir.path(), 100);
        let out = dir.path().join("sync.c1z");
        assert!(EarlyCompression::start(&db, 16384, &out, EARLY_MIN_BYTES).unwrap().is_none(), "too small to be worth it");
        let early = EarlyCompression::start(&db, 16384, &out, 0).unwrap().expect("started");
        drop(early);
        assert!(!staging_path(&out).exists(), "the staged file goes with an unfinished compression");
    }

    #[test]
    fn a_file_of_one_frame_has_no_size_note() {
        let mut file = C1Z_V1_MAGIC.to_vec();
        file.extend(zstd::stream::encode_all(&[7u8; 50_000][..], 3).unwrap());
        assert_eq!(noted_database_size(&file[..head_bytes().min(file.len())]), None);
        assert_eq!(noted_database_size(b"C1ZF\0"), None);
    }
}
