//! [`C1zReader`]: opens a v1 `.c1z` file by decompressing it into a private
//! temporary SQLite file, then lists the rows of one sync (by default the one
//! baton's readers would pick, docs/c1z-and-c1.md §2.5) as decoded protobuf messages.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prost::Message;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql};
use tempfile::TempDir;

use crate::annotations::upsert_annotation;
use crate::{C1Z_V1_MAGIC, C1Z_V3_MAGIC, pb, schema, timefmt};

/// Default cap on the decompressed database size (the Go SDK v0.7.27 default;
/// docs/c1z-and-c1.md §2.1).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 3 << 30;
/// How recent an unfinished sync must be to be picked when no full sync finished.
const UNFINISHED_SYNC_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a `.c1z` file could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file does not exist.
    #[error("{path:?} does not exist; check the path or run a sync first")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file is shorter than the 5-byte header.
    #[error("{path:?} is {len} bytes, too short for a .c1z file (needs a 5-byte header and data); it is empty or was cut off, so re-run the sync")]
    TooShort {
        /// The path asked for.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// The file is a v3 (Pebble engine) `.c1z`.
    #[error(
        "{path:?} was written by baton-sdk v0.25+ pebble engine (magic C1Z3); this tool reads v1 only; re-run the Go connector with --storage-engine sqlite or convert the file"
    )]
    V3Format {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file does not start with `C1ZF\0`.
    #[error("{path:?} is not a .c1z file: header is {found:02x?}, expected \"C1ZF\\0\"; check that you passed the right file")]
    BadMagic {
        /// The path asked for.
        path: PathBuf,
        /// The first five bytes found.
        found: [u8; 5],
    },
    /// The zstd payload is truncated or corrupt.
    #[error("{path:?} has a truncated or corrupt zstd payload ({source}); the file was probably cut off during copy or upload, so fetch or sync it again")]
    CorruptCompression {
        /// The path asked for.
        path: PathBuf,
        /// The decoder's error.
        source: io::Error,
    },
    /// The decompressed database exceeds the configured cap.
    #[error("{path:?} decompresses to more than {limit} bytes; raise ReadOptions::max_decompressed_bytes if the file is trusted")]
    TooLarge {
        /// The path asked for.
        path: PathBuf,
        /// The cap in bytes.
        limit: u64,
    },
    /// The payload is not a SQLite database.
    #[error("{path:?} decompresses to something that is not a SQLite database ({source}); the file is not a v1 .c1z")]
    NotSqlite {
        /// The path asked for.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database lacks baton tables.
    #[error("{path:?} is a SQLite database but lacks baton tables {missing:?}; it is not a baton sync file")]
    MissingTables {
        /// The path asked for.
        path: PathBuf,
        /// The required tables that are absent.
        missing: Vec<String>,
    },
    /// A file-system operation failed.
    #[error("I/O error while {action} {path:?}: {source}")]
    Io {
        /// What the reader was doing.
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A query failed.
    #[error("SQLite error while {action}: {source}")]
    Sqlite {
        /// What the reader was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A stored protobuf blob does not decode.
    #[error("row {row_id} of {table} holds an undecodable protobuf ({source}); the file is corrupt")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's `id`.
        row_id: i64,
        /// The protobuf error.
        source: prost::DecodeError,
    },
}

/// How [`C1zReader::open_with`] opens a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Refuse files whose database is larger than this.
    pub max_decompressed_bytes: u64,
    /// Where to put the decompressed copy (`None`: the system temp dir).
    pub temp_dir: Option<PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES, temp_dir: None }
    }
}

/// One row of `v1_sync_runs`; timestamps are the stored text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    /// The sync's id (a KSUID for SDK-written files).
    pub id: String,
    /// When the sync started.
    pub started_at: String,
    /// When it ended, if it did.
    pub ended_at: Option<String>,
    /// `full`, `partial`, `resources_only`, ...
    pub sync_type: String,
}

/// A read-only view of a v1 `.c1z` file. See the module docs.
pub struct C1zReader {
    // Declared before `_workdir` so the database closes before its directory is removed.
    conn: Connection,
    _workdir: TempDir,
    path: PathBuf,
    sync_id: Option<String>,
    grants_have_expansion: bool,
    sync_runs_have_type: bool,
}

