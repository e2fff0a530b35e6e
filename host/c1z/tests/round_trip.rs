//! Writer → reader round trips, the raw SQLite layout, dedup and cleanup.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use baton_c1z::pb;
use baton_c1z::{C1zReader, C1zWriter, WriteError, find_annotation};
use common::*;
use prost::Message;
use rusqlite::Connection;

const TABLES: &[&str] = &["v1_assets", "v1_connector_sessions", "v1_entitlements", "v1_grants", "v1_resource_types", "v1_resources", "v1_sync_runs"];

const INDEXES: &[&str] = &[
    "idx_assets_external_sync_v1",
    "idx_entitlements_external_sync_v1",
    "idx_entitlements_resource_id_v1",
    "idx_grants_entitlement_id_principal_id_v1",
    "idx_grants_entitlement_sync_grant_v1",
    "idx_grants_external_sync_v1",
    "idx_grants_principal_id_v1",
    "idx_grants_resource_type_id_resource_id_v1",
    "idx_grants_sync_expansion_v1",
    "idx_grants_sync_needs_expansion_v1",
    "idx_resource_types_external_sync_v1",
    "idx_resources_external_sync_v1",
    "idx_resources_parent_resource_id_v1",
    "idx_resources_resource_type_id_v1",
    "idx_session_store_sync_key_v1",
    "idx_sync_runs_sync_id_v1",
];

fn names_of(conn: &Connection, kind: &str) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = ?1 ORDER BY name").expect("prepare");
    stmt.query_map([kind], |r| r.get(0)).expect("query").map(|r| r.expect("row")).collect()
}

/// `YYYY-MM-DD HH:MM:SS` optionally followed by `.` and 1-9 digits not ending in 0.
fn is_sdk_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits_at = |idx: &[usize]| idx.iter().all(|&i| b.get(i).is_some_and(u8::is_ascii_digit));
    let base_ok = b.len() >= 19
        && digits_at(&[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !base_ok {
        return false;
    }
    match &s[19..] {
        "" => true,
        frac => {
            let digits = &frac[1..];
            frac.starts_with('.') && (1..=9).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit()) && !digits.ends_with('0')
        }
    }
}

#[test]
fn round_trip_keeps_counts_ids_and_annotations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let data = dataset();
    let summary = write_dataset(&out, &data);
    assert_eq!((summary.resource_types, summary.resources, summary.entitlements, summary.grants), (2, 4, 2, 3));
    assert_eq!(dir_entries(dir.path()), vec!["sync.c1z"], "only the output remains");

    let reader = C1zReader::open(&out).expect("open");
    assert_eq!(reader.selected_sync_id(), Some(summary.sync_id.as_str()));
    let rt_ids: Vec<String> = reader.resource_types().expect("rts").into_iter().map(|r| r.id).collect();
    assert_eq!(rt_ids, ["user", "group"]);
    assert_eq!(reader.resource_types().expect("rts"), data.resource_types);
    assert_eq!(reader.resources(None).expect("resources"), data.resources);
    let users = reader.resources(Some("user")).expect("users");
    assert_eq!(users.len(), 2);
    let trait_: Option<pb::UserTrait> = find_annotation(&users[0].annotations).expect("decode");
    assert_eq!(trait_.map(|t| t.login), Some("alice@example.com".to_string()));
    assert_eq!(reader.entitlements().expect("ents"), data.entitlements);

    let grants = reader.grants().expect("grants");
    assert_eq!(grants.len(), 3);
    assert_eq!(grants[0], data.grants[0]);
    assert_eq!(grants[1], data.grants[1], "expansion column re-attached losslessly");
    assert!(grants[2].annotations.is_empty(), "blank-only GrantExpandable is dropped");

    let runs = reader.sync_runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, summary.sync_id);
    assert_eq!(runs[0].sync_type, "full");
    assert!(runs[0].ended_at.is_some());
}

