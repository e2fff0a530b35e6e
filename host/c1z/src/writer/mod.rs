//! [`C1zWriter`]: builds a v1 `.c1z` file. Rows are loaded into a scratch SQLite database next
//! to the output; [`C1zWriter::finish`] closes the sync, keeps the replaced file's latest full
//! sync beside it when asked (`previous`), builds the lookup indexes, compresses the database
//! and atomically replaces the output. Dropping the writer without finishing leaves the output
//! alone. Each job has its file:
//!
//! - here: the writer, its errors and summary, starting a sync and finishing it;
//! - [`rows`]: storing resource types, resources, entitlements and grants (checked, upserted,
//!   committed in batches), noting the principals grants name;
//! - [`resume`]: the resumable work folder, its journal and checkpoints, reopening after a kill;
//! - [`queries`]: what the sync engine reads back while the sync is being written;
//! - [`package`]: the finished database into the file: zstd, a staging file, the atomic rename;
//! - [`early`]: the rows' pages compressed on other cores while the indexes are built;
//! - [`memory`]: SQLite's page cache and zstd's jobs, sized to the database;
//! - [`space`]: a full output folder told from other failures, with what it takes to go on.

mod early;
mod memory;
mod package;
mod queries;
mod resume;
mod rows;
mod space;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, params};
use svix_ksuid::{Ksuid, KsuidLike};

use crate::previous;
use crate::{schema, timefmt};

use early::{EARLY_MIN_BYTES, EarlyCompression};
use package::{file_len, output_dir, write_c1z_atomically};
use resume::Workdir;
use rows::NamedPrincipals;
use space::{SpaceNeeds, Stage, human};

/// Why writing a `.c1z` file failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output path has no file name (for example `/` or `..`).
    #[error("output path {path:?} does not name a file; pass a path such as ./sync.c1z")]
    InvalidOutputPath {
        /// The rejected path.
        path: PathBuf,
    },
    /// An object lacks a field that baton readers need (they would crash on it).
    #[error("cannot store {kind} {id:?}: {reason}; fix the connector so it sets this field")]
    InvalidObject {
        /// `resource type`, `resource`, `entitlement` or `grant`.
        kind: &'static str,
        /// The object's id, as far as it is known.
        id: String,
        /// What is missing.
        reason: &'static str,
    },
    /// A grant's GrantExpandable annotation does not decode.
    #[error("grant {grant_id:?} has an undecodable GrantExpandable annotation: {source}")]
    BadExpandable {
        /// The grant's id.
        grant_id: String,
        /// The protobuf error.
        source: prost::DecodeError,
    },
    /// SQLite failed.
    #[error("SQLite error while {action}: {source}")]
    Sqlite {
        /// What the writer was doing.
        action: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A file-system operation failed.
    #[error("I/O error while {action} {path:?}: {source}; check free space and permissions")]
    Io {
        /// What the writer was doing.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The output's folder (or this user's quota there) has no room left. The previous file is
    /// untouched; a resumable sync keeps its checkpoint.
    #[error(
        "no space left in {folder:?} while {stage} ({during}): this sync needs about {needed} more there and {free} is free; free at least {short} there (or write the file elsewhere) and run again{resume}; the previous file is untouched",
        free = human(*free_bytes),
        needed = human(*needed_bytes),
        short = human(needed_bytes.saturating_sub(*free_bytes)),
        resume = if *resumable { ", and it goes on from its checkpoint" } else { "" }
    )]
    OutOfSpace {
        /// The folder of the output (where the work folder and the staged file live too).
        folder: PathBuf,
        /// The part of the work: storing rows, or finishing the file.
        stage: &'static str,
        /// What the writer was doing.
        during: &'static str,
        /// What this user may still write there.
        free_bytes: u64,
        /// About what this sync still has to write there (always more than is free: it did not fit).
        needed_bytes: u64,
        /// Whether the next run resumes from this sync's checkpoint.
        resumable: bool,
    },
}

/// What [`C1zWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The KSUID of the sync run stored in the file.
    pub sync_id: String,
    /// Distinct rows in `v1_resource_types`.
    pub resource_types: u64,
    /// Distinct rows in `v1_resources`.
    pub resources: u64,
    /// Distinct rows in `v1_entitlements`.
    pub entitlements: u64,
    /// Distinct rows in `v1_grants`.
    pub grants: u64,
    /// Size of the uncompressed SQLite database.
    pub database_bytes: u64,
    /// Size of the finished `.c1z` file.
    pub file_bytes: u64,
}

