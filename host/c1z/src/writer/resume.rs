//! A sync that survives being killed: its work folder (`.<name>.partial` beside the output,
//! private), the durable journal, checkpoints of the caller's progress and the connector's
//! per-sync store, and reopening an unfinished sync.

use super::package::output_dir;
use super::space::{SpaceNeeds, Stage};
use super::{C1zWriter, DURABLE_PRAGMAS, Pragmas, WriteError, io_err, sqlite};
use std::fs::{self, File};
use std::io::{self};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use tempfile::TempDir;

/// Where the scratch database lives.
pub(super) enum Workdir {
    /// A temporary directory, removed when the writer goes away.
    Scratch(TempDir),
    /// `.<name>.partial` beside the output: kept when the writer goes away unfinished (so a
    /// later run can resume), removed once the output is written.
    Resumable(PathBuf),
}

impl Workdir {
    pub(super) fn path(&self) -> &Path {
        match self {
            Workdir::Scratch(dir) => dir.path(),
            Workdir::Resumable(dir) => dir,
        }
    }

    /// Best effort: the output is complete even if scratch removal fails.
    pub(super) fn remove(self) {
        match self {
            Workdir::Scratch(dir) => drop(dir.close()),
            Workdir::Resumable(dir) => drop(fs::remove_dir_all(dir)),
        }
    }
}

/// What was found in a resumable work directory.
enum Reopened {
    Resumed(Box<C1zWriter>, String),
    /// Nothing to resume.
    Nothing,
    /// Something there, not whole: why.
    Damaged(String),
}

/// `Ok` when SQLite's quick check finds the database whole.
fn whole(conn: &Connection) -> Result<(), String> {
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(|e| e.to_string())?;
    if verdict == "ok" { Ok(()) } else { Err(verdict) }
}

/// Moves a damaged work directory aside (replacing an earlier one set aside), with one warning;
/// the sync then starts over.
fn set_aside(workdir: &Path, why: &str) {
    let aside = workdir.with_extension("partial.damaged");
    let _ = fs::remove_dir_all(&aside);
    match fs::rename(workdir, &aside) {
        Ok(()) => {
            tracing::warn!(checkpoint = %workdir.display(), kept_as = %aside.display(), "the interrupted sync's checkpoint is not usable: {why}; it was set aside and a full sync runs")
        }
        Err(e) => {
            tracing::warn!(checkpoint = %workdir.display(), "the interrupted sync's checkpoint is not usable: {why}; it could not be set aside ({e}) and is replaced by a full sync")
        }
    }
}

/// `.<name>.partial` beside `out` (which must name a file).
fn resumable_workdir(out: &Path) -> Result<PathBuf, WriteError> {
    output_dir(out)?;
    Ok(crate::hidden_beside(out, "partial"))
}

/// File in a resumable work directory that holds the caller's progress.
const CHECKPOINT_FILE: &str = "checkpoint.json";

impl C1zWriter {
    /// Like [`create`](Self::create), but the scratch database lives in `.<name>.partial`
    /// beside `out` with a journal that survives the process being killed, and
    /// [`checkpoint`](Self::checkpoint) makes progress durable. If an unfinished sync is found
    /// there, it is reopened and the caller's last checkpoint is returned with it.
    pub fn resume_or_create(out: &Path) -> Result<(C1zWriter, Option<String>), WriteError> {
        let workdir = resumable_workdir(out)?;
        Self::resume_or_create_in(out, &workdir).map_err(|error| SpaceNeeds::before_start(out, workdir.join("db"), true).explain(Stage::Rows, error))
    }

    /// Removes the unfinished sync beside `out`, if any (a checkpoint its caller cannot use).
    pub fn discard_unfinished(out: &Path) {
        if let Ok(workdir) = resumable_workdir(out) {
            let _ = fs::remove_dir_all(workdir);
        }
    }

    fn resume_or_create_in(out: &Path, workdir: &Path) -> Result<(C1zWriter, Option<String>), WriteError> {
        let workdir = workdir.to_path_buf();
        check_private_workdir(&workdir)?;
        match Self::reopen(out, &workdir)? {
            Reopened::Resumed(writer, checkpoint) => return Ok((*writer, Some(checkpoint))),
            Reopened::Damaged(why) => set_aside(&workdir, &why),
            Reopened::Nothing => {}
        }
        let _ = fs::remove_dir_all(&workdir);
        create_private_dir(&workdir)?;
        Ok((Self::start(out, Workdir::Resumable(workdir), &DURABLE_PRAGMAS)?, None))
    }