#[test]
fn raw_database_matches_the_sdk_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let summary = write_dataset(&out, &dataset());

    let bytes = std::fs::read(&out).expect("read");
    let frame_size = zstd::zstd_safe::get_frame_content_size(&bytes[5..]).expect("frame header");
    assert_eq!(frame_size, Some(summary.database_bytes), "pledged content size is set");
    assert_eq!(bytes.len() as u64, summary.file_bytes);

    let db = decompress_by_hand(&out, dir.path());
    let raw = std::fs::read(&db).expect("raw db");
    assert_eq!(&raw[..16], b"SQLite format 3\0");
    assert_eq!((raw[18], raw[19]), (1, 1), "rollback-journal file format, not WAL");
    let conn = Connection::open(&db).expect("open raw");
    assert_eq!(names_of(&conn, "table"), TABLES);
    assert_eq!(names_of(&conn, "index"), INDEXES);

    let (sync_id, started, ended, token, sync_type, diff, backfilled): (String, String, Option<String>, String, String, i64, i64) = conn
        .query_row("SELECT sync_id, started_at, ended_at, sync_token, sync_type, supports_diff, grants_backfilled FROM v1_sync_runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })
        .expect("sync run");
    assert_eq!(sync_id, summary.sync_id);
    assert_eq!(sync_id.len(), 27);
    assert!(sync_id.bytes().all(|c| c.is_ascii_alphanumeric()));
    assert!(is_sdk_timestamp(&started), "started_at {started:?}");
    let ended = ended.expect("ended_at set");
    assert!(is_sdk_timestamp(&ended), "ended_at {ended:?}");
    assert!(ended >= started);
    assert_eq!((token.as_str(), sync_type.as_str(), diff, backfilled), ("", "full", 1, 1));

    check_derived_resource_columns(&conn);
    check_grant_expansion_columns(&conn);
}

