//! Global permissions through the real component: a sync holds every global permission of the
//! simulator (users, groups expanded, anonymous) under each unconfirmed answer shape; a grant or a
//! revoke changes exactly one operation of one subject in the simulator; the last System
//! Administrator who can act (an active user, a group with one) keeps the permission; nothing is
//! sent when a subject's current set cannot be read; and where the API is missing the sync says so
//! once and goes on without the site.

use crate::util::{Run, change, refused_change as refused, run_on};
use baton_c1z::{C1zReader, pb};
use confluence_sim::{
    ADMIN_TOKEN, Dataset, GlobalListStyle, GroupSubjectStyle, SimConfig, SimGlobalPermission, SimGroup, Simulator, Subject, UserSubjectStyle,
};
use std::collections::BTreeSet;
use std::path::Path;

const USERS: usize = 16;

fn simulator(version: &str, tweak: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig { version: version.into(), max_limit: 4, dataset: Dataset::generate(USERS), ..SimConfig::default() };
    tweak(&mut config);
    Simulator::start_background(config).unwrap()
}

fn sync(sim: &Simulator, file: &Path) -> Run {
    let run = run_on(sim, file, ADMIN_TOKEN, &[]);
    assert!(run.success, "{}", run.output());
    run
}

fn site_grant_ids(file: &Path) -> BTreeSet<String> {
    C1zReader::open(file).unwrap().grants().unwrap().into_iter().map(|g| g.id).filter(|id| id.starts_with("site:")).collect()
}

/// The grant ids a correct sync makes of the simulator's global permissions now.
fn expected_site_grants(sim: &Simulator) -> BTreeSet<String> {
    sim.global_permissions().iter().map(|row| format!("site:confluence:{}:{}", slug(row), principal(&row.subject))).collect()
}

fn slug(row: &SimGlobalPermission) -> &'static str {
    match (row.target.as_str(), row.operation.as_str()) {
        ("application", "use") => "use",
        ("application", "administer") => "administer",
        ("system", "administer") => "system-administer",
        ("space", "create") => "create-space",
        ("personal_space", "create") => "create-personal-space",
        other => panic!("the dataset holds an undocumented pair {other:?}"),
    }
}

fn principal(subject: &Subject) -> String {
    match subject {
        Subject::User(name) => format!("user:{name}"),
        Subject::Group(name) => format!("group:{name}"),
        Subject::Anonymous => "anonymous:anonymous".into(),
    }
}

/// Every subject's global permissions but `except`'s, to show a change touched no one else.
fn others(sim: &Simulator, except: &Subject) -> Vec<SimGlobalPermission> {
    sim.global_permissions().into_iter().filter(|row| &row.subject != except).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = list.iter().map(|(t, o)| (t.to_string(), o.to_string())).collect();
    pairs.sort();
    pairs
}

fn puts(sim: &Simulator) -> usize {
    sim.write_requests().iter().filter(|r| r.path_and_query.ends_with("/rest/api/permissions")).count()
}

