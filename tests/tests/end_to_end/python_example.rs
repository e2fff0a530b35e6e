//! The example connector written in Python (`examples/python-directory`, built by `make examples`
//! with componentize-py) in the unchanged host: a sync of the directory service into a file our
//! reader and the official baton read alike, a grant and a revoke that change exactly one
//! membership of the service, a read-only token refused by the service, and a tenant of `serve`
//! beside a Confluence one. Skipped with a notice where the example could not be built.

use crate::util::{Run, run_host_as_shipped, target_dir};
use baton_c1z::C1zReader;
use confluence_sim::directory_sim::{DIRECTORY_READ_TOKEN, DIRECTORY_TOKEN, Directory, DirectorySim};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built example, or none (and a loud notice).
pub fn python_component() -> Option<PathBuf> {
    let path = target_dir().join("examples").join("python_directory.wasm");
    if path.is_file() {
        return Some(path);
    }
    eprintln!(
        "\n*** SKIPPED: {} is not built (`make examples` needs Python 3 with venv and pip); the Python connector's checks did not run ***\n",
        path.display()
    );
    None
}

fn run_directory(component: &Path, sim: &DirectorySim, token: &str, file: &Path, args: &[&str]) -> Run {
    let origin = sim.origin();
    let mut all = vec!["--component", component.to_str().unwrap(), "--base-url", &origin, "--file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run_host_as_shipped(&all, &[("BATON_ACCESS_TOKEN", token)])
}

/// Resources per type in the file's latest sync.
fn resource_counts(file: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for resource in C1zReader::open(file).unwrap().resources(None).unwrap() {
        *counts.entry(resource.id.unwrap().resource_type).or_default() += 1;
    }
    counts
}

fn grant_ids(file: &Path) -> Vec<String> {
    let mut ids: Vec<String> = C1zReader::open(file).unwrap().grants().unwrap().into_iter().map(|g| g.id).collect();
    ids.sort();
    ids
}

#[test]
fn the_python_connector_syncs_grants_and_revokes_in_the_unchanged_host() {
    let Some(component) = python_component() else { return };
    // 120 users: three pages of the service's 50 at most.
    let sim = DirectorySim::start(Directory::generate(120, 4)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.c1z");

    let run = run_directory(&component, &sim, DIRECTORY_TOKEN, &file, &[]);
    assert!(run.success, "{}", run.output());
    let directory = sim.directory();
    assert_eq!(resource_counts(&file), BTreeMap::from([("group".to_string(), 4), ("role".to_string(), 2), ("user".to_string(), 120)]));
    let expected: usize = directory.groups.values().chain(directory.roles.values()).map(|set| set.users.len()).sum();
    let grants = grant_ids(&file);
    assert_eq!(grants.len(), expected, "one grant per membership and role holder");
    assert!(grants.contains(&"role:admin:assigned:user:u0000".to_string()) && grants.contains(&"group:g00:member:user:u0003".to_string()), "{grants:?}");
    if let Some(peers) = crate::baton_cli::peers() {
        let counts = crate::baton_cli::stats(&peers, file.to_str().unwrap());
        assert_eq!(
            (counts.get("user"), counts.get("group"), counts.get("role"), counts.get("grants")),
            (Some(&120), Some(&4), Some(&2), Some(&expected)),
            "the official baton reads it: {counts:?}"
        );
    }
    let pages = sim.requests().iter().filter(|r| r.starts_with("GET /api/v1/users?")).count();
    assert!(pages >= 3, "users read in pages of at most 50: {:?}", sim.requests());

    // A grant and a revoke change exactly one membership each, and repeat as no-ops.
    assert!(!directory.groups["g01"].users.contains(&"u0000".to_string()));
    let grant = ["--provisioning", "--grant-entitlement", "group:g01:member", "--grant-principal", "u0000", "--grant-principal-type", "user"];
    let run = run_directory(&component, &sim, DIRECTORY_TOKEN, &file, &grant);
    assert!(run.success, "{}", run.output());
    let after = sim.directory();
    assert!(after.groups["g01"].users.contains(&"u0000".to_string()));
    assert_eq!(
        after.groups.values().map(|g| g.users.len()).sum::<usize>(),
        directory.groups.values().map(|g| g.users.len()).sum::<usize>() + 1,
        "one membership more"
    );
    let again = run_directory(&component, &sim, DIRECTORY_TOKEN, &file, &grant);
    assert!(again.success, "{}", again.output());
    assert_eq!(sim.directory().groups["g01"].users, after.groups["g01"].users, "granting again changes nothing");

    let revoke = ["--provisioning", "--revoke-grant", "role:admin:assigned:user:u0000"];
    let run = run_directory(&component, &sim, DIRECTORY_TOKEN, &file, &revoke);
    assert!(run.success, "{}", run.output());
    assert!(sim.directory().roles["admin"].users.is_empty(), "the role holder is revoked");
    assert_eq!(sim.directory().groups, after.groups, "and nothing else changed");

    // The service refuses a read-only token's change; the host reports the component's typed error.
    let refused = run_directory(
        &component,
        &sim,
        DIRECTORY_READ_TOKEN,
        &file,
        &["--provisioning", "--grant-entitlement", "role:auditor:assigned", "--grant-principal", "u0001", "--grant-principal-type", "user"],
    );
    assert!(!refused.success && refused.stderr.contains("permission denied: PUT /roles/auditor/holders/u0001: HTTP 403"), "{}", refused.output());
    assert!(sim.directory().roles["auditor"].users.is_empty());

    // Without --provisioning the change is refused before the component could send it.
    let blocked = run_directory(&component, &sim, DIRECTORY_TOKEN, &file, &grant[1..]);
    assert!(!blocked.success && blocked.stderr.contains("provisioning is off, so nothing was changed"), "{}", blocked.output());
}

#[test]
fn the_python_connector_is_a_tenant_beside_a_confluence_one() {
    let Some(component) = python_component() else { return };
    let directory = DirectorySim::start(Directory::generate(30, 2)).unwrap();
    let confluence = Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tenants = format!(
        "output_dir = \"out\"\n\n[[tenant]]\nname = \"people\"\ncomponent = \"{}\"\n[tenant.config]\nbase-url = \"{}\"\n[tenant.secrets]\naccess-token = {{ env = \"DIRECTORY_TOKEN\" }}\n\n\
         [[tenant]]\nname = \"wiki\"\n[tenant.config]\nhostname = \"{}\"\n[tenant.secrets]\naccess-token = {{ env = \"CONFLUENCE_TOKEN\" }}\n",
        component.display(),
        directory.origin(),
        confluence.base_url()
    );
    let path = dir.path().join("tenants.toml");
    std::fs::write(&path, tenants).unwrap();
    let run = run_host_as_shipped(
        &["serve", "--tenants", path.to_str().unwrap(), "--once"],
        &[("DIRECTORY_TOKEN", DIRECTORY_TOKEN), ("CONFLUENCE_TOKEN", ADMIN_TOKEN)],
    );
    assert!(run.success, "{}", run.output());
    assert_eq!(resource_counts(&dir.path().join("out/people/sync.c1z")).get("user"), Some(&30));
    assert!(resource_counts(&dir.path().join("out/wiki/sync.c1z")).contains_key("space"), "the Confluence tenant synced too");
}