fn sqlite(action: &'static str) -> impl FnOnce(rusqlite::Error) -> ReadError {
    move |source| ReadError::Sqlite { action, source }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ReadError {
    let path = path.to_path_buf();
    move |source| ReadError::Io { action, path, source }
}

impl C1zReader {
    /// Opens `path` with the default options (3 GiB cap, system temp dir).
    pub fn open(path: &Path) -> Result<C1zReader, ReadError> {
        Self::open_with(path, &ReadOptions::default())
    }

    /// Opens `path`, checks its header, decompresses it and validates the schema.
    pub fn open_with(path: &Path, options: &ReadOptions) -> Result<C1zReader, ReadError> {
        let file = open_and_check_header(path)?;
        let workdir = make_workdir(options)?;
        let db_path = workdir.path().join("db");
        decompress(file, path, &db_path, options.max_decompressed_bytes)?;
        let conn = open_database(&db_path, path)?;
        let grants_have_expansion = table_has_column(&conn, "v1_grants", "expansion")?;
        let sync_runs_have_type = table_has_column(&conn, "v1_sync_runs", "sync_type")?;
        let mut reader = C1zReader { conn, _workdir: workdir, path: path.to_path_buf(), sync_id: None, grants_have_expansion, sync_runs_have_type };
        reader.sync_id = reader.default_sync_id()?;
        Ok(reader)
    }

    /// The file this reader was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sync whose rows the list methods return (`None`: rows of every sync).
    pub fn selected_sync_id(&self) -> Option<&str> {
        self.sync_id.as_deref()
    }

    /// Reads a specific sync instead of the default one (`None`: every sync).
    pub fn select_sync(&mut self, sync_id: Option<String>) {
        self.sync_id = sync_id;
    }

    /// All sync runs, oldest first.
    pub fn sync_runs(&self) -> Result<Vec<SyncRun>, ReadError> {
        let sync_type = if self.sync_runs_have_type { "sync_type" } else { "'full'" };
        let sql = format!("SELECT sync_id, started_at, ended_at, {sync_type} FROM v1_sync_runs ORDER BY id");
        let mut stmt = self.conn.prepare(&sql).map_err(sqlite("listing sync runs"))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(SyncRun {
                    id: text(row.get(0)?).unwrap_or_default(),
                    started_at: text(row.get(1)?).unwrap_or_default(),
                    ended_at: text(row.get(2)?),
                    sync_type: text(row.get(3)?).unwrap_or_default(),
                })
            })
            .map_err(sqlite("listing sync runs"))?;
        rows.collect::<Result<_, _>>().map_err(sqlite("listing sync runs"))
    }

    /// Resource types of the selected sync, in insertion order.
    pub fn resource_types(&self) -> Result<Vec<pb::ResourceType>, ReadError> {
        self.list_blobs("v1_resource_types", None)
    }

    /// Resources of the selected sync, optionally only those of one type.
    pub fn resources(&self, resource_type: Option<&str>) -> Result<Vec<pb::Resource>, ReadError> {
        self.list_blobs("v1_resources", resource_type)
    }

    /// Entitlements of the selected sync.
    pub fn entitlements(&self) -> Result<Vec<pb::Entitlement>, ReadError> {
        self.list_blobs("v1_entitlements", None)
    }

    /// The resource `type:id` of the selected sync, looked up in the file (for a caller that
    /// must not hold every resource).
    pub fn resource(&self, external_id: &str) -> Result<Option<pb::Resource>, ReadError> {
        self.one_blob("v1_resources", external_id)
    }

    /// The entitlement with this id in the selected sync, looked up in the file.
    pub fn entitlement(&self, id: &str) -> Result<Option<pb::Entitlement>, ReadError> {
        self.one_blob("v1_entitlements", id)
    }

    /// The row of `table` with this `external_id` in the selected sync (its unique index).
    fn one_blob<M: Message + Default>(&self, table: &'static str, external_id: &str) -> Result<Option<M>, ReadError> {
        let sql = format!("SELECT id, data FROM {table} WHERE external_id = ?1 AND (?2 IS NULL OR sync_id = ?2) ORDER BY id LIMIT 1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(sqlite("preparing a query"))?;
        let row: Option<(i64, Vec<u8>)> =
            stmt.query_row(rusqlite::params![external_id, self.sync_id], |row| Ok((row.get(0)?, row.get(1)?))).optional().map_err(sqlite("reading a row"))?;
        row.map(|(row_id, data)| M::decode(data.as_slice()).map_err(|source| ReadError::CorruptRow { table, row_id, source })).transpose()
    }

    /// Grants of the selected sync, with the `expansion` column re-attached
    /// as a GrantExpandable annotation.
    pub fn grants(&self) -> Result<Vec<pb::Grant>, ReadError> {
        let mut grants = Vec::new();
        self.each_grant(|grant| {
            grants.push(grant);
            Ok::<(), ReadError>(())
        })?;
        Ok(grants)
    }

    /// [`grants`](Self::grants) one at a time, in the same order: what `each` does not keep
    /// is not held, however many grants the file has. Stops at the first error, `each`'s or
    /// the file's.
    pub fn each_grant<E: From<ReadError>>(&self, mut each: impl FnMut(pb::Grant) -> Result<(), E>) -> Result<(), E> {
        let expansion = if self.grants_have_expansion { "expansion" } else { "NULL" };
        let sql = format!(
            "SELECT id, data, {expansion} FROM v1_grants
             WHERE (?1 IS NULL OR sync_id = ?1) ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(sqlite("preparing a query"))?;
        let rows = stmt
            .query_map([&self.sync_id], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?, row.get::<_, Option<Vec<u8>>>(2)?)))
            .map_err(sqlite("running a query"))?;
        for row in rows {
            let (row_id, data, expansion) = row.map_err(sqlite("reading rows"))?;
            each(decode_grant(row_id, &data, expansion.as_deref())?)?;
        }
        Ok(())
    }

    /// Picks the sync baton shows by default: the latest finished full sync,
    /// else the latest unfinished one started within 7 days, else none.
    fn default_sync_id(&self) -> Result<Option<String>, ReadError> {
        let full = if self.sync_runs_have_type { "AND sync_type = 'full'" } else { "" };
        let finished = format!(
            "SELECT sync_id FROM v1_sync_runs WHERE ended_at IS NOT NULL {full}
             ORDER BY ended_at DESC, id DESC LIMIT 1"
        );
        if let Some(id) = self.optional_text(&finished, &[])? {
            return Ok(Some(id));
        }
        let week_ago = SystemTime::now().checked_sub(UNFINISHED_SYNC_MAX_AGE).map(timefmt::format_local).unwrap_or_default();
        self.optional_text(
            "SELECT sync_id FROM v1_sync_runs WHERE ended_at IS NULL AND started_at >= ?1
             ORDER BY started_at DESC, id DESC LIMIT 1",
            &[&week_ago],
        )
    }

    fn optional_text(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<String>, ReadError> {
        self.conn.query_row(sql, params, |row| row.get::<_, Value>(0)).optional().map(|value| value.and_then(text)).map_err(sqlite("choosing the sync to read"))
    }

    /// Decodes the `data` column of `table` for the selected sync, optionally
    /// filtered on `resource_type_id`.
    fn list_blobs<M: Message + Default>(&self, table: &'static str, resource_type: Option<&str>) -> Result<Vec<M>, ReadError> {
        let type_filter = if resource_type.is_some() { "AND resource_type_id = ?2" } else { "" };
        let sql = format!("SELECT id, data FROM {table} WHERE (?1 IS NULL OR sync_id = ?1) {type_filter} ORDER BY id");
        let mut params: Vec<&dyn ToSql> = vec![&self.sync_id];
        if let Some(rt) = &resource_type {
            params.push(rt);
        }
        let rows: Vec<(i64, Vec<u8>)> = self.query_rows(&sql, &params, |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.into_iter().map(|(row_id, data)| M::decode(data.as_slice()).map_err(|source| ReadError::CorruptRow { table, row_id, source })).collect()
    }

    fn query_rows<T>(&self, sql: &str, params: &[&dyn ToSql], map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>, ReadError> {
        let mut stmt = self.conn.prepare(sql).map_err(sqlite("preparing a query"))?;
        let rows = stmt.query_map(params, map).map_err(sqlite("running a query"))?;
        rows.collect::<Result<_, _>>().map_err(sqlite("reading rows"))
    }
}

impl std::fmt::Debug for C1zReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C1zReader").field("path", &self.path).field("sync_id", &self.sync_id).finish()
    }
}

