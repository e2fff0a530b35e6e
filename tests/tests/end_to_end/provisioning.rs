//! Provisioning through the real component on every version profile: each change is visible in
//! the simulator's state and in the next sync, repeating it succeeds without a change,
//! non-administrators change nothing, writes carry the JSON and XSRF headers, REST is used where
//! the version has it, a name that is both a user and a group is refused over JSON-RPC, and
//! without `--provisioning` or with ids the sync lacks nothing is sent.

use crate::util::{change, refused_change, run_on as host};
use baton_c1z::C1zReader;
use confluence_sim::{ADMIN_TOKEN, Dataset, RecordedRequest, SimConfig, Simulator, Subject, VERSION_PROFILES, token_for};
use std::collections::BTreeSet;
use std::path::Path;

fn simulator(version: &str) -> Simulator {
    Simulator::start_background(SimConfig { version: version.into(), dataset: Dataset::generate(16), ..SimConfig::default() }).unwrap()
}

/// The grant flags for `entitlement` to `principal_type:principal`.
fn grant_args<'a>(entitlement: &'a str, principal: &'a str, principal_type: &'a str) -> [&'a str; 6] {
    ["--grant-entitlement", entitlement, "--grant-principal", principal, "--grant-principal-type", principal_type]
}

/// Writes that change state: every POST, PUT and DELETE but JSON-RPC reads (`get...` methods,
/// which JSON-RPC sends as POSTs too).
fn state_changing_requests(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.write_requests().into_iter().filter(|r| !r.path_and_query.contains("/rpc/json-rpc/confluenceservice-v2/get")).collect()
}

fn synced_grant_ids(sim: &Simulator, file: &Path) -> BTreeSet<String> {
    let run = host(sim, file, ADMIN_TOKEN, &[]);
    assert!(run.success, "{}", run.output());
    C1zReader::open(file).unwrap().grants().unwrap().into_iter().map(|g| g.id).collect()
}

fn has_permission(sim: &Simulator, space: &str, key: &str, subject: &Subject) -> bool {
    sim.space_permissions(space).iter().any(|p| p.key == key && &p.subject == subject)
}

#[test]
fn grants_and_revokes_round_trip_on_every_version() {
    for version in VERSION_PROFILES {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        synced_grant_ids(&sim, &file);

        // Group membership.
        let member = grant_args("group:empty-group:member", "zoe.angstrom", "user");
        assert_eq!(change(&sim, &file, &member), "granted group:empty-group:member to user:zoe.angstrom\n", "{version}");
        assert_eq!(sim.group_members("empty-group"), vec!["zoe.angstrom"], "{version}");
        assert_eq!(
            change(&sim, &file, &member),
            "user:zoe.angstrom already had group:empty-group:member (nothing changed)\n",
            "{version}: repeating is a success"
        );
        let member_grant = "group:empty-group:member:user:zoe.angstrom";
        assert!(synced_grant_ids(&sim, &file).contains(member_grant), "{version}");
        assert_eq!(change(&sim, &file, &["--revoke-grant", member_grant]), format!("revoked {member_grant}\n"), "{version}");
        assert!(sim.group_members("empty-group").is_empty(), "{version}");
        assert_eq!(change(&sim, &file, &["--revoke-grant", member_grant]), format!("{member_grant} was already revoked (nothing changed)\n"), "{version}");
        assert!(!synced_grant_ids(&sim, &file).contains(member_grant), "{version}");

        // Space permissions to a user (not named like a group), a group whose name has '/',
        // and anonymous access.
        let cases = [
            ("space:EMPTY:view", "eigyo_taro", "user", "VIEWSPACE", Subject::User("eigyo_taro".into())),
            ("space:EMPTY:edit-space", "team/alpha", "group", "EDITSPACE", Subject::Group("team/alpha".into())),
            ("space:EMPTY:view", "anonymous", "anonymous", "VIEWSPACE", Subject::Anonymous),
        ];
        for (entitlement, principal, principal_type, key, subject) in cases {
            let grant = grant_args(entitlement, principal, principal_type);
            let who = format!("{principal_type}:{principal}");
            assert_eq!(change(&sim, &file, &grant), format!("granted {entitlement} to {who}\n"), "{version}");
            assert!(has_permission(&sim, "EMPTY", key, &subject), "{version}: {key} for {subject:?}");
            assert_eq!(change(&sim, &file, &grant), format!("{who} already had {entitlement} (nothing changed)\n"), "{version}");
            let grant_id = format!("{entitlement}:{who}");
            assert!(synced_grant_ids(&sim, &file).contains(&grant_id), "{version}: {grant_id}");
            assert_eq!(change(&sim, &file, &["--revoke-grant", &grant_id]), format!("revoked {grant_id}\n"), "{version}");
            assert!(!has_permission(&sim, "EMPTY", key, &subject), "{version}: {key} for {subject:?} revoked");

            // Revoking again (the grant is still in the file) succeeds and changes nothing.
            let after_revoke = sim.space_permissions("EMPTY");
            let writes_before = state_changing_requests(&sim).len();
            assert_eq!(
                change(&sim, &file, &["--revoke-grant", &grant_id]),
                format!("{grant_id} was already revoked (nothing changed)\n"),
                "{version}: repeating a revoke is a success"
            );
            assert_eq!(sim.space_permissions("EMPTY"), after_revoke, "{version}: {grant_id} repeat changed nothing");
            assert_eq!(state_changing_requests(&sim).len(), writes_before, "{version}: {grant_id} repeat sent no write");
            assert!(!synced_grant_ids(&sim, &file).contains(&grant_id), "{version}: {grant_id} gone");
        }
        assert_write_headers(&sim, version);
    }
}