/// Builds one full sync into a new `.c1z` file. See the module docs.
pub struct C1zWriter {
    // Declared before `workdir` so the database closes before its directory is removed.
    conn: Connection,
    workdir: Workdir,
    db_path: PathBuf,
    out: PathBuf,
    sync_id: String,
    rows_since_commit: u64,
    /// The principals the grants written by this process name; `None` for a reopened sync,
    /// whose earlier grants only the database knows.
    named_principals: Option<NamedPrincipals>,
    /// Whether [`Self::finish`] keeps the replaced file's latest full sync (off unless asked).
    keep_previous: bool,
    /// From how many bytes of rows [`Self::finish`] compresses them while the indexes build.
    early_min_bytes: u64,
}

fn sqlite(action: &'static str) -> impl FnOnce(rusqlite::Error) -> WriteError {
    move |source| WriteError::Sqlite { action, source }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError::Io { action, path, source }
}

fn invalid(kind: &'static str, id: &str, reason: &'static str) -> WriteError {
    WriteError::InvalidObject { kind, id: id.to_owned(), reason }
}

impl C1zWriter {
    /// Starts a new full sync that [`finish`](Self::finish) will write to `out`.
    /// Scratch files live in a hidden temporary directory beside `out`.
    pub fn create(out: &Path) -> Result<C1zWriter, WriteError> {
        let dir = output_dir(out)?;
        let space = SpaceNeeds::before_start(out, PathBuf::new(), false);
        let workdir = tempfile::Builder::new().prefix(".c1z-build-").tempdir_in(&dir).map_err(io_err("creating a scratch directory in", &dir));
        workdir.and_then(|workdir| Self::start(out, Workdir::Scratch(workdir), &FAST_PRAGMAS)).map_err(|error| space.explain(Stage::Rows, error))
    }

    fn start(out: &Path, workdir: Workdir, pragmas: &Pragmas) -> Result<C1zWriter, WriteError> {
        let db_path = workdir.path().join("db");
        let conn = Connection::open(&db_path).map_err(sqlite("creating the scratch database"))?;
        prepare_database(&conn, pragmas.database)?;
        resume::attach_store(&conn, workdir.path(), pragmas)?;
        let sync_id = Ksuid::new(None, None).to_string();
        insert_sync_run(&conn, &sync_id)?;
        conn.execute_batch("BEGIN").map_err(sqlite("starting a transaction"))?;
        Ok(C1zWriter {
            conn,
            workdir,
            db_path,
            out: out.to_path_buf(),
            sync_id,
            rows_since_commit: 0,
            named_principals: Some(NamedPrincipals::default()),
            keep_previous: false,
            early_min_bytes: EARLY_MIN_BYTES,
        })
    }

    /// Keeps the latest finished full sync of the file this one replaces beside it, so the
    /// file holds two and `baton diff` compares them (see `previous`).
    pub fn keep_previous_sync(&mut self, keep: bool) {
        self.keep_previous = keep;
    }

    /// Compresses the rows while the indexes are built from `bytes` of them on (see `early`;
    /// by default 256 MiB, where it saves seconds); lower, files of a few rows are written the
    /// way large ones are (tests read those with other readers).
    pub fn compress_during_index_build_from(&mut self, bytes: u64) {
        self.early_min_bytes = bytes;
    }

    /// Records what kind of sync this is, as baton names them: `full` (the default),
    /// `resources_only` (no entitlements or grants) or `partial`.
    pub fn set_sync_type(&mut self, sync_type: &str) -> Result<(), WriteError> {
        self.conn
            .execute("UPDATE v1_sync_runs SET sync_type = ?1 WHERE sync_id = ?2", params![sync_type, self.sync_id])
            .map(drop)
            .map_err(sqlite("recording the sync type"))
    }

    /// `error` said the way an operator can act on when it is a lack of space in the output's
    /// folder (see [`WriteError::OutOfSpace`]); any other error is returned unchanged.
    pub fn explain_out_of_space(&self, error: WriteError) -> WriteError {
        SpaceNeeds::of(self).explain(Stage::Rows, error)
    }

