//! Reader error cases (each gets its own variant) and sync selection.

mod common;

use std::path::{Path, PathBuf};

use baton_c1z::reader::ReadOptions;
use baton_c1z::{C1zReader, ReadError};
use common::*;
use rusqlite::Connection;

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn open_err(path: &Path) -> ReadError {
    C1zReader::open(path).expect_err("open must fail")
}

fn valid_c1z(dir: &Path) -> PathBuf {
    let out = dir.join("valid.c1z");
    write_dataset(&out, &dataset());
    out
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = open_err(&dir.path().join("nope.c1z"));
    assert!(matches!(err, ReadError::NotFound { .. }), "{err}");
}

#[test]
fn empty_and_short_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in [("empty.c1z", &b""[..]), ("short.c1z", &b"C1Z"[..])] {
        let err = open_err(&write_bytes(dir.path(), name, bytes));
        assert!(matches!(err, ReadError::TooShort { len, .. } if len == bytes.len() as u64), "{err}");
    }
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = open_err(&write_bytes(dir.path(), "zip.c1z", b"PK\x03\x04\x14\x00rest"));
    assert!(matches!(err, ReadError::BadMagic { found, .. } if &found == b"PK\x03\x04\x14"), "{err}");
}

#[test]
fn v3_pebble_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = open_err(&write_bytes(dir.path(), "v3.c1z", b"C1Z3\0\0\0\0\x10manifest"));
    assert!(matches!(err, ReadError::V3Format { .. }), "{err}");
    assert!(err.to_string().contains("v0.25+ pebble"), "{err}");
}

#[test]
fn truncated_or_corrupt_zstd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(valid_c1z(dir.path())).expect("read");
    let cases = [
        ("truncated.c1z", full[..full.len() / 2].to_vec()),
        ("garbage.c1z", [&b"C1ZF\0"[..], b"definitely not zstd data"].concat()),
        ("header-only.c1z", b"C1ZF\0".to_vec()),
    ];
    for (name, bytes) in cases {
        let err = open_err(&write_bytes(dir.path(), name, &bytes));
        assert!(matches!(err, ReadError::CorruptCompression { .. }), "{name}: {err}");
    }
}

#[test]
fn payload_that_is_not_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "this is plain text, not a database\n".repeat(200);
    let mut bytes = b"C1ZF\0".to_vec();
    bytes.extend(zstd::encode_all(text.as_bytes(), 3).expect("zstd"));
    let err = open_err(&write_bytes(dir.path(), "text.c1z", &bytes));
    assert!(matches!(err, ReadError::NotSqlite { .. }), "{err}");
}

#[test]
fn sqlite_without_baton_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("other.db");
    Connection::open(&db).and_then(|c| c.execute_batch("create table foo (x)")).expect("db");
    let c1z = dir.path().join("other.c1z");
    compress_by_hand(&db, &c1z);
    match open_err(&c1z) {
        ReadError::MissingTables { missing, .. } => assert_eq!(missing.len(), 5),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn decompressed_size_is_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c1z = valid_c1z(dir.path());
    let options = ReadOptions { max_decompressed_bytes: 1024, temp_dir: Some(dir.path().to_path_buf()) };
    let err = C1zReader::open_with(&c1z, &options).expect_err("too large");
    assert!(matches!(err, ReadError::TooLarge { limit: 1024, .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), vec!["valid.c1z"], "reader temp dir removed");
}

#[test]
fn default_sync_is_latest_finished_full_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c1z = valid_c1z(dir.path());
    let first_sync = C1zReader::open(&c1z).expect("open").selected_sync_id().map(str::to_owned);

    // Add a newer unfinished sync and a newer finished partial sync, each with one resource.
    let db = decompress_by_hand(&c1z, dir.path());
    let conn = Connection::open(&db).expect("open raw");
    conn.execute_batch(
        "INSERT INTO v1_sync_runs (sync_id, started_at, sync_token, sync_type)
           VALUES ('unfinished', '2999-01-01 00:00:00', '', 'full');
         INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type)
           VALUES ('partial', '2999-01-01 00:00:00', '2999-01-02 00:00:00', '', 'partial');
         INSERT INTO v1_resources (resource_type_id, external_id, data, sync_id, discovered_at)
           SELECT resource_type_id, external_id, data, 'unfinished', discovered_at
           FROM v1_resources WHERE external_id = 'user:alice';",
    )
    .expect("extra syncs");
    drop(conn);
    compress_by_hand(&db, &c1z);

    let mut reader = C1zReader::open(&c1z).expect("open");
    assert_eq!(reader.selected_sync_id().map(str::to_owned), first_sync);
    assert_eq!(reader.sync_runs().expect("runs").len(), 3);
    assert_eq!(reader.resources(None).expect("resources").len(), 4);
    reader.select_sync(Some("unfinished".into()));
    assert_eq!(reader.resources(None).expect("resources").len(), 1);
    reader.select_sync(None);
    assert_eq!(reader.resources(None).expect("resources").len(), 5);
}

#[test]
fn wal_mode_database_from_go_is_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c1z = valid_c1z(dir.path());
    let db = decompress_by_hand(&c1z, dir.path());
    let conn = Connection::open(&db).expect("open raw");
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).expect("wal");
    assert_eq!(mode, "wal");
    drop(conn);
    compress_by_hand(&db, &c1z);
    let reader = C1zReader::open(&c1z).expect("open WAL-format db");
    assert_eq!(reader.grants().expect("grants").len(), 3);
}

#[test]
fn a_resource_or_entitlement_is_looked_up_by_id_and_grants_come_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let reader = C1zReader::open(&valid_c1z(dir.path())).unwrap();
    for resource in reader.resources(None).unwrap() {
        let id = resource.id.as_ref().unwrap();
        assert_eq!(reader.resource(&format!("{}:{}", id.resource_type, id.resource)).unwrap(), Some(resource.clone()));
    }
    for entitlement in reader.entitlements().unwrap() {
        assert_eq!(reader.entitlement(&entitlement.id).unwrap(), Some(entitlement.clone()));
    }
    assert_eq!(reader.resource("user:nobody").unwrap(), None);
    assert_eq!(reader.entitlement("group:nobody:member").unwrap(), None);
    let mut one_by_one = Vec::new();
    reader
        .each_grant(|g| {
            one_by_one.push(g);
            Ok::<(), ReadError>(())
        })
        .unwrap();
    assert!(!one_by_one.is_empty());
    assert_eq!(one_by_one, reader.grants().unwrap());
}
