//! What the writer keeps in memory, sized to the sync it writes: SQLite's page cache grows with
//! the database while rows are written, the lookup indexes are sorted in a fixed few MiB, and
//! zstd works in small jobs on small databases. A sync of a few thousand rows then holds a few
//! MiB, one of a million the sixteen that make its upserts fast (BENCHMARKS.md, "Memory").

use super::early::EARLY_MIN_BYTES;
use super::{WriteError, pragma_number, sqlite};
use rusqlite::Connection;

/// SQLite's page cache while rows are written: a thirty-second of the database, within these
/// bounds. Measured on the 1M-grant site (850 MB of database, 5 ms added): 4 MiB throughout
/// made the sync 7% slower than 16 (the unique indexes' pages the upserts visit no longer
/// fit); on the 100k site (85 MB) 4 MiB is as fast as 16 and 10 MiB lighter.
const PAGE_CACHE_MIN_KIB: u64 = 4 << 10;
const PAGE_CACHE_MAX_KIB: u64 = 16 << 10;
/// The page cache while the lookup indexes are built, which is also what SQLite gives each
/// index's sort before it spills to a temporary file: on the 1M-grant site as fast as 16 MiB
/// and 12 MiB lighter.
const INDEX_BUILD_CACHE_KIB: u64 = 4 << 10;

/// zstd's input per worker job below [`LARGE_JOBS_FROM_BYTES`] of frame: two workers then
/// hold about 15 MiB (their match tables 6, job buffers 8), 14 MiB less than in 4 MiB jobs
/// (100k-grant site), for a file 1-2% larger and 0.1 s more.
const SMALL_JOB_BYTES: u32 = 1 << 20;
/// From this many bytes of frame (the size from which `early` compresses while the indexes
/// build), 4 MiB jobs: on the 1M-grant site 1 MiB jobs made the sync 8% slower.
const LARGE_JOBS_FROM_BYTES: u64 = EARLY_MIN_BYTES;
const LARGE_JOB_BYTES: u32 = 4 << 20;

/// zstd's job size for a frame of `len` bytes.
pub(super) fn zstd_job_bytes(len: u64) -> u32 {
    if len < LARGE_JOBS_FROM_BYTES { SMALL_JOB_BYTES } else { LARGE_JOB_BYTES }
}

/// The page cache for a database of `bytes`, in KiB.
fn page_cache_kib(bytes: u64) -> u64 {
    (bytes / 32 / 1024).clamp(PAGE_CACHE_MIN_KIB, PAGE_CACHE_MAX_KIB)
}

/// Sizes the page cache to the database as it is now (called when the writer starts and at
/// each commit; shrinking frees pages at once).
pub(super) fn fit_page_cache(conn: &Connection) -> Result<(), WriteError> {
    let read = |name| pragma_number(conn, name, "reading the database's size");
    let bytes = u64::try_from(read("page_count")?.saturating_mul(read("page_size")?)).unwrap_or(0);
    set_page_cache(conn, page_cache_kib(bytes))
}

/// The smaller cache the index build sorts in.
pub(super) fn cache_for_index_build(conn: &Connection) -> Result<(), WriteError> {
    set_page_cache(conn, INDEX_BUILD_CACHE_KIB)
}

fn set_page_cache(conn: &Connection, kib: u64) -> Result<(), WriteError> {
    conn.execute_batch(&format!("PRAGMA main.cache_size = -{kib};")).map_err(sqlite("sizing the page cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_kib(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA main.cache_size", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn the_page_cache_grows_with_the_database_between_its_bounds() {
        assert_eq!(page_cache_kib(0), 4 << 10);
        assert_eq!(page_cache_kib(85 << 20), 4 << 10, "the 100k-grant site's database");
        assert_eq!(page_cache_kib(256 << 20), 8 << 10);
        assert_eq!(page_cache_kib(850 << 20), 16 << 10, "the 1M-grant site's database");
    }

    #[test]
    fn fitting_reads_the_database_size_and_sets_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.execute_batch("PRAGMA page_size = 16384; CREATE TABLE t (x BLOB);").unwrap();
        fit_page_cache(&conn).unwrap();
        assert_eq!(cache_kib(&conn), -(4 << 10));
        // 160 MiB of rows: a thirty-second is 5 MiB.
        conn.execute_batch("BEGIN").unwrap();
        let mut insert = conn.prepare("INSERT INTO t VALUES (zeroblob(1048576))").unwrap();
        for _ in 0..160 {
            insert.execute([]).unwrap();
        }
        drop(insert);
        conn.execute_batch("COMMIT").unwrap();
        fit_page_cache(&conn).unwrap();
        let kib = -cache_kib(&conn);
        assert!((5 << 10..(5 << 10) + 64).contains(&kib), "{kib} KiB for about 160 MiB");
        cache_for_index_build(&conn).unwrap();
        assert_eq!(cache_kib(&conn), -(4 << 10));
    }

    #[test]
    fn small_frames_get_small_jobs() {
        assert_eq!(zstd_job_bytes(85 << 20), 1 << 20);
        assert_eq!(zstd_job_bytes(256 << 20), 4 << 20);
    }
}
