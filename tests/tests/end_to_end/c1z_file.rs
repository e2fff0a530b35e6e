//! The `.c1z` as other readers see it: an independent Go reader (baton's own zstd and SQLite
//! libraries, protobuf decoded field by field) agrees with the simulator; the inspection
//! commands show the same data; broken files give clear errors.

use crate::util::{run_host, target_dir};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const USERS: usize = 30;

fn synced_file(dir: &Path) -> PathBuf {
    let sim =
        Simulator::start_background(SimConfig { version: "9.2.0".into(), max_limit: 11, dataset: Dataset::generate(USERS), ..SimConfig::default() }).unwrap();
    let file = dir.join("sync.c1z");
    let run = run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(run.success, "{}", run.output());
    file
}

fn json_of(args: &[&str]) -> Value {
    let run = run_host(args, &[]);
    assert!(run.success, "{args:?}: {}", run.output());
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", run.stdout))
}

/// The string at JSON pointer `field` (e.g. `/resource/id/resource`) of every item of `list`.
fn strings(value: &Value, list: &str, field: &str) -> BTreeSet<String> {
    value[list].as_array().unwrap().iter().map(|item| item.pointer(field).and_then(Value::as_str).unwrap().to_string()).collect()
}

#[test]
fn an_independent_go_reader_agrees_with_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let file = synced_file(dir.path());
    let checker = target_dir().join("c1zcheck");
    assert!(checker.is_file(), "{} is missing: `make test` builds it from tests/interop/c1zcheck", checker.display());
    let output = Command::new(&checker).arg(&file).output().unwrap();
    assert!(output.status.success(), "c1zcheck: {}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();

    let dataset = Dataset::generate(USERS);
    let expected = dataset.expected();
    assert_eq!(read["syncRun"]["type"], "full");
    assert!(read["syncRun"]["endedAt"].as_str().unwrap() >= read["syncRun"]["startedAt"].as_str().unwrap());
    let types: BTreeSet<String> = read["resourceTypes"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    assert_eq!(types, BTreeSet::from(["anonymous", "group", "site", "space", "user"].map(String::from)));

    let resources = read["resources"].as_array().unwrap();
    let of_type = |t: &str| resources.iter().filter(|r| r["type"] == t).count();
    assert_eq!((of_type("user"), of_type("group"), of_type("space")), (expected.users, expected.groups, expected.spaces));
    let users: BTreeSet<String> = resources.iter().filter(|r| r["type"] == "user").map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(users, dataset.users.iter().map(|u| u.username.clone()).collect());
    assert!(resources.iter().any(|r| r["displayName"] == "Zoë Ångström"));

    // 9.2 has global permissions: the site's five entitlements and their grants.
    assert_eq!(read["entitlements"].as_array().unwrap().len(), expected.groups + 14 * expected.spaces + 5);
    let grants = read["grants"].as_array().unwrap();
    let space_grants = expected.space_grants_to_users + expected.space_grants_to_groups + expected.space_grants_to_anonymous;
    let global_grants = expected.global_grants_to_users + expected.global_grants_to_groups + expected.global_grants_to_anonymous;
    assert_eq!(grants.len(), expected.memberships + space_grants + global_grants);
    let expandable = grants.iter().filter(|g| g["expandable"] == true).count();
    assert_eq!(expandable, expected.space_grants_to_groups + expected.global_grants_to_groups, "exactly the grants to groups on spaces and the site expand");
    assert!(grants.iter().any(|g| g["id"] == "space:DEV:view:group:team/alpha" && g["expandable"] == true));

    // Ids, not only counts: what the Go reader found is what the simulator holds.
    let ids_of = |list: &str, kind: &str| -> BTreeSet<String> {
        read[list].as_array().unwrap().iter().filter(|r| list != "resources" || r["type"] == kind).map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids_of("resources", "group"), dataset.groups.iter().map(|g| g.name.clone()).collect());
    assert_eq!(ids_of("resources", "space"), dataset.spaces.iter().map(|s| s.key.clone()).collect());
    let memberships: BTreeSet<String> =
        dataset.groups.iter().flat_map(|g| g.members.iter().map(move |m| format!("group:{}:member:user:{m}", g.name))).collect();
    let read_memberships: BTreeSet<String> = ids_of("grants", "").into_iter().filter(|id| id.starts_with("group:")).collect();
    assert_eq!(read_memberships, memberships, "every membership, by id");
    let entitlements = ids_of("entitlements", "");
    for space in &dataset.spaces {
        let slugs = entitlements.iter().filter(|id| id.starts_with(&format!("space:{}:", space.key))).count();
        assert_eq!(slugs, 14, "{}: fourteen permission entitlements", space.key);
    }
}

#[test]
fn inspection_commands_show_the_synced_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = synced_file(dir.path());
    let f = file.to_str().unwrap();
    let dataset = Dataset::generate(USERS);

    let types = json_of(&["resource-types", "-f", f, "-o", "json"]);
    // The documents baton's CLI prints: the same top-level keys, items of protobuf JSON.
    assert_eq!(strings(&types, "resourceTypes", "/resourceType/id"), BTreeSet::from(["anonymous", "group", "site", "space", "user"].map(String::from)));

    let users = json_of(&["resources", "-f", f, "-t", "user", "--output-format", "json"]);
    assert_eq!(strings(&users, "resources", "/resource/id/resource"), dataset.users.iter().map(|u| u.username.clone()).collect());
    assert_eq!(strings(&users, "resources", "/resourceType/id"), BTreeSet::from(["user".to_string()]));
    let shalom = users["resources"].as_array().unwrap().iter().find(|r| r["resource"]["id"]["resource"] == "shalom-cohen").unwrap();
    assert_eq!(shalom["resource"]["status"]["status"], "RESOURCE_STATUS_DISABLED");
    let trait_of = &shalom["resource"]["annotations"][0];
    assert_eq!((trait_of["@type"].as_str(), trait_of["login"].as_str()), (Some("type.googleapis.com/c1.connector.v2.UserTrait"), Some("shalom-cohen")));

    let entitlements = json_of(&["entitlements", "-f", f, "-t", "space", "-o", "json"]);
    let view = entitlements["entitlements"].as_array().unwrap().iter().find(|e| e["entitlement"]["id"] == "space:DEV:view").unwrap();
    assert_eq!(view["entitlement"]["description"], "Can view space Разработка — Développement ✨ (DEV)");
    assert_eq!(view["entitlement"]["purpose"], "PURPOSE_VALUE_PERMISSION");
    assert_eq!((view["resource"]["id"]["resource"].as_str(), view["resourceType"]["id"].as_str()), (Some("DEV"), Some("space")));

    let principals = json_of(&["principals", "-f", f, "-e", "space:DEV:view", "-o", "json"]);
    let rows = principals["resources"].as_array().unwrap();
    let id = |r: &Value| format!("{}:{}", r["resource"]["id"]["resourceType"].as_str().unwrap(), r["resource"]["id"]["resource"].as_str().unwrap());
    let via = |who: &str| rows.iter().find(|r| id(r) == who).map(|r| r["via"].as_str().unwrap().to_string());
    assert_eq!(via("group:team/alpha").as_deref(), Some("direct"));
    assert_eq!(via("user:admin").as_deref(), Some("member of group:team/alpha"), "access through a group is attributed");

    let grants = json_of(&["grants", "-f", f, "-p", "group:team/alpha", "-o", "json"]);
    assert!(strings(&grants, "grants", "/grant/entitlement/id").contains("space:DEV:set-space-permissions"));
    assert!(strings(&grants, "grants", "/principal/id/resource").contains("team/alpha"));

    let table = run_host(&["resources", "-f", f, "-t", "space"], &[]);
    assert!(table.stdout.starts_with("TYPE"), "{}", table.stdout);
    assert!(table.stdout.contains("Public Space"));

    let capabilities = json_of(&["capabilities"]);
    assert_eq!(capabilities["@type"], "type.googleapis.com/c1.connector.v2.ConnectorCapabilities");
    let per_type: Vec<(String, Vec<String>)> = capabilities["resourceTypeCapabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["resourceType"]["id"].as_str().unwrap().to_string(), serde_json::from_value(t["capabilities"].clone()).unwrap()))
        .collect();
    let caps = |list: &[&str]| list.iter().map(|c| format!("CAPABILITY_{c}")).collect::<Vec<_>>();
    assert_eq!(
        per_type,
        [
            ("anonymous".to_string(), caps(&["SYNC", "TARGETED_SYNC"])),
            ("group".to_string(), caps(&["SYNC", "PROVISION", "TARGETED_SYNC"])),
            ("site".to_string(), caps(&["SYNC", "PROVISION", "TARGETED_SYNC"])),
            ("space".to_string(), caps(&["SYNC", "PROVISION", "TARGETED_SYNC"])),
            ("user".to_string(), caps(&["SYNC", "ACCOUNT_PROVISIONING", "TARGETED_SYNC"])),
        ]
    );
    // Deprovisioning is not offered: no RESOURCE_DELETE anywhere.
    assert_eq!(capabilities["connectorCapabilities"], serde_json::json!(caps(&["PROVISION", "SYNC", "ACCOUNT_PROVISIONING", "TARGETED_SYNC"])));
    assert_eq!(
        capabilities["credentialDetails"]["capabilityAccountProvisioning"]["preferredCredentialOption"],
        "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
    );
}

#[test]
fn broken_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(synced_file(dir.path())).unwrap();
    // Neutral file names, so that the expected words can only come from the message itself.
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("a.c1z", b"PK\x03\x04not a c1z at all".to_vec(), "is not a .c1z file: header is"),
        ("b.c1z", good[..good.len() / 2].to_vec(), "truncated or corrupt zstd payload"),
        ("c.c1z", [b"C1Z3\0".as_slice(), &[0, 0, 0, 4, 1, 2, 3, 4]].concat(), "pebble engine (magic c1z3)"),
        ("d.c1z", Vec::new(), "is 0 bytes, too short"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let run = run_host(&["resources", "-f", path.to_str().unwrap()], &[]);
        assert!(!run.success, "{name} must fail");
        assert!(run.stderr.to_lowercase().contains(expected), "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    }
    let missing = run_host(&["grants", "-f", dir.path().join("nope.c1z").to_str().unwrap()], &[]);
    assert!(!missing.success);
    assert!(missing.stderr.contains("nope.c1z"), "{}", missing.stderr);
}