fn check_derived_resource_columns(conn: &Connection) {
    let (rt, ext, parent_rt, parent): (String, String, Option<String>, Option<String>) = conn
        .query_row(
            "SELECT resource_type_id, external_id, parent_resource_type_id, parent_resource_id
             FROM v1_resources WHERE external_id = 'user:alice'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("alice row");
    assert_eq!((rt.as_str(), ext.as_str(), parent_rt, parent), ("user", "user:alice", None, None));
    let discovered: String = conn.query_row("SELECT discovered_at FROM v1_resources LIMIT 1", [], |r| r.get(0)).expect("discovered_at");
    assert!(is_sdk_timestamp(&discovered));
}

fn check_grant_expansion_columns(conn: &Connection) {
    let mut stmt = conn
        .prepare(
            "SELECT entitlement_id, principal_resource_type_id, principal_resource_id, resource_type_id,
                    resource_id, expansion, needs_expansion, data FROM v1_grants ORDER BY id",
        )
        .expect("prepare");
    type Row = (String, String, String, String, String, Option<Vec<u8>>, i64, Vec<u8>);
    let rows: Vec<Row> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(rows.len(), 3);
    let (ent, p_rt, p_id, rt, res, expansion, needs, data) = &rows[1];
    assert_eq!((ent.as_str(), p_rt.as_str(), p_id.as_str()), ("group:g1:member", "group", "g2"));
    assert_eq!((rt.as_str(), res.as_str()), ("group", "g1"));
    let expandable = pb::GrantExpandable::decode(expansion.as_deref().expect("expansion set")).expect("decode");
    assert_eq!(expandable.entitlement_ids, [MEMBER_OF_G2]);
    assert_eq!(*needs, 1);
    let blob = pb::Grant::decode(data.as_slice()).expect("grant blob");
    assert!(find_annotation::<pb::GrantExpandable>(&blob.annotations).expect("decode").is_none());
    assert_eq!(blob.annotations.len(), 1, "GrantImmutable stays in the blob");

    for index in [0, 2] {
        let (_, _, _, _, _, expansion, needs, data) = &rows[index];
        assert_eq!((expansion.is_none(), *needs), (true, 0));
        let blob = pb::Grant::decode(data.as_slice()).expect("grant blob");
        assert!(blob.annotations.is_empty());
    }
}

#[test]
fn duplicate_ids_are_upserted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("dup.c1z");
    let mut writer = C1zWriter::create(&out).expect("create");
    writer.put_resource(&user("alice", "Old Name", "a@example.com")).expect("first");
    let mut moved = user("alice", "New Name", "a@example.com");
    moved.parent_resource_id = Some(rid("group", "g1"));
    writer.put_resource(&moved).expect("second");
    let data = dataset();
    writer.put_grant(&data.grants[1]).expect("grant");
    writer.put_grant(&data.grants[1]).expect("same grant again");
    let summary = writer.finish().expect("finish");
    assert_eq!((summary.resources, summary.grants), (1, 1));

    let reader = C1zReader::open(&out).expect("open");
    let resources = reader.resources(None).expect("resources");
    assert_eq!(resources, vec![moved]);

    let db = decompress_by_hand(&out, dir.path());
    let conn = Connection::open(&db).expect("open raw");
    let parent: (String, String) =
        conn.query_row("SELECT parent_resource_type_id, parent_resource_id FROM v1_resources", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("row");
    assert_eq!(parent, ("group".to_string(), "g1".to_string()), "derived columns follow the upsert");
}

/// A type read back in windows, in write order; the principals grants name without a
/// resource, each once.
#[test]
fn resources_come_back_in_windows_and_missing_principals_are_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = C1zWriter::create(&dir.path().join("w.c1z")).expect("create");
    for name in ["u0", "u1", "u2", "u3", "u4"] {
        writer.put_resource(&user(name, name, "x@example.com")).expect("user");
    }
    writer.put_resource(&group("g1", "G1")).expect("group");
    let ids = |page: Vec<pb::Resource>| page.into_iter().map(|r| r.id.unwrap().resource).collect::<Vec<_>>();
    assert_eq!(writer.count_resources_of_type("user").expect("count"), 5);
    assert_eq!(ids(writer.resources_of_type_page("user", 1, 2).expect("page")), ["u1", "u2"]);
    assert_eq!(ids(writer.resources_of_type_page("user", 4, 10).expect("last page")), ["u4"]);
    assert!(writer.resources_of_type_page("user", 5, 10).expect("past the end").is_empty());
    let group = group("g1", "G1");
    let user_type = resource_type("user", "User", pb::resource_type::Trait::User);
    let member = member_entitlement(&group, &user_type);
    for principal in ["u1", "ghost", "ghost"] {
        writer.put_grant(&grant(&member, rid("user", principal), vec![])).expect("grant");
    }
    let missing = writer.principals_without_resource().expect("missing");
    assert_eq!(missing.iter().map(|id| format!("{}:{}", id.resource_type, id.resource)).collect::<Vec<_>>(), ["user:ghost"]);
}

/// The principals named before a crash count after the sync is reopened, with those named
/// after it: the same answer, in the same order, as a writer that never stopped.
#[test]
fn a_reopened_sync_still_finds_the_principals_named_before_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let group = group("g1", "G1");
    let user_type = resource_type("user", "User", pb::resource_type::Trait::User);
    let member = member_entitlement(&group, &user_type);
    let (mut writer, _) = C1zWriter::resume_or_create(&out).expect("create");
    writer.put_resource(&user("u1", "u1", "x@example.com")).expect("user");
    for principal in ["u1", "zed", "ghost"] {
        writer.put_grant(&grant(&member, rid("user", principal), vec![])).expect("grant");
    }
    writer.put_grant(&grant(&member, rid("group", "g9"), vec![])).expect("group grant");
    let before_stop = writer.principals_without_resource().expect("missing");
    writer.checkpoint("grants written", &[]).expect("checkpoint");
    drop(writer);

    let (mut writer, progress) = C1zWriter::resume_or_create(&out).expect("reopen");
    assert_eq!(progress.as_deref(), Some("grants written"));
    assert_eq!(writer.principals_without_resource().expect("missing after reopening"), before_stop);
    writer.put_grant(&grant(&member, rid("user", "amy"), vec![])).expect("grant after reopening");
    let names = |ids: Vec<pb::ResourceId>| ids.into_iter().map(|id| format!("{}:{}", id.resource_type, id.resource)).collect::<Vec<_>>();
    assert_eq!(names(before_stop), ["group:g9", "user:ghost", "user:zed"]);
    assert_eq!(names(writer.principals_without_resource().expect("missing")), ["group:g9", "user:amy", "user:ghost", "user:zed"]);
}

