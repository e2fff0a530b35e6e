//! The finished database into the `.c1z` file: compressed with zstd on every core into a
//! staging file beside the output, synced, and renamed over the output, so a reader sees the
//! old file or the new one, never half of one.

use super::{WriteError, io_err, memory};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::C1Z_V1_MAGIC;

/// zstd level for the payload (any level is readable). Chosen by measurement on a 100k-grant
/// sync's database (85 MB; BENCHMARKS.md): level 3 gives 6.2 MB in 0.2 s, level 6 5.0 MB in
/// 0.7 s on one core (smaller than the Go connector's file for the same data), level 9 4.7 MB
/// in 1.1 s and twice the memory.
const ZSTD_LEVEL: i32 = 6;

/// The directory that holds `out` (`.` for a bare file name).
pub(super) fn output_dir(out: &Path) -> Result<PathBuf, WriteError> {
    if out.file_name().is_none() {
        return Err(WriteError::InvalidOutputPath { path: out.to_path_buf() });
    }
    Ok(match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

/// `<out>.tmp`, the name the finished file is staged under.
pub(super) fn staging_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

pub(super) fn file_len(path: &Path) -> Result<u64, WriteError> {
    fs::metadata(path).map(|m| m.len()).map_err(io_err("reading the size of", path))
}

/// Removes a path on drop unless disarmed; keeps `<out>.tmp` from lingering.
pub(super) struct RemoveOnDrop<'a> {
    path: &'a Path,
    armed: bool,
}

impl<'a> RemoveOnDrop<'a> {
    pub(super) fn armed(path: &'a Path) -> RemoveOnDrop<'a> {
        RemoveOnDrop { path, armed: true }
    }

    /// The file stays: it has become the output.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}

/// Writes `C1ZF\0` + zstd(db) to `<out>.tmp`, fsyncs, renames it over `out`
/// and fsyncs the directory. Returns the size of the written file.
pub(super) fn write_c1z_atomically(db_path: &Path, db_len: u64, out: &Path) -> Result<u64, WriteError> {
    let staging = staging_path(out);
    let mut guard = RemoveOnDrop::armed(&staging);
    let file = create_staging_file(&staging)?;
    let file = compress_database(db_path, db_len, file, &staging)?;
    put_in_place(file, &mut guard, out)
}

/// The written staged file (`guard`'s) as `out`: fsynced, renamed over it, the directory
/// fsynced; its size.
pub(super) fn put_in_place(file: File, guard: &mut RemoveOnDrop<'_>, out: &Path) -> Result<u64, WriteError> {
    let staging = guard.path;
    file.sync_all().map_err(io_err("syncing", staging))?;
    let written = file.metadata().map(|m| m.len()).map_err(io_err("reading the size of", staging))?;
    drop(file);
    fs::rename(staging, out).map_err(io_err("renaming the staged file onto", out))?;
    guard.disarm();
    sync_directory(&output_dir(out)?)?;
    Ok(written)
}

/// The staged output: private (0600: it is directory data about people), created anew
/// (`O_EXCL`) and never through a link (`O_NOFOLLOW`); a stale one from a crash is removed
/// first (removing a link removes the link, not what it points to).
pub(super) fn create_staging_file(staging: &Path) -> Result<File, WriteError> {
    match fs::remove_file(staging) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_err("removing a stale", staging)(error)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(staging).map_err(io_err("creating", staging))
}

/// zstd worker threads: one per core this process may use (the end of a sync has nothing
/// else to do).
pub(super) fn compression_threads() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// Streams the header and one zstd frame (with content size and checksum).
pub(super) fn compress_database(db_path: &Path, db_len: u64, file: File, staging: &Path) -> Result<File, WriteError> {
    let write_err = io_err("writing", staging);
    let mut db = BufReader::new(File::open(db_path).map_err(io_err("opening", db_path))?);
    let mut sink = BufWriter::new(file);
    let result = (|| -> io::Result<File> {
        sink.write_all(C1Z_V1_MAGIC)?;
        let mut frame = encoder(sink, db_len, compression_threads())?;
        io::copy(&mut db, &mut frame)?;
        frame.finish()?.into_inner().map_err(|e| e.into_error())
    })();
    result.map_err(write_err)
}

/// One frame of `len` bytes at our level, with its content size and checksum, on `threads`
/// worker threads in jobs sized to it ([`memory::zstd_job_bytes`]; 0 threads: on the caller's thread).
pub(super) fn encoder<W: Write>(sink: W, len: u64, threads: u32) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut encoder = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?;
    encoder.include_checksum(true)?;
    encoder.include_contentsize(true)?;
    if threads > 0 {
        encoder.multithread(threads)?;
        encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(memory::zstd_job_bytes(len)))?;
    }
    encoder.set_pledged_src_size(Some(len))?;
    Ok(encoder)
}

#[cfg(unix)]
pub(super) fn sync_directory(dir: &Path) -> Result<(), WriteError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("syncing directory", dir))
}

#[cfg(not(unix))]
pub(super) fn sync_directory(_dir: &Path) -> Result<(), WriteError> {
    Ok(())
}