    /// Commits what is written, begins the next transaction, and fits the page cache to the
    /// database as it has grown.
    fn commit_and_begin(&mut self, what: &'static str) -> Result<(), WriteError> {
        self.conn.execute_batch("COMMIT; BEGIN").map_err(sqlite(what))?;
        self.rows_since_commit = 0;
        memory::fit_page_cache(&self.conn)
    }

    fn is_resumable(&self) -> bool {
        matches!(self.workdir, Workdir::Resumable(_))
    }

    /// Ends the sync, builds the indexes, and atomically writes the `.c1z` file. On error the
    /// output is left as it was; scratch files are removed, and a resumable sync keeps its work
    /// folder so the next run can finish it.
    pub fn finish(self) -> Result<Summary, WriteError> {
        let space = SpaceNeeds::of(&self);
        self.finish_inner().map_err(|error| space.explain(Stage::Finish, error))
    }

    fn finish_inner(self) -> Result<Summary, WriteError> {
        let C1zWriter { conn, workdir, db_path, out, sync_id, keep_previous, early_min_bytes, .. } = self;
        // Entries of a sync begun by an earlier version, which kept them in the file's table.
        conn.execute("DELETE FROM main.v1_connector_sessions WHERE sync_id = ?1", [&sync_id]).map_err(sqlite("clearing session entries"))?;
        // Leave the resumable journal (the payload is the database file alone) before the
        // indexes are built: under a plain rollback journal their pages, all new, are written
        // once, into the file.
        let started = Instant::now();
        conn.execute_batch("COMMIT").map_err(sqlite("committing"))?;
        conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(())).map_err(sqlite("closing the journal"))?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "folded the journal into the database");
        let started = Instant::now();
        if let Some(kept) = (keep_previous && !holds_another_sync(&conn, &sync_id)?).then(|| previous::carry(&conn, &out, workdir.path())).flatten() {
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), previous_sync = %kept, "kept the previous sync beside the new one");
        }
        end_sync(&conn, &sync_id)?;
        let early = match page_size_if_only_appending(&conn)? {
            Some(page_size) => EarlyCompression::start(&db_path, page_size, &out, early_min_bytes)?,
            None => None,
        };
        let started = Instant::now();
        build_indexes(&conn)?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), rows_compressed_meanwhile = early.is_some(), "built the lookup indexes");
        let mut summary = count_rows(&conn, &sync_id)?;
        conn.close().map_err(|(_, e)| sqlite("closing the scratch database")(e))?;
        summary.database_bytes = file_len(&db_path)?;
        let started = Instant::now();
        let finished_early = match early {
            Some(early) => early.finish(&db_path, summary.database_bytes, &out)?,
            None => None,
        };
        summary.file_bytes = match finished_early {
            Some(written) => written,
            None => write_c1z_atomically(&db_path, summary.database_bytes, &out)?,
        };
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            database_bytes = summary.database_bytes,
            file_bytes = summary.file_bytes,
            "compressed the database into the file"
        );
        workdir.remove();
        Ok(summary)
    }
}

impl std::fmt::Debug for C1zWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C1zWriter").field("out", &self.out).field("sync_id", &self.sync_id).field("scratch", &self.workdir.path()).finish()
    }
}

/// SQLite settings of the database and of the connector's store beside it (`resume`).
pub(super) struct Pragmas {
    pub(super) database: &'static str,
    pub(super) store: &'static str,
}

/// Fast, crash-unsafe settings, for a scratch db that is thrown away on failure.
const FAST_PRAGMAS: Pragmas = Pragmas {
    database: "PRAGMA journal_mode = OFF;
     PRAGMA synchronous = OFF;
     PRAGMA locking_mode = EXCLUSIVE;",
    store: "PRAGMA store.journal_mode = OFF; PRAGMA store.synchronous = OFF;",
};

/// Settings that survive the process being killed, and a power cut, at a small cost. A
/// rollback journal rather than write-ahead logging: rows land at the end of the table, pages
/// a journal need not save, where a log holds every page once and the checkpoint writes it
/// again. Measured on the 1M-grant site at 0 ms: 13.5 s against 14.6-17.3 s with the log.
const DURABLE_PRAGMAS: Pragmas = Pragmas {
    database: "PRAGMA journal_mode = TRUNCATE;
     PRAGMA synchronous = FULL;
     PRAGMA locking_mode = EXCLUSIVE;",
    store: "PRAGMA store.journal_mode = TRUNCATE; PRAGMA store.synchronous = FULL;",
};

