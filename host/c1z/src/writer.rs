//! [`C1zWriter`]: builds a v1 `.c1z` file. Rows are loaded into a scratch
//! SQLite database next to the output; [`C1zWriter::finish`] closes the sync,
//! keeps the replaced file's latest full sync beside it when asked (`previous`), builds the
//! lookup indexes, compresses the database and atomically replaces the output.
//! Dropping the writer without finishing leaves the output alone.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;
use rusqlite::{Connection, params};
use svix_ksuid::{Ksuid, KsuidLike};
use tempfile::TempDir;

use crate::annotations::{find_annotation, take_annotations};
use crate::previous;
use crate::{C1Z_V1_MAGIC, pb, schema, timefmt};

/// zstd level for the payload (any level is readable). Chosen by measurement on a 100k-grant
/// sync's database (85 MB; BENCHMARKS.md): level 3 gives 6.2 MB in 0.2 s, level 6 5.0 MB in
/// 0.7 s on one core (smaller than the Go connector's file for the same data), level 9 4.7 MB
/// in 1.1 s and twice the memory.
const ZSTD_LEVEL: i32 = 6;
/// Input per zstd worker job. zstd's default at level 6 (8 MiB) held ~40 MB of buffers for two
/// workers; 4 MiB jobs keep the gain (an 850 MB database in 3.5 s on 2 cores against 6.1 s on
/// one) at about the memory of one thread; smaller jobs lose the gain to their overlaps.
const ZSTD_JOB_BYTES: u32 = 4 << 20;
/// Rows per SQLite transaction before committing and starting a new one.
const ROWS_PER_COMMIT: u64 = 50_000;

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

/// Where the scratch database lives.
enum Workdir {
    /// A temporary directory, removed when the writer goes away.
    Scratch(TempDir),
    /// `.<name>.partial` beside the output: kept when the writer goes away unfinished (so a
    /// later run can resume), removed once the output is written.
    Resumable(PathBuf),
}

impl Workdir {
    fn path(&self) -> &Path {
        match self {
            Workdir::Scratch(dir) => dir.path(),
            Workdir::Resumable(dir) => dir,
        }
    }

    /// Best effort: the output is complete even if scratch removal fails.
    fn remove(self) {
        match self {
            Workdir::Scratch(dir) => drop(dir.close()),
            Workdir::Resumable(dir) => drop(fs::remove_dir_all(dir)),
        }
    }
}

/// File in a resumable work directory that holds the caller's progress.
const CHECKPOINT_FILE: &str = "checkpoint.json";

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
}

/// The distinct principals grants name, by resource type, collected while grants are written
/// so the end of a sync need not scan every grant row to find them (bounded by the number of
/// principals, not of grants).
#[derive(Default)]
struct NamedPrincipals {
    by_type: HashMap<String, HashSet<String>>,
}