/// Any SQLite value as text (`None` for NULL); timestamps may be stored as
/// text or, by foreign writers, as numbers.
fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(r) => Some(r.to_string()),
        Value::Text(t) => Some(t),
        Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn decode_grant(row_id: i64, data: &[u8], expansion: Option<&[u8]>) -> Result<pb::Grant, ReadError> {
    let corrupt = |source| ReadError::CorruptRow { table: "v1_grants", row_id, source };
    let mut grant = pb::Grant::decode(data).map_err(corrupt)?;
    if let Some(bytes) = expansion.filter(|b| !b.is_empty()) {
        let expandable = pb::GrantExpandable::decode(bytes).map_err(corrupt)?;
        upsert_annotation(&mut grant.annotations, &expandable);
    }
    Ok(grant)
}

/// Opens the file and checks its 5-byte header; the returned file is
/// positioned at the start of the zstd payload.
pub(crate) fn open_and_check_header(path: &Path) -> Result<File, ReadError> {
    let mut file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound { path: path.to_path_buf() },
        _ => io_err("opening", path)(source),
    })?;
    let len = file.metadata().map_err(io_err("reading the size of", path))?.len();
    if len < C1Z_V1_MAGIC.len() as u64 {
        return Err(ReadError::TooShort { path: path.to_path_buf(), len });
    }
    let mut header = [0u8; 5];
    file.read_exact(&mut header).map_err(io_err("reading the header of", path))?;
    match &header {
        h if h == C1Z_V1_MAGIC => Ok(file),
        h if h == C1Z_V3_MAGIC => Err(ReadError::V3Format { path: path.to_path_buf() }),
        _ => Err(ReadError::BadMagic { path: path.to_path_buf(), found: header }),
    }
}

