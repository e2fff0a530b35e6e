//! Provisioning through the real component on every version profile: each change is visible in
//! the simulator's state and in the next sync, repeating it succeeds without a change,
//! non-administrators change nothing, and without `--provisioning` nothing is sent.

use crate::util::{Run, run_host};
use baton_c1z::C1zReader;
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator, Subject, VERSION_PROFILES, token_for};
use std::collections::BTreeSet;
use std::path::Path;

fn simulator(version: &str) -> Simulator {
    Simulator::start_background(SimConfig { version: version.into(), dataset: Dataset::generate(16), ..SimConfig::default() }).unwrap()
}

fn host(sim: &Simulator, file: &Path, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["--file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run_host(&all, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", token)])
}

fn change(sim: &Simulator, file: &Path, args: &[&str]) -> String {
    let mut all = vec!["--provisioning"];
    all.extend_from_slice(args);
    let run = host(sim, file, ADMIN_TOKEN, &all);
    assert!(run.success, "{args:?}:\n{}", run.output());
    run.stdout
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
        let member = ["--grant-entitlement", "group:empty-group:member", "--grant-principal", "zoe.angstrom", "--grant-principal-type", "user"];
        assert!(change(&sim, &file, &member).contains("granted group:empty-group:member to user:zoe.angstrom"), "{version}");
        assert_eq!(sim.group_members("empty-group"), vec!["zoe.angstrom"], "{version}");
        assert!(change(&sim, &file, &member).contains("already had"), "{version}: repeating is a success");
        let member_grant = "group:empty-group:member:user:zoe.angstrom";
        assert!(synced_grant_ids(&sim, &file).contains(member_grant), "{version}");
        assert!(change(&sim, &file, &["--revoke-grant", member_grant]).contains("revoked"), "{version}");
        assert!(sim.group_members("empty-group").is_empty(), "{version}");
        assert!(change(&sim, &file, &["--revoke-grant", member_grant]).contains("already revoked"), "{version}");
        assert!(!synced_grant_ids(&sim, &file).contains(member_grant), "{version}");

        // Space permissions to a user, a group whose name has '/', and anonymous access.
        let cases = [
            ("space:EMPTY:view", "zoe.angstrom", "user", "VIEWSPACE", Subject::User("zoe.angstrom".into())),
            ("space:EMPTY:edit-space", "team/alpha", "group", "EDITSPACE", Subject::Group("team/alpha".into())),
            ("space:EMPTY:view", "anonymous", "anonymous", "VIEWSPACE", Subject::Anonymous),
        ];
        for (entitlement, principal, principal_type, key, subject) in cases {
            let grant = ["--grant-entitlement", entitlement, "--grant-principal", principal, "--grant-principal-type", principal_type];
            assert!(change(&sim, &file, &grant).contains("granted"), "{version} {entitlement} {principal}");
            assert!(has_permission(&sim, "EMPTY", key, &subject), "{version}: {key} for {subject:?}");
            assert!(change(&sim, &file, &grant).contains("already had"), "{version}");
            let grant_id = format!("{entitlement}:{principal_type}:{principal}");
            assert!(synced_grant_ids(&sim, &file).contains(&grant_id), "{version}: {grant_id}");
            assert!(change(&sim, &file, &["--revoke-grant", &grant_id]).contains("revoked"), "{version}");
            assert!(!has_permission(&sim, "EMPTY", key, &subject), "{version}: {key} for {subject:?} revoked");
            assert!(!synced_grant_ids(&sim, &file).contains(&grant_id), "{version}: {grant_id} gone");
        }
        for request in sim.write_requests() {
            assert_eq!(request.header("x-atlassian-token"), Some("no-check"), "{version}: {}", request.path_and_query);
        }
    }
}

#[test]
fn create_account_on_every_version() {
    for version in VERSION_PROFILES {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let create = [
            "--create-account-login", "new.hire", "--create-account-email", "new.hire@example.com",
            "--create-account-profile", r#"{"full_name":"New Hire"}"#,
        ];
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
    for version in ["8.5.0", "9.2.0"] {
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
    let run = host(&sim, &file, ADMIN_TOKEN, &["--grant-entitlement", "group:empty-group:member", "--grant-principal", "admin", "--grant-principal-type", "user"]);
    assert!(!run.success);
    assert!(run.stderr.contains("--provisioning"), "{}", run.stderr);
    let run = host(&sim, &file, ADMIN_TOKEN, &["--provisioning", "--delete-resource", "user:admin"]);
    assert!(!run.success);
    assert!(run.stderr.contains("deprovision in Confluence directly"), "{}", run.stderr);
    assert!(sim.requests().is_empty(), "nothing was sent");

    let unknown = host(&sim, &file, ADMIN_TOKEN, &["--provisioning", "--revoke-grant", "group:nope:member:user:admin"]);
    assert!(!unknown.success && unknown.stderr.contains("sync first"), "{}", unknown.stderr);
    let no_file = host(&sim, &dir.path().join("none.c1z"), ADMIN_TOKEN, &["--provisioning", "--revoke-grant", "x"]);
    assert!(!no_file.success && no_file.stderr.contains("run a sync into it first"), "{}", no_file.stderr);
}