/// Database page size, set before the first table. Measured on the 1M-grant database
/// (BENCHMARKS.md): against SQLite's 4 KiB pages, 16 KiB pages hold the ~520-byte grant rows
/// with less left over, so the database is 6% smaller, the lookup indexes build in 2.7 s
/// instead of 3.3 and the file is 5% smaller. Any page size is readable.
const PAGE_SIZE_PRAGMA: &str = "PRAGMA page_size = 16384;";

/// The settings, the tables, and the unique indexes the upserts rely on.
fn prepare_database(conn: &Connection, pragmas: &str) -> Result<(), WriteError> {
    conn.execute_batch(PAGE_SIZE_PRAGMA).map_err(sqlite("setting the page size"))?;
    conn.execute_batch(pragmas).map_err(sqlite("configuring the scratch database"))?;
    memory::fit_page_cache(conn)?;
    conn.execute_batch(schema::TABLES).map_err(sqlite("creating tables"))?;
    conn.execute_batch(schema::UNIQUE_INDEXES).map_err(sqlite("creating unique indexes"))
}

fn insert_sync_run(conn: &Connection, sync_id: &str) -> Result<(), WriteError> {
    conn.execute(
        "INSERT INTO v1_sync_runs (sync_id, started_at, sync_token, sync_type, parent_sync_id,
           linked_sync_id, supports_diff, grants_backfilled)
         VALUES (?1, ?2, '', 'full', '', '', 1, 1)",
        params![sync_id, timefmt::now_text()],
    )
    .map(drop)
    .map_err(sqlite("recording the sync run"))
}

/// Sets `ended_at` (once: a sync finished again after a stop keeps its first end). Done before
/// the indexes are built, so the build changes no page that holds rows (see `early`).
fn end_sync(conn: &Connection, sync_id: &str) -> Result<(), WriteError> {
    conn.execute("UPDATE v1_sync_runs SET ended_at = ?1 WHERE sync_id = ?2 AND ended_at IS NULL", params![timefmt::now_text(), sync_id])
        .map(drop)
        .map_err(sqlite("ending the sync run"))
}

/// Creates the deferred indexes, in one transaction.
fn build_indexes(conn: &Connection) -> Result<(), WriteError> {
    memory::cache_for_index_build(conn)?;
    conn.execute_batch("BEGIN").map_err(sqlite("starting a transaction"))?;
    conn.execute_batch(schema::DEFERRED_INDEXES).map_err(sqlite("creating indexes"))?;
    conn.execute_batch("COMMIT").map_err(sqlite("committing"))
}

/// The database's page size when no page is free for the index build to reuse (it then only
/// appends); none otherwise, which leaves the whole file to be compressed after the build.
fn page_size_if_only_appending(conn: &Connection) -> Result<Option<u64>, WriteError> {
    if pragma_number(conn, "freelist_count", "reading the page layout")? != 0 {
        return Ok(None);
    }
    Ok(u64::try_from(pragma_number(conn, "page_size", "reading the page layout")?).ok().filter(|size| *size > 0))
}

/// The number a `PRAGMA name` query answers with; `action` names it in an error.
fn pragma_number(conn: &Connection, name: &str, action: &'static str) -> Result<i64, WriteError> {
    conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0)).map_err(sqlite(action))
}

/// Whether the database holds a sync besides `sync_id`: the replaced file's, kept by an earlier
/// attempt to finish this one.
fn holds_another_sync(conn: &Connection, sync_id: &str) -> Result<bool, WriteError> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM v1_sync_runs WHERE sync_id <> ?1)", [sync_id], |row| row.get(0)).map_err(sqlite("looking for a kept sync"))
}

fn count_rows(conn: &Connection, sync_id: &str) -> Result<Summary, WriteError> {
    let count = |table: &str| -> Result<u64, WriteError> {
        conn.query_row(&format!("SELECT count(*) FROM {table} WHERE sync_id = ?1"), [sync_id], |row| row.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(sqlite("counting rows"))
    };
    Ok(Summary {
        sync_id: sync_id.to_owned(),
        resource_types: count("v1_resource_types")?,
        resources: count("v1_resources")?,
        entitlements: count("v1_entitlements")?,
        grants: count("v1_grants")?,
        database_bytes: 0,
        file_bytes: 0,
    })
}
