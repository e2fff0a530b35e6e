//! A full sync of the simulator through the real component: what lands in the `.c1z`, what
//! the simulator saw, and how bad configuration or credentials fail without losing the last
//! good file.

use crate::util::{c1z_database_bytes, other_files, run_host};
use baton_c1z::{C1zReader, find_annotation, pb};
use confluence_sim::{ADMIN_TOKEN, Dataset, LinkStyle, SimConfig, Simulator};
use std::collections::BTreeSet;

fn simulator(users: usize, context_path: &str, max_limit: usize, link_style: LinkStyle) -> Simulator {
    Simulator::start_background(SimConfig {
        context_path: context_path.into(),
        max_limit,
        link_style,
        dataset: Dataset::generate(users),
        ..SimConfig::default()
    })
    .expect("starting the simulator")
}

fn sync_with_token(sim: &Simulator, file: &std::path::Path, token: &str) -> crate::util::Run {
    run_host(&["--file", file.to_str().unwrap(), "--log-level", "debug"], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", token)])
}

/// Pages of the user listing itself (other steps may list usernames again, without `expand`).
fn user_list_requests(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.path_and_query.contains("/rest/api/user/list") && r.path_and_query.contains("expand=status")).count()
}

#[test]
#[allow(deprecated)] // UserTrait.status is what 0.7.27-era readers show
fn syncs_every_user_across_clamped_pages_under_a_context_path() {
    let users = 30;
    let sim = simulator(users, "/confluence", 7, LinkStyle::Relative);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");

    let run = sync_with_token(&sim, &file, ADMIN_TOKEN);
    assert!(run.success, "sync failed:\n{}", run.output());
    assert!(run.stdout.contains("Synced 30 user resources (27 enabled, 2 disabled, 1 status unknown)"), "{}", run.stdout);

    let reader = C1zReader::open(&file).unwrap();
    let resources = reader.resources(Some("user")).unwrap();
    let synced: BTreeSet<String> = resources.iter().map(|r| r.id.as_ref().unwrap().resource.clone()).collect();
    let expected: BTreeSet<String> = Dataset::generate(users).users.iter().map(|u| u.username.clone()).collect();
    assert_eq!(synced.len(), users, "each user exactly once");
    assert_eq!(synced, expected);

    let status_of = |username: &str| {
        let resource = resources.iter().find(|r| r.id.as_ref().unwrap().resource == username).unwrap();
        let trait_: pb::UserTrait = find_annotation(&resource.annotations).unwrap().expect("user trait");
        (resource.status.as_ref().unwrap().status, trait_.status.unwrap().status, trait_.login)
    };
    let enabled = pb::ResourceStatus::Enabled as i32;
    let disabled = pb::ResourceStatus::Disabled as i32;
    assert_eq!(status_of("admin"), (enabled, enabled, "admin".to_string()));
    assert_eq!(status_of("shalom-cohen").0, disabled, "the deactivated user is disabled");
    assert_eq!(status_of("shalom-cohen").1, disabled);
    assert_eq!(status_of("status-absent").0, pb::ResourceStatus::Unspecified as i32);

    let zoe = resources.iter().find(|r| r.id.as_ref().unwrap().resource == "zoe.angstrom").unwrap();
    assert_eq!(zoe.display_name, "Zoë Ångström");
    let no_name = resources.iter().find(|r| r.id.as_ref().unwrap().resource == "no_display.name").unwrap();
    assert_eq!(no_name.display_name, "no_display.name", "missing display name falls back to the username");

    let types: BTreeSet<String> = reader.resource_types().unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(types, BTreeSet::from(["user", "anonymous", "group", "space", "site"].map(String::from)));
    let runs = reader.sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_type, "full");
    assert!(runs[0].ended_at.is_some());

    // 30 users at 7 per page: 5 list pages, each request under the context path, each with the
    // host's credential.
    assert_eq!(user_list_requests(&sim), 5);
    for request in sim.requests() {
        assert!(request.path_and_query.starts_with("/confluence/"), "{}", request.path_and_query);
        assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {ADMIN_TOKEN}").as_str()), "{}", request.path_and_query);
    }
    let database = c1z_database_bytes(&file);
    assert!(!contains(&database, ADMIN_TOKEN.as_bytes()), "the token must not be in the .c1z");
    assert!(!run.output().contains(ADMIN_TOKEN), "the token must not be logged");
}