    /// The unfinished sync in `workdir` with its checkpoint, if both are there and whole.
    fn reopen(out: &Path, workdir: &Path) -> Result<Reopened, WriteError> {
        let (db_path, checkpoint_path) = (workdir.join("db"), workdir.join(CHECKPOINT_FILE));
        let checkpoint = match fs::read_to_string(&checkpoint_path) {
            Ok(checkpoint) => checkpoint,
            // No checkpoint yet: killed before the first one; nothing to resume.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reopened::Nothing),
            Err(e) => return Ok(Reopened::Damaged(format!("its checkpoint cannot be read ({e})"))),
        };
        if !db_path.is_file() {
            return Ok(Reopened::Damaged("its database is missing".into()));
        }
        let conn = match Connection::open(&db_path) {
            Ok(conn) => conn,
            Err(e) => return Ok(Reopened::Damaged(format!("its database does not open ({e})"))),
        };
        if let Err(why) = conn.execute_batch(DURABLE_PRAGMAS.database).map_err(|e| e.to_string()).and_then(|()| whole(&conn)) {
            return Ok(Reopened::Damaged(format!("its database is damaged ({why})")));
        }
        if let Err(why) = attach_store(&conn, workdir, &DURABLE_PRAGMAS) {
            return Ok(Reopened::Damaged(format!("its store does not open ({why})")));
        }
        // This sync's run is the first row of its own database (a sync kept from the replaced
        // file comes after it). One already ended was being finished when the process stopped:
        // its rows are whole, and finishing it again delivers it.
        let sync_id: Option<String> = conn.query_row("SELECT sync_id FROM v1_sync_runs ORDER BY id LIMIT 1", [], |row| row.get(0)).ok();
        let Some(sync_id) = sync_id else { return Ok(Reopened::Damaged("its database holds no sync".into())) };
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
            early_min_bytes: super::early::EARLY_MIN_BYTES,
        };
        Ok(Reopened::Resumed(Box::new(writer), checkpoint))
    }

    /// Makes everything written so far durable together with the caller's `progress` (returned
    /// by [`resume_or_create`](Self::resume_or_create) after a crash) and `session` entries (the
    /// connector's per-sync store, kept in the work folder's `store` database, committed with the
    /// rows, and never in the file).
    pub fn checkpoint(&mut self, progress: &str, session: &[(String, String)]) -> Result<(), WriteError> {
        {
            let mut upsert = self
                .conn
                .prepare_cached("INSERT INTO store.entries (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .map_err(sqlite("saving session entries"))?;
            for (key, value) in session {
                upsert.execute(params![key, value.as_bytes()]).map_err(sqlite("saving session entries"))?;
            }
        }
        self.commit_and_begin("committing a checkpoint")?;
        let path = self.workdir.path().join(CHECKPOINT_FILE);
        let staged = self.workdir.path().join("checkpoint.json.tmp");
        fs::write(&staged, progress).map_err(io_err("writing the checkpoint", &staged))?;
        File::open(&staged).and_then(|f| f.sync_all()).map_err(io_err("syncing the checkpoint", &staged))?;
        fs::rename(&staged, &path).map_err(io_err("saving the checkpoint", &path))
    }

    /// The session entries saved by earlier checkpoints of this sync (those of a sync begun by
    /// an earlier version, which kept them in the database's `v1_connector_sessions`, first).
    pub fn session_entries(&self) -> Result<Vec<(String, String)>, WriteError> {
        let mut query = self
            .conn
            .prepare("SELECT key, value FROM main.v1_connector_sessions WHERE sync_id = ?1 UNION ALL SELECT key, value FROM store.entries")
            .map_err(sqlite("reading session entries"))?;
        let rows = query
            .query_map([&self.sync_id], |row| {
                let value: Vec<u8> = row.get(1)?;
                Ok((row.get::<_, String>(0)?, String::from_utf8_lossy(&value).into_owned()))
            })
            .map_err(sqlite("reading session entries"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite("reading session entries"))
    }
}

/// The connector's per-sync store: `store` in the work folder, attached beside the database so a
/// checkpoint commits both together, and outside it so clearing the store at the end frees no
/// page of the file (the index build then only appends: see `early`).
pub(super) fn attach_store(conn: &Connection, workdir: &Path, pragmas: &Pragmas) -> Result<(), WriteError> {
    let path = workdir.join("store");
    conn.execute("ATTACH DATABASE ?1 AS store", [path.to_string_lossy()]).map_err(sqlite("opening the connector's store"))?;
    conn.execute_batch(pragmas.store).map_err(sqlite("configuring the connector's store"))?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS store.entries (key TEXT PRIMARY KEY, value BLOB NOT NULL)").map_err(sqlite("creating the connector's store"))
}

/// `.<name>.partial` must be a directory of this user's, not a link, before anything in it is
/// trusted or written; one this user owns but others can read is made private again (0700).
pub(super) fn check_private_workdir(workdir: &Path) -> Result<(), WriteError> {
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
pub(super) fn create_private_dir(dir: &Path) -> Result<(), WriteError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err("creating the work directory", dir))
}