#[test]
fn dropped_writer_leaves_existing_output_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let before = b"previous sync contents \x00\x01\x02".to_vec();
    std::fs::write(&out, &before).expect("seed");
    {
        let mut writer = C1zWriter::create(&out).expect("create");
        writer.put_resource(&user("alice", "Alice", "a@example.com")).expect("put");
        assert_eq!(dir_entries(dir.path()).len(), 2, "scratch dir exists while writing");
    }
    assert_eq!(std::fs::read(&out).expect("read"), before);
    assert_eq!(dir_entries(dir.path()), vec!["sync.c1z"]);
}

#[test]
fn failed_finish_cleans_up_and_leaves_output_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A non-empty directory at the output path makes the final rename fail.
    let out = dir.path().join("sync.c1z");
    std::fs::create_dir(&out).expect("dir");
    std::fs::write(out.join("keep"), b"x").expect("file");
    let writer = C1zWriter::create(&out).expect("create");
    let err = writer.finish().expect_err("rename onto a directory fails");
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    assert_eq!(dir_entries(dir.path()), vec!["sync.c1z"]);
    assert_eq!(dir_entries(&out), vec!["keep"]);
}

#[test]
fn objects_readers_would_crash_on_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = C1zWriter::create(&dir.path().join("bad.c1z")).expect("create");
    let data = dataset();
    let good = &data.grants[0];
    let mut no_entitlement = good.clone();
    no_entitlement.entitlement = None;
    let mut no_entitlement_resource = good.clone();
    if let Some(e) = no_entitlement_resource.entitlement.as_mut() {
        e.resource = None;
    }
    let mut no_principal_id = good.clone();
    no_principal_id.principal = Some(pb::Resource::default());
    for (bad, reason) in [
        (no_entitlement, "entitlement is missing"),
        (no_entitlement_resource, "entitlement.resource.id is missing"),
        (no_principal_id, "principal.id is missing"),
    ] {
        let err = writer.put_grant(&bad).expect_err("rejected");
        assert!(matches!(&err, WriteError::InvalidObject { reason: r, .. } if *r == reason), "{err}");
    }
    let mut entitlement = data.entitlements[0].clone();
    entitlement.resource = Some(pb::Resource::default());
    let err = writer.put_entitlement(&entitlement).expect_err("rejected");
    assert!(matches!(&err, WriteError::InvalidObject { kind: "entitlement", .. }), "{err}");
    assert!(err.to_string().contains("group:g1:member"), "{err}");
}

#[test]
fn output_path_without_file_name_is_rejected() {
    for path in ["/", ".."] {
        let err = C1zWriter::create(Path::new(path)).expect_err("no file name");
        assert!(matches!(err, WriteError::InvalidOutputPath { .. }), "{err}");
    }
}

#[test]
fn resumable_writer_survives_being_dropped_and_finishes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.c1z");
    let user = |id: &str| pb::Resource {
        id: Some(pb::ResourceId { resource_type: "user".into(), resource: id.into(), ..Default::default() }),
        display_name: id.into(),
        ..Default::default()
    };
    let (mut writer, progress) = C1zWriter::resume_or_create(&out).unwrap();
    assert!(progress.is_none(), "a fresh start");
    let sync_id = writer.sync_id().to_string();
    writer.put_resource(&user("ada")).unwrap();
    writer.checkpoint("after ada", &[("version".into(), "9.2.0".into())]).unwrap();
    writer.put_resource(&user("not-checkpointed")).unwrap();
    drop(writer); // as if the process died: the work directory stays
    assert!(dir.path().join(".sync.c1z.partial").is_dir());
    assert!(!out.exists());

    let (mut writer, progress) = C1zWriter::resume_or_create(&out).unwrap();
    assert_eq!(progress.as_deref(), Some("after ada"));
    assert_eq!(writer.sync_id(), sync_id, "the same sync continues");
    assert_eq!(writer.session_entries().unwrap(), vec![("version".to_string(), "9.2.0".to_string())]);
    let ids: Vec<String> = writer.resources_of_type("user").unwrap().into_iter().map(|r| r.id.unwrap().resource).collect();
    assert_eq!(ids, vec!["ada"], "work after the last checkpoint is rolled back");
    writer.put_resource(&user("bob")).unwrap();
    let summary = writer.finish().unwrap();
    assert_eq!(summary.resources, 2);
    assert!(!dir.path().join(".sync.c1z.partial").exists(), "the work directory is removed");
    let reader = C1zReader::open(&out).unwrap();
    assert_eq!(reader.sync_runs().unwrap().len(), 1);
    let db = Connection::open(decompress_by_hand(&out, dir.path())).unwrap();
    let sessions: i64 = db.query_row("SELECT count(*) FROM v1_connector_sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(sessions, 0, "session entries do not reach the output");
    let journal: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_ne!(journal.to_lowercase(), "wal", "the payload is a plain database file");
}