/// Every write (JSON-RPC reads included: they are POSTs) sends JSON both ways and the XSRF
/// opt-out (docs/confluence-dc.md §3.4).
fn assert_write_headers(sim: &Simulator, version: &str) {
    let writes = sim.write_requests();
    assert!(!writes.is_empty(), "{version}: writes were sent");
    for request in writes {
        let what = format!("{version}: {} {}", request.method, request.path_and_query);
        assert_eq!(request.header("content-type"), Some("application/json"), "{what}");
        assert_eq!(request.header("accept"), Some("application/json"), "{what}");
        assert_eq!(request.header("x-atlassian-token"), Some("no-check"), "{what}");
    }
}

#[test]
fn group_space_permissions_use_rest_on_9_2_and_10_2() {
    let group = "r&d + ops";
    let subject = Subject::Group(group.into());
    let grant_path = "/rest/api/space/EMPTY/permissions/group/r%26d%20%2B%20ops/grant";
    for version in ["9.2.0", "10.2.0"] {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        synced_grant_ids(&sim, &file);
        sim.clear_requests();

        let grant = grant_args("space:EMPTY:edit-space", group, "group");
        assert_eq!(change(&sim, &file, &grant), format!("granted space:EMPTY:edit-space to group:{group}\n"), "{version}");
        assert!(has_permission(&sim, "EMPTY", "EDITSPACE", &subject), "{version}: granted");
        assert_eq!(rest_writes(&sim), vec![("PUT".to_string(), grant_path.to_string())], "{version}: one REST grant, no JSON-RPC");

        let grant_id = format!("space:EMPTY:edit-space:group:{group}");
        assert!(synced_grant_ids(&sim, &file).contains(&grant_id), "{version}: {grant_id}");
        sim.clear_requests();
        assert_eq!(change(&sim, &file, &["--revoke-grant", &grant_id]), format!("revoked {grant_id}\n"), "{version}");
        assert!(!has_permission(&sim, "EMPTY", "EDITSPACE", &subject), "{version}: revoked");
        assert_eq!(rest_writes(&sim), vec![("PUT".to_string(), grant_path.replace("/grant", "/revoke"))], "{version}: one REST revoke, no JSON-RPC");
    }
}

/// (method, path) of every state-changing request (these simulators have no context path).
fn rest_writes(sim: &Simulator) -> Vec<(String, String)> {
    state_changing_requests(sim).into_iter().map(|r| (r.method, r.path_and_query)).collect()
}