fn make_workdir(options: &ReadOptions) -> Result<TempDir, ReadError> {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("c1z-read-");
        b
    };
    match &options.temp_dir {
        Some(dir) => builder.tempdir_in(dir).map_err(io_err("creating a temp dir in", dir)),
        None => builder.tempdir().map_err(io_err("creating a temp dir in", &std::env::temp_dir())),
    }
}

/// Streams the zstd payload into `db_path`, stopping at `limit` bytes.
pub(crate) fn decompress(file: File, path: &Path, db_path: &Path, limit: u64) -> Result<(), ReadError> {
    let corrupt = |source| ReadError::CorruptCompression { path: path.to_path_buf(), source };
    let mut decoder = zstd::stream::read::Decoder::new(file).map_err(corrupt)?;
    let out = File::create(db_path).map_err(io_err("creating", db_path))?;
    let mut out = BufWriter::new(out);
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let n = decoder.read(&mut buf).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(ReadError::TooLarge { path: path.to_path_buf(), limit });
        }
        out.write_all(&buf[..n]).map_err(io_err("writing", db_path))?;
    }
    if total == 0 {
        let empty = io::Error::new(io::ErrorKind::UnexpectedEof, "no compressed data after the header");
        return Err(corrupt(empty));
    }
    out.flush().map_err(io_err("writing", db_path))
}

/// Opens the decompressed copy read-only and checks the baton tables exist.
fn open_database(db_path: &Path, path: &Path) -> Result<Connection, ReadError> {
    let not_sqlite = |source| ReadError::NotSqlite { path: path.to_path_buf(), source };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db_path, flags).map_err(not_sqlite)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut st| st.query_map([], |row| row.get(0))?.collect())
        .map_err(not_sqlite)?;
    let missing: Vec<String> = schema::REQUIRED_TABLES.iter().filter(|t| !tables.iter().any(|have| have == *t)).map(|t| t.to_string()).collect();
    if !missing.is_empty() {
        return Err(ReadError::MissingTables { path: path.to_path_buf(), missing });
    }
    Ok(conn)
}

fn table_has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, ReadError> {
    conn.query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |row| row.get::<_, i64>(0))
        .map(|n| n > 0)
        .map_err(sqlite("inspecting the schema"))
}