/// Directory data is personal data: the output is private to its owner, and a link planted
/// where the staged file goes is replaced, never written through.
#[cfg(unix)]
#[test]
fn the_output_is_private_and_a_planted_link_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"do not touch").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("sync.c1z.tmp")).unwrap();
    write_dataset(&out, &dataset());
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not touch", "the link's target is untouched");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(C1zReader::open(&out).is_ok());
}

/// The checkpoint directory is created private; one that is a link (or not ours) is refused
/// with a message saying what to do, and nothing is written through it.
#[cfg(unix)]
#[test]
fn an_unfinished_sync_is_resumed_only_from_a_private_directory_of_ours() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sync.c1z");
    let (writer, _) = C1zWriter::resume_or_create(&out).expect("create");
    let partial = dir.path().join(".sync.c1z.partial");
    assert_eq!(std::fs::metadata(&partial).unwrap().permissions().mode() & 0o777, 0o700);
    drop(writer);
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (writer, _) = C1zWriter::resume_or_create(&out).expect("ours, made private again");
    drop(writer);
    assert_eq!(std::fs::metadata(&partial).unwrap().permissions().mode() & 0o777, 0o700);

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("other.c1z");
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(".other.c1z.partial")).unwrap();
    let Err(error) = C1zWriter::resume_or_create(&out) else { panic!("a link is refused") };
    let error = error.to_string();
    assert!(error.contains("remove it and start again"), "{error}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written through the link");
}

/// A sync that replaces a file keeps the replaced file's latest full sync beside it (so
/// `baton diff` can compare them), and only that one: three syncs leave the last two.
#[test]
fn a_replacing_sync_keeps_the_one_before_it_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.c1z");
    let full = dataset();
    write_dataset(&out, &full);
    let unkept = write_dataset(&out, &full);
    assert_eq!(C1zReader::open(&out).unwrap().sync_runs().unwrap().len(), 1, "only when asked");
    let first = write_dataset_keeping(&out, &full, true);
    assert_ne!(first.sync_id, unkept.sync_id);
    let mut smaller = dataset();
    smaller.grants.pop();
    let second = write_dataset_keeping(&out, &smaller, true);
    assert_eq!(second.grants, smaller.grants.len() as u64, "the summary counts the new sync only");

    let mut reader = C1zReader::open(&out).unwrap();
    let runs: BTreeSet<String> = reader.sync_runs().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(runs, BTreeSet::from([first.sync_id.clone(), second.sync_id.clone()]));
    assert_eq!(reader.selected_sync_id(), Some(second.sync_id.as_str()), "the new sync is the one shown");
    assert_eq!(reader.grants().unwrap().len(), smaller.grants.len());
    reader.select_sync(Some(first.sync_id.clone()));
    assert_eq!(reader.grants().unwrap().len(), full.grants.len(), "the earlier sync's rows, all of them");
    assert_eq!(reader.resources(None).unwrap().len(), full.resources.len());
    let expandable = reader.grants().unwrap().into_iter().filter(|g| find_annotation::<pb::GrantExpandable>(&g.annotations).unwrap().is_some()).count();
    assert_eq!(expandable, 1, "the expansion column came along");

    let third = write_dataset_keeping(&out, &full, true);
    let runs: BTreeSet<String> = C1zReader::open(&out).unwrap().sync_runs().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(runs, BTreeSet::from([second.sync_id, third.sync_id]), "one earlier sync, never more");
}