#[test]
fn a_name_both_user_and_group_is_refused_over_json_rpc_on_8_5() {
    let sim = simulator("8.5.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let synced = synced_grant_ids(&sim, &file);
    let before = (sim.space_permissions("DEV"), sim.space_permissions("EMPTY"));
    sim.clear_requests();
    let user_grant = grant_args("space:EMPTY:view", "zoe.angstrom", "user");
    let group_grant = grant_args("space:EMPTY:view", "zoe.angstrom", "group");
    let user_revoke = ["--revoke-grant", "space:DEV:view:user:zoe.angstrom"];
    let group_revoke = ["--revoke-grant", "space:DEV:view:group:zoe.angstrom"];
    assert!(synced.contains(user_revoke[1]) && synced.contains(group_revoke[1]), "the dataset has both grants");
    for args in [&user_grant[..], &group_grant[..], &user_revoke[..], &group_revoke[..]] {
        let stderr = refused_change(&sim, &file, args);
        for expected in [
            r#""zoe.angstrom" is both a Confluence user and a Confluence group"#,
            "ambiguous over JSON-RPC",
            "Confluence 8.5.0",
            "nothing was changed",
            "space permission screen",
        ] {
            assert!(stderr.contains(expected), "{args:?}: {expected:?} missing from:\n{stderr}");
        }
    }
    assert_eq!((sim.space_permissions("DEV"), sim.space_permissions("EMPTY")), before, "state unchanged");
    assert_eq!(rest_writes(&sim), Vec::<(String, String)>::new(), "no write was sent");
}

#[test]
fn create_account_on_every_version() {
    for version in VERSION_PROFILES {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let create =
            ["--create-account-login", "new.hire", "--create-account-email", "new.hire@example.com", "--create-account-profile", r#"{"full_name":"New Hire"}"#];
        assert!(change(&sim, &file, &create).contains("created user new.hire (New Hire)"), "{version}");
        let created = sim.user("new.hire").expect("the user exists");
        assert_eq!(created.display_name.as_deref(), Some("New Hire"));
        if version != "7.19.0" {
            assert!(created.notified_by_email && !created.password_set, "{version}: no password is sent on 8.4+");
        }
        assert!(change(&sim, &file, &create).contains("already exists"), "{version}");
        synced_grant_ids(&sim, &file);
        let users = C1zReader::open(&file).unwrap().resources(Some("user")).unwrap();
        assert!(users.iter().any(|u| u.id.as_ref().unwrap().resource == "new.hire"), "{version}");

        let bad = host(&sim, &file, ADMIN_TOKEN, &["--provisioning", "--create-account-login", "New Hire", "--create-account-email", "x@example.com"]);
        assert!(!bad.success && bad.stderr.contains("whitespace"), "{version}: {}", bad.stderr);
    }
}

#[test]
fn non_admins_change_nothing_and_are_told_why() {
    for version in VERSION_PROFILES {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        synced_grant_ids(&sim, &file);
        let before = (sim.group_members("empty-group"), sim.space_permissions("EMPTY"));
        let zoe = token_for("zoe.angstrom");
        for args in [
            vec!["--provisioning", "--grant-entitlement", "group:empty-group:member", "--grant-principal", "admin", "--grant-principal-type", "user"],
            vec!["--provisioning", "--grant-entitlement", "space:EMPTY:view", "--grant-principal", "admin", "--grant-principal-type", "user"],
            vec!["--provisioning", "--create-account-login", "sneaky", "--create-account-email", "s@example.com"],
        ] {
            let run = host(&sim, &file, &zoe, &args);
            assert!(!run.success, "{version} {args:?}");
            assert!(run.stderr.contains("administrator"), "{version} {args:?}: {}", run.stderr);
        }
        assert_eq!((sim.group_members("empty-group"), sim.space_permissions("EMPTY")), before, "{version}: state unchanged");
        assert!(sim.user("sneaky").is_none());
    }
}

#[test]
fn without_provisioning_nothing_is_sent() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    synced_grant_ids(&sim, &file);
    sim.clear_requests();
    let run =
        host(&sim, &file, ADMIN_TOKEN, &["--grant-entitlement", "group:empty-group:member", "--grant-principal", "admin", "--grant-principal-type", "user"]);
    assert!(!run.success);
    assert!(run.stderr.contains("--provisioning"), "{}", run.stderr);
    let run = host(&sim, &file, ADMIN_TOKEN, &["--provisioning", "--delete-resource", "user:admin"]);
    assert!(!run.success);
    assert!(run.stderr.contains("deprovision in Confluence Data Center directly"), "{}", run.stderr);
    assert!(sim.requests().is_empty(), "nothing was sent");

    let unknown = host(&sim, &file, ADMIN_TOKEN, &["--provisioning", "--revoke-grant", "group:nope:member:user:admin"]);
    assert!(!unknown.success && unknown.stderr.contains("sync first"), "{}", unknown.stderr);
    let no_file = host(&sim, &dir.path().join("none.c1z"), ADMIN_TOKEN, &["--provisioning", "--revoke-grant", "x"]);
    assert!(!no_file.success && no_file.stderr.contains("run a sync into it first"), "{}", no_file.stderr);
}

#[test]
fn unknown_entitlement_or_principal_is_refused_before_any_request() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    synced_grant_ids(&sim, &file);
    let before = sim.space_permissions("EMPTY");
    for (args, named) in [
        (grant_args("space:NOPE:view", "admin", "user"), r#"entitlement "space:NOPE:view" is not in"#),
        (grant_args("space:EMPTY:view", "ghost", "user"), r#"user "ghost" is not in"#),
    ] {
        sim.clear_requests();
        let stderr = refused_change(&sim, &file, &args);
        assert!(stderr.contains(named) && stderr.contains("sync first"), "{args:?}:\n{stderr}");
        let sent: Vec<String> = sim.requests().into_iter().map(|r| format!("{} {}", r.method, r.path_and_query)).collect();
        assert!(sent.is_empty(), "{args:?}: nothing is sent before the ids are found, yet: {sent:?}");
    }
    assert_eq!(sim.space_permissions("EMPTY"), before);
}