#[test]
fn absolute_and_foreign_next_links_stay_on_the_configured_origin() {
    for style in [LinkStyle::Absolute, LinkStyle::ForeignBase] {
        let sim = simulator(12, "/wiki", 5, style);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.c1z");
        let run = sync_with_token(&sim, &file, ADMIN_TOKEN);
        assert!(run.success, "{:?}:\n{}", style, run.output());
        assert_eq!(C1zReader::open(&file).unwrap().resources(Some("user")).unwrap().len(), 12, "{style:?}");
        assert_eq!(user_list_requests(&sim), 3, "{style:?}");
    }
}

#[test]
fn basic_auth_is_used_when_no_token_is_given() {
    let sim = simulator(5, "", 200, LinkStyle::Relative);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let run = run_host(&["-f", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_USERNAME", "admin"), ("BATON_PASSWORD", "admin")]);
    assert!(run.success, "{}", run.output());
    assert_eq!(C1zReader::open(&file).unwrap().resources(Some("user")).unwrap().len(), 5);
    assert!(sim.requests().iter().all(|r| r.authorization.as_deref() == Some("Basic YWRtaW46YWRtaW4=")));
}

#[test]
fn a_wrong_token_fails_clearly_and_keeps_the_previous_file() {
    let sim = simulator(8, "/confluence", 200, LinkStyle::Relative);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    assert!(sync_with_token(&sim, &file, ADMIN_TOKEN).success);
    let before = std::fs::read(&file).unwrap();

    let run = sync_with_token(&sim, &file, "not-a-valid-token");
    assert!(!run.success, "a wrong token must fail");
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(run.stderr.contains("access token"), "{}", run.stderr);
    assert!(!run.output().contains("not-a-valid-token"), "the token must not be printed");
    assert_eq!(std::fs::read(&file).unwrap(), before, "the previous file is unchanged");
    assert_eq!(other_files(dir.path(), &["sync.c1z"]), Vec::<String>::new(), "no leftovers");
}

#[test]
fn missing_or_partial_credentials_fail_before_any_request() {
    let sim = simulator(4, "", 200, LinkStyle::Relative);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let file_arg = file.to_str().unwrap();

    let run = run_host(&["-f", file_arg], &[("BATON_HOSTNAME", &sim.base_url())]);
    assert!(!run.success);
    assert!(run.stderr.contains("BATON_ACCESS_TOKEN"), "{}", run.stderr);

    let run = run_host(&["-f", file_arg, "--username", "admin"], &[("BATON_HOSTNAME", &sim.base_url())]);
    assert!(!run.success);
    assert!(run.stderr.contains("--password / BATON_PASSWORD"), "{}", run.stderr);

    let run = run_host(&["-f", file_arg, "--access-token", "x"], &[]);
    assert!(!run.success);
    assert!(run.stderr.contains("--hostname / BATON_HOSTNAME"), "{}", run.stderr);

    assert!(sim.requests().is_empty(), "no request before the configuration is complete");
    assert!(!file.exists());
}

#[test]
fn help_lists_the_schema_flags_without_secret_values() {
    let run = run_host(&["--help"], &[("BATON_ACCESS_TOKEN", "very-secret-value"), ("BATON_HOSTNAME", "https://c.example.com")]);
    assert!(run.success, "{}", run.output());
    for expected in
        ["--hostname", "BATON_HOSTNAME", "--access-token", "BATON_ACCESS_TOKEN", "--username", "--password", "--file", "--log-level", "--log-format"]
    {
        assert!(run.stdout.contains(expected), "help lacks {expected}:\n{}", run.stdout);
    }
    assert!(!run.output().contains("very-secret-value"));
    assert!(run.stdout.contains("https://c.example.com"), "non-secret env values are shown");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