fn grant<'a>(slug: &'a str, principal: &'a str, kind: &'a str) -> Vec<String> {
    ["--grant-entitlement", &format!("site:confluence:{slug}"), "--grant-principal", principal, "--grant-principal-type", kind].map(String::from).to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_sync_holds_every_global_permission_under_every_answer_shape() {
    let shapes = [
        ("9.2.0", UserSubjectStyle::UserKey, GroupSubjectStyle::Name, GlobalListStyle::Array),
        ("10.2.0", UserSubjectStyle::Username, GroupSubjectStyle::GroupName, GlobalListStyle::Paged),
        ("9.2.0", UserSubjectStyle::Both, GroupSubjectStyle::DisplayNameOnly, GlobalListStyle::Paged),
    ];
    for (version, user_style, group_style, list_style) in shapes {
        let sim = simulator(version, |c| {
            c.global_user_subject = user_style;
            c.global_group_subject = group_style;
            c.global_list_style = list_style;
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        sync(&sim, &file);
        let label = format!("{version} {user_style:?} {group_style:?} {list_style:?}");
        let expected = expected_site_grants(&sim);
        assert!(expected.len() >= 10, "{label}: the dataset exercises users, groups and anonymous: {expected:?}");
        assert_eq!(site_grant_ids(&file), expected, "{label}");

        let reader = C1zReader::open(&file).unwrap();
        let site = reader.resources(Some("site")).unwrap();
        assert_eq!(site.len(), 1, "{label}");
        let entitlements = reader.entitlements().unwrap();
        let privileged: BTreeSet<String> =
            entitlements.iter().filter(|e| e.id.starts_with("site:") && e.description.starts_with("Privileged")).map(|e| e.id.clone()).collect();
        assert_eq!(privileged, BTreeSet::from(["site:confluence:administer".to_string(), "site:confluence:system-administer".to_string()]), "{label}");
        let group_grant = reader.grants().unwrap().into_iter().find(|g| g.id == "site:confluence:use:group:confluence-users").unwrap();
        let expandable: pb::GrantExpandable = baton_c1z::find_annotation(&group_grant.annotations).unwrap().expect("expansion");
        assert_eq!(expandable.entitlement_ids, vec!["group:confluence-users:member"], "{label}: a group's global permission expands to its members");
    }
}

#[test]
fn a_grant_and_a_revoke_change_exactly_one_operation_of_one_subject() {
    let sim = simulator("9.2.0", |_| {});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sync(&sim, &file);

    // A user: by userKey, their set plus one.
    let taro = Subject::User("eigyo_taro".into());
    assert!(sim.global_permissions_of(&taro).is_empty());
    let before = others(&sim, &taro);
    let args = grant("create-space", "eigyo_taro", "user");
    assert_eq!(change(&sim, &file, &strs(&args)), "granted site:confluence:create-space to user:eigyo_taro\n");
    assert_eq!(sim.global_permissions_of(&taro), pairs(&[("space", "create")]));
    assert_eq!(others(&sim, &taro), before, "no one else changed");
    assert_eq!(change(&sim, &file, &strs(&args)), "user:eigyo_taro already had site:confluence:create-space (nothing changed)\n");

    // A group no path can carry: read from the full listing, written by name.
    let alpha = Subject::Group("team/alpha".into());
    let before = others(&sim, &alpha);
    let args = grant("administer", "team/alpha", "group");
    assert_eq!(change(&sim, &file, &strs(&args)), "granted site:confluence:administer to group:team/alpha\n");
    assert_eq!(sim.global_permissions_of(&alpha), pairs(&[("application", "administer")]));
    assert_eq!(others(&sim, &alpha), before);

    // A revoke keeps the rest of the group's set.
    let users = Subject::Group("confluence-users".into());
    let before = others(&sim, &users);
    let revoke = "site:confluence:use:group:confluence-users";
    assert!(site_grant_ids(&file).contains(revoke));
    assert_eq!(change(&sim, &file, &["--revoke-grant", revoke]), format!("revoked {revoke}\n"));
    assert_eq!(sim.global_permissions_of(&users), pairs(&[("space", "create"), ("personal_space", "create")]));
    assert_eq!(others(&sim, &users), before);

    // The next sync shows exactly the three changes.
    let synced = {
        sync(&sim, &file);
        site_grant_ids(&file)
    };
    assert_eq!(synced, expected_site_grants(&sim));
    assert!(synced.contains("site:confluence:create-space:user:eigyo_taro") && synced.contains("site:confluence:administer:group:team/alpha"));
    assert!(!synced.contains(revoke));
}

#[test]
fn the_last_system_administrator_who_can_act_keeps_the_permission() {
    // With a group whose only members cannot act.
    let retired = SimGroup { name: "retired-admins".into(), members: vec!["shalom-cohen".into(), "unlicensed.user".into()] };
    let sim = simulator("10.2.0", |c| c.dataset.groups.push(retired));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sync(&sim, &file);
    let admin = Subject::User("admin".into());
    let sysadmin = ("system".to_string(), "administer".to_string());
    assert_eq!(sim.global_permissions().iter().filter(|r| r.is("system", "administer")).count(), 1, "admin is the only one");

    let last = "site:confluence:system-administer:user:admin";
    let stderr = refused(&sim, &file, &["--revoke-grant", last]);
    assert!(stderr.contains("without a System Administrator who can act") && stderr.contains("nobody else holds it"), "{stderr}");
    assert_eq!(puts(&sim), 0, "nothing was written");

    // Other holders who cannot act: a deactivated user, an unlicensed one, one whose status
    // Confluence does not report, a group of such users. Each refusal says why; nothing written.
    for (principal, kind, why) in [
        ("shalom-cohen", "user", "user shalom-cohen is deactivated"),
        ("unlicensed.user", "user", "user unlicensed.user is unlicensed"),
        ("status-absent", "user", "does not report whether user status-absent is active"),
        ("retired-admins", "group", "group retired-admins has no active member"),
    ] {
        change(&sim, &file, &strs(&grant("system-administer", principal, kind)));
        sync(&sim, &file);
        let before = puts(&sim);
        let stderr = refused(&sim, &file, &["--revoke-grant", last]);
        assert!(stderr.contains("without a System Administrator who can act") && stderr.contains(why), "{principal}: {stderr}");
        assert_eq!(puts(&sim), before, "{principal}: nothing was written");
        assert!(sim.global_permissions_of(&admin).contains(&sysadmin), "{principal}");
    }

    // Once a group with an active member holds it too, the revoke goes through.
    change(&sim, &file, &strs(&grant("system-administer", "confluence-administrators", "group")));
    sync(&sim, &file);
    assert_eq!(change(&sim, &file, &["--revoke-grant", last]), format!("revoked {last}\n"));
    assert!(!sim.global_permissions_of(&admin).contains(&sysadmin));
    assert!(sim.global_permissions_of(&admin).contains(&("application".to_string(), "administer".to_string())), "only that one operation went");
}

#[test]
fn nothing_is_sent_when_a_subjects_current_set_cannot_be_read() {
    // Users named only by display name: the sync says what it left out; a user's change is refused.
    let sim = simulator("9.2.0", |c| c.global_user_subject = UserSubjectStyle::DisplayNameOnly);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let run = sync(&sim, &file);
    assert!(run.stderr.contains("only by display name"), "{}", run.stderr);
    let ids = site_grant_ids(&file);
    assert!(!ids.is_empty() && ids.iter().all(|id| !id.contains(":user:")), "{ids:?}");
    let stderr = refused(&sim, &file, &strs(&grant("create-space", "eigyo_taro", "user")));
    assert!(stderr.contains("display name") && stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(puts(&sim), 0);

    // Anonymous access: the API's write cannot name it.
    let stderr = refused(&sim, &file, &strs(&grant("use", "anonymous", "anonymous")));
    assert!(stderr.contains("anonymous access's global permissions cannot be changed"), "{stderr}");
    assert_eq!(puts(&sim), 0);
}

#[test]
fn without_the_api_the_sync_says_so_once_and_goes_on() {
    for (version, since) in [("8.5.0", (9, 2)), ("9.2.0", (9, 3))] {
        let sim = simulator(version, |c| c.global_permissions_since = since);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let run = sync(&sim, &file);
        assert_eq!(run.stderr.matches("global permissions are not available").count(), 1, "{version}:\n{}", run.stderr);
        let reader = C1zReader::open(&file).unwrap();
        assert!(reader.resources(Some("site")).unwrap().is_empty(), "{version}");
        assert!(reader.entitlements().unwrap().iter().all(|e| !e.id.starts_with("site:")), "{version}: no entitlements pretending to be data");
        assert!(site_grant_ids(&file).is_empty(), "{version}");
        assert!(!reader.grants().unwrap().is_empty(), "{version}: the rest was synced");
        let asked = sim.requests().iter().filter(|r| r.path_and_query.contains("/rest/api/permissions")).count();
        assert_eq!(asked, usize::from(version == "9.2.0"), "{version}: asked only where the version may have it");
    }
}
