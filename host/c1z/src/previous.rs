//! The sync before: when a sync replaces a `.c1z`, the latest finished full sync of the file it
//! replaces is copied into the new one (baton-sdk's files keep earlier syncs too; the older Go
//! connector's hold two), so `baton diff` shows what changed between them. One earlier sync is
//! kept, never more. A file that cannot be read, or one written with an older schema, is left
//! out with a warning: the sync itself never fails for it.

use crate::reader::{DEFAULT_MAX_DECOMPRESSED_BYTES, decompress, open_and_check_header};
use rusqlite::Connection;
use std::path::Path;

/// The tables whose rows belong to a sync, in copy order (sessions are never kept).
const SYNC_TABLES: [&str; 6] = ["v1_sync_runs", "v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants", "v1_assets"];

/// The attached file is read once, front to back: a small page cache does (left alone it took
/// the new database's, 8 MiB of the replacing 100k-grant sync's peak).
const READING_CACHE: &str = "PRAGMA previous.cache_size = -1024;";

/// Copies the latest finished full sync of `previous` (the file about to be replaced) into
/// `conn`; its sync id, or none when there was nothing to keep. `scratch` holds the
/// decompressed copy while it is read.
pub(crate) fn carry(conn: &Connection, previous: &Path, scratch: &Path) -> Option<String> {
    if !previous.is_file() {
        return None;
    }
    let copy = scratch.join("previous.db");
    let carried = open_copy(previous, &copy).and_then(|()| copy_latest_full_sync(conn, &copy));
    let _ = std::fs::remove_file(&copy);
    match carried {
        Ok(kept) => kept,
        Err(why) => {
            tracing::warn!(file = %previous.display(), reason = %why, "the sync in the file being replaced is not kept beside the new one");
            None
        }
    }
}

fn open_copy(previous: &Path, copy: &Path) -> Result<(), String> {
    let file = open_and_check_header(previous).map_err(|e| e.to_string())?;
    decompress(file, previous, copy, DEFAULT_MAX_DECOMPRESSED_BYTES).map_err(|e| e.to_string())
}

fn copy_latest_full_sync(conn: &Connection, copy: &Path) -> Result<Option<String>, String> {
    let text = |e: rusqlite::Error| e.to_string();
    conn.execute("ATTACH DATABASE ?1 AS previous", [copy.to_string_lossy()]).map_err(text)?;
    conn.execute_batch(READING_CACHE).map_err(text)?;
    let copied = (|| {
        let columns = SYNC_TABLES.iter().map(|table| copied_columns(conn, table)).collect::<Result<Vec<_>, _>>()?;
        let Some(sync_id) = latest_full_sync(conn)? else { return Ok(None) };
        conn.execute_batch("BEGIN").map_err(text)?;
        for (table, columns) in SYNC_TABLES.iter().zip(columns) {
            conn.execute(&format!("INSERT INTO main.{table} ({columns}) SELECT {columns} FROM previous.{table} WHERE sync_id = ?1"), [&sync_id])
                .map_err(text)?;
        }
        conn.execute_batch("COMMIT").map_err(text)?;
        Ok(Some(sync_id))
    })();
    if copied.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    conn.execute_batch("DETACH DATABASE previous").map_err(text)?;
    copied
}

/// The newest finished full sync of the attached file.
fn latest_full_sync(conn: &Connection) -> Result<Option<String>, String> {
    let sql = "SELECT sync_id FROM previous.v1_sync_runs WHERE ended_at IS NOT NULL AND sync_type = 'full' ORDER BY ended_at DESC, id DESC LIMIT 1";
    match conn.query_row(sql, [], |row| row.get(0)) {
        Ok(id) => Ok(Some(id)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The columns of `table` a copy carries (every one but the row id, as a list for SQL); an
/// error for a previous file whose table lacks one of ours (an older schema).
fn copied_columns(conn: &Connection, table: &str) -> Result<String, String> {
    let theirs = columns_of(conn, "previous", table)?;
    let ours = columns_of(conn, "main", table)?;
    let missing: Vec<&String> = ours.iter().filter(|c| !theirs.contains(c)).collect();
    if theirs.is_empty() || !missing.is_empty() {
        let what = if theirs.is_empty() { "table".to_string() } else { missing.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ") };
        return Err(format!("its {table} table is of an older schema (no {what})"));
    }
    Ok(ours.into_iter().filter(|c| c != "id").collect::<Vec<_>>().join(", "))
}

fn columns_of(conn: &Connection, schema: &str, table: &str) -> Result<Vec<String>, String> {
    let sql = format!("SELECT name FROM pragma_table_info('{table}', '{schema}')");
    conn.prepare(&sql).and_then(|mut st| st.query_map([], |row| row.get(0))?.collect()).map_err(|e| e.to_string())
}