impl NamedPrincipals {
    fn note(&mut self, principal: &pb::ResourceId) {
        match self.by_type.get_mut(&principal.resource_type) {
            Some(ids) => {
                if !ids.contains(&principal.resource) {
                    ids.insert(principal.resource.clone());
                }
            }
            None => {
                self.by_type.insert(principal.resource_type.clone(), HashSet::from([principal.resource.clone()]));
            }
        }
    }
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
        let workdir = tempfile::Builder::new().prefix(".c1z-build-").tempdir_in(&dir).map_err(io_err("creating a scratch directory in", &dir))?;
        Self::start(out, Workdir::Scratch(workdir), FAST_PRAGMAS)
    }

    /// Like [`create`](Self::create), but the scratch database lives in `.<name>.partial`
    /// beside `out` with a journal that survives the process being killed, and
    /// [`checkpoint`](Self::checkpoint) makes progress durable. If an unfinished sync is found
    /// there, it is reopened and the caller's last checkpoint is returned with it.
    pub fn resume_or_create(out: &Path) -> Result<(C1zWriter, Option<String>), WriteError> {
        let dir = output_dir(out)?;
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let workdir = dir.join(format!(".{name}.partial"));
        check_private_workdir(&workdir)?;
        if let Some(resumed) = Self::reopen(out, &workdir)? {
            return Ok(resumed);
        }
        let _ = fs::remove_dir_all(&workdir);
        create_private_dir(&workdir)?;
        Ok((Self::start(out, Workdir::Resumable(workdir), DURABLE_PRAGMAS)?, None))
    }

    fn start(out: &Path, workdir: Workdir, pragmas: &str) -> Result<C1zWriter, WriteError> {
        let db_path = workdir.path().join("db");
        let conn = Connection::open(&db_path).map_err(sqlite("creating the scratch database"))?;
        prepare_database(&conn, pragmas)?;
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
        })
    }

    /// Keeps the latest finished full sync of the file this one replaces beside it, so the
    /// file holds two and `baton diff` compares them (see `previous`).
    pub fn keep_previous_sync(&mut self, keep: bool) {
        self.keep_previous = keep;
    }

    /// Records what kind of sync this is, as baton names them: `full` (the default),
    /// `resources_only` (no entitlements or grants) or `partial`.
    pub fn set_sync_type(&mut self, sync_type: &str) -> Result<(), WriteError> {
        self.conn
            .execute("UPDATE v1_sync_runs SET sync_type = ?1 WHERE sync_id = ?2", params![sync_type, self.sync_id])
            .map(drop)
            .map_err(sqlite("recording the sync type"))
    }

    /// The unfinished sync in `workdir` with its checkpoint, if both are there and readable.
    fn reopen(out: &Path, workdir: &Path) -> Result<Option<(C1zWriter, Option<String>)>, WriteError> {
        let (db_path, checkpoint_path) = (workdir.join("db"), workdir.join(CHECKPOINT_FILE));
        let (Ok(checkpoint), true) = (fs::read_to_string(&checkpoint_path), db_path.is_file()) else {
            return Ok(None);
        };
        let Ok(conn) = Connection::open(&db_path) else { return Ok(None) };
        if conn.execute_batch(DURABLE_PRAGMAS).is_err() {
            return Ok(None);
        }
        let sync_id: Option<String> =
            conn.query_row("SELECT sync_id FROM v1_sync_runs WHERE ended_at IS NULL ORDER BY id DESC LIMIT 1", [], |row| row.get(0)).ok();
        let Some(sync_id) = sync_id else { return Ok(None) };
        conn.execute_batch("BEGIN").map_err(sqlite("starting a transaction"))?;
        let writer = C1zWriter {
            conn,
            workdir: Workdir::Resumable(workdir.to_path_buf()),
            db_path,
            out: out.to_path_buf(),
            sync_id,
            rows_since_commit: 0,
            named_principals: None,
            keep_previous: false,
        };
        Ok(Some((writer, Some(checkpoint))))
    }

    /// Makes everything written so far durable together with the caller's `progress` (returned
    /// by [`resume_or_create`](Self::resume_or_create) after a crash) and `session` entries (the
    /// connector's per-sync store, kept in `v1_connector_sessions` until the sync finishes).
    pub fn checkpoint(&mut self, progress: &str, session: &[(String, String)]) -> Result<(), WriteError> {
        {
            let mut upsert = self
                .conn
                .prepare_cached(
                    "INSERT INTO v1_connector_sessions (sync_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(sync_id, key) DO UPDATE SET value = excluded.value",
                )
                .map_err(sqlite("saving session entries"))?;
            for (key, value) in session {
                upsert.execute(params![self.sync_id, key, value.as_bytes()]).map_err(sqlite("saving session entries"))?;
            }
        }
        self.conn.execute_batch("COMMIT; BEGIN").map_err(sqlite("committing a checkpoint"))?;
        self.rows_since_commit = 0;
        let path = self.workdir.path().join(CHECKPOINT_FILE);
        let staged = self.workdir.path().join("checkpoint.json.tmp");
        fs::write(&staged, progress).map_err(io_err("writing the checkpoint", &staged))?;
        File::open(&staged).and_then(|f| f.sync_all()).map_err(io_err("syncing the checkpoint", &staged))?;
        fs::rename(&staged, &path).map_err(io_err("saving the checkpoint", &path))
    }

    /// The session entries saved by earlier checkpoints of this sync.
    pub fn session_entries(&self) -> Result<Vec<(String, String)>, WriteError> {
        let mut query = self.conn.prepare("SELECT key, value FROM v1_connector_sessions WHERE sync_id = ?1").map_err(sqlite("reading session entries"))?;
        let rows = query
            .query_map([&self.sync_id], |row| {
                let value: Vec<u8> = row.get(1)?;
                Ok((row.get::<_, String>(0)?, String::from_utf8_lossy(&value).into_owned()))
            })
            .map_err(sqlite("reading session entries"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite("reading session entries"))
    }

    /// The resources of one type written so far, in the order they were first written.
    pub fn resources_of_type(&self, resource_type: &str) -> Result<Vec<pb::Resource>, WriteError> {
        let mut all = Vec::new();
        self.each_resource_of_type(resource_type, |resource| all.push(resource))?;
        Ok(all)
    }

    /// Hands the resources of one type written so far to `each`, one at a time and in the
    /// order they were first written, without holding them all.
    pub fn each_resource_of_type(&self, resource_type: &str, each: impl FnMut(pb::Resource)) -> Result<(), WriteError> {
        self.each_stored_resource(resource_type, None, each)
    }

    /// At most `limit` resources of one type, from the `offset`-th on, in the order they were
    /// first written: a long list read back in batches, never all at once.
    pub fn resources_of_type_page(&self, resource_type: &str, offset: usize, limit: usize) -> Result<Vec<pb::Resource>, WriteError> {
        let mut page = Vec::new();
        self.each_stored_resource(resource_type, Some((offset, limit)), |resource| page.push(resource))?;
        Ok(page)
    }

    /// The resources of one type in the order they were first written (all of them, or
    /// `limit` from the `offset`-th on), decoded one row at a time.
    fn each_stored_resource(&self, resource_type: &str, window: Option<(usize, usize)>, mut each: impl FnMut(pb::Resource)) -> Result<(), WriteError> {
        let (offset, limit) = window.map(|(o, l)| (o as i64, l as i64)).unwrap_or((0, -1));
        let mut query = self
            .conn
            .prepare_cached("SELECT data FROM v1_resources WHERE sync_id = ?1 AND resource_type_id = ?2 ORDER BY id LIMIT ?3 OFFSET ?4")
            .map_err(sqlite("reading resources back"))?;
        let mut rows = query.query(params![self.sync_id, resource_type, limit, offset]).map_err(sqlite("reading resources back"))?;
        while let Some(row) = rows.next().map_err(sqlite("reading resources back"))? {
            let blob = row
                .get_ref(0)
                .map_err(sqlite("reading resources back"))?
                .as_blob()
                .map_err(|_| invalid("resource", resource_type, "its stored row is not a blob"))?;
            each(pb::Resource::decode(blob).map_err(|_| invalid("resource", resource_type, "its stored row does not decode"))?);
        }
        Ok(())
    }

    /// How many resources of one type are written so far.
    pub fn count_resources_of_type(&self, resource_type: &str) -> Result<usize, WriteError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM v1_resources WHERE sync_id = ?1 AND resource_type_id = ?2", params![self.sync_id, resource_type], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(sqlite("counting resources"))
    }

    /// The principals that grants written so far name but that are not resources of this sync,
    /// each once, ordered by type and id.
    pub fn principals_without_resource(&self) -> Result<Vec<pb::ResourceId>, WriteError> {
        match &self.named_principals {
            Some(named) => self.named_principals_without_resource(named),
            None => self.scanned_principals_without_resource(),
        }
    }

    /// [`principals_without_resource`](Self::principals_without_resource) from the principals
    /// noted while writing: one lookup in the resources' unique index per principal.
    fn named_principals_without_resource(&self, named: &NamedPrincipals) -> Result<Vec<pb::ResourceId>, WriteError> {
        let mut exists =
            self.conn.prepare("SELECT 1 FROM v1_resources WHERE external_id = ?1 AND sync_id = ?2").map_err(sqlite("finding principals without a resource"))?;
        let mut missing = Vec::new();
        for (resource_type, ids) in &named.by_type {
            for id in ids {
                let external_id = format!("{resource_type}:{id}");
                if !exists.exists(params![external_id, self.sync_id]).map_err(sqlite("finding principals without a resource"))? {
                    missing.push(pb::ResourceId { resource_type: resource_type.clone(), resource: id.clone(), ..Default::default() });
                }
            }
        }
        missing.sort_by(|a, b| (&a.resource_type, &a.resource).cmp(&(&b.resource_type, &b.resource)));
        Ok(missing)
    }

    /// [`principals_without_resource`](Self::principals_without_resource) by a scan of every
    /// grant row, for a reopened sync.
    fn scanned_principals_without_resource(&self) -> Result<Vec<pb::ResourceId>, WriteError> {
        let mut query = self
            .conn
            .prepare(
                "SELECT DISTINCT g.principal_resource_type_id, g.principal_resource_id FROM v1_grants g
                 WHERE g.sync_id = ?1 AND NOT EXISTS (
                   SELECT 1 FROM v1_resources r
                   WHERE r.sync_id = ?1 AND r.external_id = g.principal_resource_type_id || ':' || g.principal_resource_id)
                 ORDER BY 1, 2",
            )
            .map_err(sqlite("finding principals without a resource"))?;
        let rows = query
            .query_map(params![self.sync_id], |row| Ok(pb::ResourceId { resource_type: row.get(0)?, resource: row.get(1)?, ..Default::default() }))
            .map_err(sqlite("finding principals without a resource"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite("finding principals without a resource"))
    }

    /// The KSUID of the sync being written.
    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }

    /// Stores a resource type; a later one with the same id replaces it.
    pub fn put_resource_type(&mut self, rt: &pb::ResourceType) -> Result<(), WriteError> {
        if rt.id.is_empty() {
            return Err(invalid("resource type", &rt.display_name, "id is empty"));
        }
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_resource_types (external_id, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| st.execute(params![rt.id, rt.encode_to_vec(), self.sync_id, now]))
            .map_err(sqlite("inserting a resource type"))?;
        self.row_written()
    }

    /// Stores a resource; a later one with the same type and id replaces it.
    pub fn put_resource(&mut self, resource: &pb::Resource) -> Result<(), WriteError> {
        let id = required_resource_id(resource.id.as_ref(), "resource", &resource.display_name)?;
        let external_id = format!("{}:{}", id.resource_type, id.resource);
        let parent = resource.parent_resource_id.as_ref();
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_resources (resource_type_id, external_id, parent_resource_type_id,
                   parent_resource_id, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   parent_resource_type_id = excluded.parent_resource_type_id,
                   parent_resource_id = excluded.parent_resource_id,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    id.resource_type,
                    external_id,
                    parent.map(|p| &p.resource_type),
                    parent.map(|p| &p.resource),
                    resource.encode_to_vec(),
                    self.sync_id,
                    now
                ])
            })
            .map_err(sqlite("inserting a resource"))?;
        self.row_written()
    }

    /// Stores an entitlement; `resource.id` must be set. A later one with the
    /// same id replaces it.
    pub fn put_entitlement(&mut self, ent: &pb::Entitlement) -> Result<(), WriteError> {
        if ent.id.is_empty() {
            return Err(invalid("entitlement", &ent.display_name, "id is empty"));
        }
        let resource = ent.resource.as_ref();
        let resource_id = required_resource_id(resource.and_then(|r| r.id.as_ref()), "entitlement", &ent.id)
            .map_err(|_| invalid("entitlement", &ent.id, "resource.id is missing"))?;
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_entitlements (resource_type_id, resource_id, external_id, data,
                   sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   resource_id = excluded.resource_id,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| st.execute(params![resource_id.resource_type, resource_id.resource, ent.id, ent.encode_to_vec(), self.sync_id, now]))
            .map_err(sqlite("inserting an entitlement"))?;
        self.row_written()
    }

    /// Stores a grant; `entitlement`, `entitlement.resource.id` and
    /// `principal.id` must be set. A GrantExpandable annotation is moved out
    /// of the blob into the `expansion` column, as the SDK does (docs/c1z-and-c1.md §2.8).
    pub fn put_grant(&mut self, grant: &pb::Grant) -> Result<(), WriteError> {
        let keys = GrantKeys::of(grant)?;
        let (expansion, blob) = split_expansion(grant)?;
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_grants (resource_type_id, resource_id, entitlement_id,
                   principal_resource_type_id, principal_resource_id, external_id, expansion,
                   needs_expansion, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   resource_id = excluded.resource_id,
                   entitlement_id = excluded.entitlement_id,
                   principal_resource_type_id = excluded.principal_resource_type_id,
                   principal_resource_id = excluded.principal_resource_id,
                   expansion = excluded.expansion,
                   needs_expansion = excluded.needs_expansion,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    keys.resource.resource_type,
                    keys.resource.resource,
                    keys.entitlement_id,
                    keys.principal.resource_type,
                    keys.principal.resource,
                    grant.id,
                    expansion.as_deref(),
                    expansion.is_some(),
                    blob,
                    self.sync_id,
                    now
                ])
            })
            .map_err(sqlite("inserting a grant"))?;
        if let Some(named) = &mut self.named_principals {
            named.note(keys.principal);
        }
        self.row_written()
    }

    /// Ends the sync, builds the indexes, and atomically writes the `.c1z`
    /// file. On error the output is left as it was and scratch files are removed.
    pub fn finish(self) -> Result<Summary, WriteError> {
        let C1zWriter { conn, workdir, db_path, out, sync_id, keep_previous, .. } = self;
        conn.execute("DELETE FROM v1_connector_sessions WHERE sync_id = ?1", [&sync_id]).map_err(sqlite("clearing session entries"))?;
        // Leave the resumable journal (the payload is the database file alone) before the
        // indexes are built: under a plain rollback journal their pages, all new, are written
        // once, into the file.
        let started = Instant::now();
        conn.execute_batch("COMMIT").map_err(sqlite("committing"))?;
        conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(())).map_err(sqlite("closing the journal"))?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "folded the journal into the database");
        let started = Instant::now();
        if let Some(kept) = keep_previous.then(|| previous::carry(&conn, &out, workdir.path())).flatten() {
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), previous_sync = %kept, "kept the previous sync beside the new one");
        }
        let started = Instant::now();
        end_sync(&conn, &sync_id)?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "built the lookup indexes");
        let mut summary = count_rows(&conn, &sync_id)?;
        conn.close().map_err(|(_, e)| sqlite("closing the scratch database")(e))?;
        summary.database_bytes = file_len(&db_path)?;
        let started = Instant::now();
        summary.file_bytes = write_c1z_atomically(&db_path, summary.database_bytes, &out)?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            database_bytes = summary.database_bytes,
            file_bytes = summary.file_bytes,
            "compressed the database into the file"
        );
        workdir.remove();
        Ok(summary)
    }

    /// Counts a row and commits every [`ROWS_PER_COMMIT`] rows.
    fn row_written(&mut self) -> Result<(), WriteError> {
        self.rows_since_commit += 1;
        if self.rows_since_commit >= ROWS_PER_COMMIT {
            self.conn.execute_batch("COMMIT; BEGIN").map_err(sqlite("committing a batch of rows"))?;
            self.rows_since_commit = 0;
        }
        Ok(())
    }
}