/// A replaced file that is not a readable `.c1z` is not kept, and the new sync is written.
#[test]
fn an_unreadable_file_being_replaced_is_not_kept_and_does_not_fail_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.c1z");
    std::fs::write(&out, b"C1ZF\0not zstd at all").unwrap();
    let summary = write_dataset_keeping(&out, &dataset(), true);
    let runs = C1zReader::open(&out).unwrap().sync_runs().unwrap();
    assert_eq!(runs.into_iter().map(|r| r.id).collect::<Vec<_>>(), vec![summary.sync_id]);
}

/// A checkpoint that is not whole (its database cut short, overwritten by another program, or
/// without an unfinished sync) is set aside beside the output and a fresh sync starts: never a
/// panic, never rows from the damaged one.
#[test]
fn a_damaged_checkpoint_is_set_aside_and_a_fresh_sync_starts() {
    let user = |id: &str| pb::Resource {
        id: Some(pb::ResourceId { resource_type: "user".into(), resource: id.into(), ..Default::default() }),
        display_name: id.into(),
        ..Default::default()
    };
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 3] = [
        ("cut short", |db| {
            let bytes = std::fs::read(db).unwrap();
            std::fs::write(db, &bytes[..bytes.len() / 3]).unwrap();
        }),
        ("another program's", |db| std::fs::write(db, b"not a database at all, just text another program wrote here").unwrap()),
        ("without a sync", |db| {
            Connection::open(db).unwrap().execute_batch("DELETE FROM v1_sync_runs").unwrap();
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let (mut writer, _) = C1zWriter::resume_or_create(&out).unwrap();
        for n in 0..2000 {
            writer.put_resource(&user(&format!("u{n}"))).unwrap();
        }
        writer.checkpoint("half way", &[]).unwrap();
        drop(writer);
        damage(&dir.path().join(".sync.c1z.partial/db"));

        let (writer, progress) = C1zWriter::resume_or_create(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(progress, None, "{what}: a fresh sync");
        assert!(writer.resources_of_type("user").unwrap().is_empty(), "{what}: nothing of the damaged one");
        assert!(dir.path().join(".sync.c1z.partial.damaged").is_dir(), "{what}: set aside");
    }
}

/// A sync stopped while it was being finished (its run ended, its indexes built, the file not
/// yet renamed into place) is finished by the next run: nothing is synced again.
#[test]
fn a_sync_stopped_while_finishing_is_delivered_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.c1z");
    let (mut writer, _) = C1zWriter::resume_or_create(&out).unwrap();
    for n in 0..300 {
        let id = format!("u{n}");
        writer
            .put_resource(&pb::Resource {
                id: Some(pb::ResourceId { resource_type: "user".into(), resource: id.clone(), ..Default::default() }),
                display_name: id,
                ..Default::default()
            })
            .unwrap();
    }
    writer.checkpoint("every type done", &[]).unwrap();
    drop(writer);
    // What finishing had done when the process stopped: the run ended, the indexes built.
    Connection::open(dir.path().join(".sync.c1z.partial/db")).unwrap().execute_batch("UPDATE v1_sync_runs SET ended_at = '2026-01-01 00:00:00'").unwrap();

    let (writer, progress) = C1zWriter::resume_or_create(&out).unwrap();
    assert_eq!(progress.as_deref(), Some("every type done"));
    assert_eq!(writer.resources_of_type("user").unwrap().len(), 300);
    let summary = writer.finish().unwrap();
    assert_eq!(summary.resources, 300);
    let reader = C1zReader::open(&out).unwrap();
    assert_eq!(reader.resources(None).unwrap().len(), 300);
    assert!(!dir.path().join(".sync.c1z.partial").exists() && !dir.path().join(".sync.c1z.partial.damaged").exists());
}