impl std::fmt::Debug for C1zWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C1zWriter").field("out", &self.out).field("sync_id", &self.sync_id).field("scratch", &self.workdir.path()).finish()
    }
}

/// The directory that holds `out` (`.` for a bare file name).
fn output_dir(out: &Path) -> Result<PathBuf, WriteError> {
    if out.file_name().is_none() {
        return Err(WriteError::InvalidOutputPath { path: out.to_path_buf() });
    }
    Ok(match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

/// `<out>.tmp`, the name the finished file is staged under.
fn staging_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Fast, crash-unsafe settings, for a scratch db that is thrown away on failure.
const FAST_PRAGMAS: &str = "PRAGMA journal_mode = OFF;
     PRAGMA synchronous = OFF;
     PRAGMA locking_mode = EXCLUSIVE;
     PRAGMA cache_size = -16384;";

/// Settings that survive the process being killed, and a power cut, at a small cost. A
/// rollback journal rather than write-ahead logging: rows land at the end of the table, pages
/// a journal need not save, where a log holds every page once and the checkpoint writes it
/// again. Measured on the 1M-grant site at 0 ms: 13.5 s against 14.6-17.3 s with the log.
const DURABLE_PRAGMAS: &str = "PRAGMA journal_mode = TRUNCATE;
     PRAGMA synchronous = FULL;
     PRAGMA locking_mode = EXCLUSIVE;
     PRAGMA cache_size = -16384;";

/// Database page size, set before the first table. Measured on the 1M-grant database
/// (BENCHMARKS.md): against SQLite's 4 KiB pages, 16 KiB pages hold the ~520-byte grant rows
/// with less left over, so the database is 6% smaller, the lookup indexes build in 2.7 s
/// instead of 3.3 and the file is 5% smaller. Any page size is readable.
const PAGE_SIZE_PRAGMA: &str = "PRAGMA page_size = 16384;";

/// The settings, the tables, and the unique indexes the upserts rely on.
fn prepare_database(conn: &Connection, pragmas: &str) -> Result<(), WriteError> {
    conn.execute_batch(PAGE_SIZE_PRAGMA).map_err(sqlite("setting the page size"))?;
    conn.execute_batch(pragmas).map_err(sqlite("configuring the scratch database"))?;
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

/// Sets `ended_at`, creates the deferred indexes and commits, in one transaction.
fn end_sync(conn: &Connection, sync_id: &str) -> Result<(), WriteError> {
    conn.execute_batch("BEGIN").map_err(sqlite("starting a transaction"))?;
    conn.execute("UPDATE v1_sync_runs SET ended_at = ?1 WHERE sync_id = ?2 AND ended_at IS NULL", params![timefmt::now_text(), sync_id])
        .map_err(sqlite("ending the sync run"))?;
    conn.execute_batch(schema::DEFERRED_INDEXES).map_err(sqlite("creating indexes"))?;
    conn.execute_batch("COMMIT").map_err(sqlite("committing"))
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

fn required_resource_id<'a>(id: Option<&'a pb::ResourceId>, kind: &'static str, label: &str) -> Result<&'a pb::ResourceId, WriteError> {
    match id {
        None => Err(invalid(kind, label, "id is missing")),
        Some(id) if id.resource_type.is_empty() || id.resource.is_empty() => Err(invalid(kind, label, "id.resource_type or id.resource is empty")),
        Some(id) => Ok(id),
    }
}

/// The grant fields that fill the derived columns of `v1_grants`.
struct GrantKeys<'a> {
    entitlement_id: &'a str,
    resource: &'a pb::ResourceId,
    principal: &'a pb::ResourceId,
}

impl<'a> GrantKeys<'a> {
    fn of(grant: &'a pb::Grant) -> Result<Self, WriteError> {
        let fail = |reason| invalid("grant", &grant.id, reason);
        if grant.id.is_empty() {
            return Err(fail("id is empty"));
        }
        let entitlement = grant.entitlement.as_ref().ok_or_else(|| fail("entitlement is missing"))?;
        if entitlement.id.is_empty() {
            return Err(fail("entitlement.id is empty"));
        }
        let resource = entitlement.resource.as_ref().and_then(|r| r.id.as_ref()).ok_or_else(|| fail("entitlement.resource.id is missing"))?;
        let principal = grant.principal.as_ref().and_then(|p| p.id.as_ref()).ok_or_else(|| fail("principal.id is missing"))?;
        Ok(GrantKeys { entitlement_id: &entitlement.id, resource, principal })
    }
}

/// Splits a grant into (expansion column, data blob): any GrantExpandable is
/// removed from the blob; the column holds it only if it names a non-blank
/// entitlement id.
fn split_expansion(grant: &pb::Grant) -> Result<(Option<Vec<u8>>, Vec<u8>), WriteError> {
    let expandable: Option<pb::GrantExpandable> =
        find_annotation(&grant.annotations).map_err(|source| WriteError::BadExpandable { grant_id: grant.id.clone(), source })?;
    let Some(expandable) = expandable else {
        return Ok((None, grant.encode_to_vec()));
    };
    let mut stripped = grant.clone();
    take_annotations::<pb::GrantExpandable>(&mut stripped.annotations);
    let has_target = expandable.entitlement_ids.iter().any(|id| !id.trim().is_empty());
    let column = has_target.then(|| expandable.encode_to_vec());
    Ok((column, stripped.encode_to_vec()))
}

fn file_len(path: &Path) -> Result<u64, WriteError> {
    fs::metadata(path).map(|m| m.len()).map_err(io_err("reading the size of", path))
}

/// Removes a path on drop unless disarmed; keeps `<out>.tmp` from lingering.
struct RemoveOnDrop<'a> {
    path: &'a Path,
    armed: bool,
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
fn write_c1z_atomically(db_path: &Path, db_len: u64, out: &Path) -> Result<u64, WriteError> {
    let staging = staging_path(out);
    let mut guard = RemoveOnDrop { path: &staging, armed: true };
    let file = create_staging_file(&staging)?;
    let file = compress_database(db_path, db_len, file, &staging)?;
    file.sync_all().map_err(io_err("syncing", &staging))?;
    let written = file.metadata().map(|m| m.len()).map_err(io_err("reading the size of", &staging))?;
    drop(file);
    fs::rename(&staging, out).map_err(io_err("renaming the staged file onto", out))?;
    guard.armed = false;
    sync_directory(&output_dir(out)?)?;
    Ok(written)
}

/// The staged output: private (0600: it is directory data about people), created anew
/// (`O_EXCL`) and never through a link (`O_NOFOLLOW`); a stale one from a crash is removed
/// first (removing a link removes the link, not what it points to).
fn create_staging_file(staging: &Path) -> Result<File, WriteError> {
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

/// `.<name>.partial` must be a directory of this user's, not a link, before anything in it is
/// trusted or written; one this user owns but others can read is made private again (0700).
fn check_private_workdir(workdir: &Path) -> Result<(), WriteError> {
    let Ok(meta) = fs::symlink_metadata(workdir) else { return Ok(()) };
    let refuse = |why: &str| {
        Err(WriteError::Io {
            action: "using the unfinished sync in",
            path: workdir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, format!("it {why}; remove it and start again")),
        })
    };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return refuse("is not a directory (a link or a file is where the unfinished sync should be)");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return refuse("belongs to another user");
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(workdir, fs::Permissions::from_mode(0o700)).map_err(io_err("making private", workdir))?;
        }
    }
    Ok(())
}

/// Creates `.<name>.partial` private to this user (0700).
fn create_private_dir(dir: &Path) -> Result<(), WriteError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err("creating the work directory", dir))
}

/// zstd worker threads: one per core this process may use (the end of a sync has nothing
/// else to do).
fn compression_threads() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// Streams the header and one zstd frame (with content size and checksum).
fn compress_database(db_path: &Path, db_len: u64, file: File, staging: &Path) -> Result<File, WriteError> {
    let write_err = io_err("writing", staging);
    let mut db = BufReader::new(File::open(db_path).map_err(io_err("opening", db_path))?);
    let mut sink = BufWriter::new(file);
    let result = (|| -> io::Result<File> {
        sink.write_all(C1Z_V1_MAGIC)?;
        let mut encoder = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?;
        encoder.include_checksum(true)?;
        encoder.include_contentsize(true)?;
        encoder.multithread(compression_threads())?;
        encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_BYTES))?;
        encoder.set_pledged_src_size(Some(db_len))?;
        io::copy(&mut db, &mut encoder)?;
        encoder.finish()?.into_inner().map_err(|e| e.into_error())
    })();
    result.map_err(write_err)
}

#[cfg(unix)]
fn sync_directory(dir: &Path) -> Result<(), WriteError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("syncing directory", dir))
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> Result<(), WriteError> {
    Ok(())
}
