//! What a new user meets first, pinned so a refactor cannot silently make it worse: a server
//! that cannot be reached is one sentence naming what failed, for which host and port, and what
//! to check (no internal type names); a base URL without (or with a wrong) context path is
//! named with the one to use; a mistyped resource type, resource or entitlement is an error
//! naming the near matches.

use crate::util::{run_host, run_host_as_shipped};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, SimPermission, Simulator, Subject};

fn sync_at(hostname: &str, file: &std::path::Path) -> crate::util::Run {
    run_host(&["--file", file.to_str().unwrap(), "--log-format", "console"], &[("BATON_HOSTNAME", hostname), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)])
}

/// No Rust type names or debug output in what a person reads.
fn assert_plain_words(run: &crate::util::Run) {
    for internal in ["ErrorCode", "DnsError", "Payload", "Os {", "wasmtime_wasi_http"] {
        assert!(!run.stderr.contains(internal), "{internal:?} shown to the user:\n{}", run.stderr);
    }
}

#[test]
fn an_unknown_host_or_a_closed_port_is_one_sentence_with_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    // Two files: two syncs of one file would not run at once (the second is refused).
    let (file, other) = (dir.path().join("sync.c1z"), dir.path().join("other.c1z"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (unknown, refused) = std::thread::scope(|scope| {
        let unknown = scope.spawn(|| sync_at("https://confluence.nonexistent.invalid", &file));
        let refused = scope.spawn(|| sync_at(&format!("http://127.0.0.1:{closed}"), &other));
        (unknown.join().unwrap(), refused.join().unwrap())
    });

    let error = unknown.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", unknown.stderr));
    assert!(
        error.starts_with("error: cannot reach https://confluence.nonexistent.invalid: the host name confluence.nonexistent.invalid cannot be resolved")
            && error.ends_with("; check the host name in --hostname; if only a proxy can resolve it, set HTTPS_PROXY or --proxy"),
        "{error}"
    );
    assert!(unknown.stderr.contains("trying again"), "retrying is said while it happens: {}", unknown.stderr);
    assert_plain_words(&unknown);

    let error = refused.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", refused.stderr));
    assert_eq!(
        error,
        format!(
            "error: cannot reach http://127.0.0.1:{closed}: nothing accepts connections at 127.0.0.1:{closed} (connection refused); check the host and port in --hostname and that the server is running"
        )
    );
    assert!(refused.stderr.contains("trying again"), "{}", refused.stderr);
    assert_plain_words(&refused);
    assert!(!unknown.success && !refused.success && !file.exists());
}

#[test]
fn a_missing_context_path_is_found_and_a_wrong_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let under = Simulator::start_background(SimConfig { context_path: "/confluence".into(), dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap();
    let root_of = |sim: &Simulator| sim.base_url().split('/').take(3).collect::<Vec<_>>().join("/");
    let run = sync_at(&root_of(&under), &file);
    assert!(!run.success && !file.exists(), "{}", run.output());
    assert!(
        run.stderr.contains(&format!("Confluence answers under the context path /confluence: use {}/confluence as the hostname", root_of(&under))),
        "{}",
        run.stderr
    );

    let at_root = Simulator::start_background(SimConfig { dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap();
    let run = sync_at(&format!("{}/wiki", root_of(&at_root)), &file);
    assert!(!run.success && !file.exists(), "{}", run.output());
    assert!(
        run.stderr.contains(&format!(
            "the base URL's context path /wiki may be wrong; if Confluence runs at the root of {}",
            root_of(&at_root).trim_start_matches("http://")
        )) && run.stderr.contains(&format!("use {} as the hostname", root_of(&at_root))),
        "{}",
        run.stderr
    );
    let outside: Vec<String> = at_root.requests().iter().map(|r| r.path_and_query.clone()).filter(|p| !p.starts_with("/wiki/")).collect();
    assert!(outside.is_empty(), "nothing is sent outside the configured base URL: {outside:?}");
    assert_plain_words(&run);
}

#[test]
fn a_mistyped_resource_type_resource_or_entitlement_names_the_near_matches() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let sim = Simulator::start_background(SimConfig { dataset: Dataset::generate(8), ..SimConfig::default() }).unwrap();
    assert!(sync_at(&sim.base_url(), &file).success);
    let inspect = |args: &[&str]| {
        let mut all = vec!["--file", file.to_str().unwrap()];
        all.extend_from_slice(args);
        run_host(&all, &[])
    };
    let typo = inspect(&["resources", "-t", "users"]);
    assert!(!typo.success, "{}", typo.output());
    assert_eq!(typo.stderr.trim(), "error: no resource type \"users\" in this file; did you mean user? (the resource-types command lists them)");
    let typo = inspect(&["entitlements", "-t", "spaces"]);
    assert!(!typo.success && typo.stderr.contains("did you mean space?"), "{}", typo.output());
    let nope = inspect(&["grants", "-p", "group:nope"]);
    assert!(!nope.success && nope.stderr.contains("no resource \"group:nope\" in this file"), "{}", nope.output());
    let typo = inspect(&["grants", "-e", "space:ds:veiw"]);
    assert!(!typo.success && typo.stderr.contains("did you mean space:ds:view"), "{}", typo.output());
    let typo = inspect(&["principals", "-e", "space:ds:veiw"]);
    assert!(!typo.success && typo.stderr.contains("did you mean space:ds:view"), "{}", typo.output());
    let right = inspect(&["grants", "-e", "space:ds:view"]);
    assert!(right.success && right.stdout.lines().count() > 1, "a right name still lists: {}", right.output());
}

/// The `$B ...` commands of the first `sh` block after `heading` in the README, continued
/// lines joined and comments dropped, split as the shell would; and the value `F=` sets there.
fn readme_commands(heading: &str) -> (Vec<Vec<String>>, Option<String>) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let after = &readme[readme.find(heading).unwrap_or_else(|| panic!("the README has no {heading:?}"))..];
    let block = after.split("```sh\n").nth(1).and_then(|b| b.split("\n```").next()).unwrap();
    let joined = block.replace("\\\n", " ");
    let mut file = None;
    let mut commands = Vec::new();
    for line in joined.lines().map(str::trim) {
        let words = shlex::split(line).unwrap_or_else(|| panic!("not shell words: {line}"));
        let words: Vec<String> = words.into_iter().take_while(|w| !w.starts_with('#')).collect();
        match words.first().map(String::as_str) {
            Some("$B") => commands.push(words[1..].to_vec()),
            Some(assignment) if assignment.starts_with("F=") => file = Some(assignment[2..].to_string()),
            _ => {}
        }
    }
    (commands, file)
}

/// The site `make demo` syncs: scripts/demo.sh starts the simulator with these settings.
fn demo_site() -> Simulator {
    Simulator::start_background(SimConfig {
        version: "9.2.0".into(),
        context_path: "/confluence".into(),
        max_limit: 50,
        dataset: Dataset::generate(120),
        ..SimConfig::default()
    })
    .unwrap()
}

#[test]
fn the_readme_examples_run_as_written_against_the_demo_data() {
    let sim = demo_site();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    // As a user runs it: the default profile's ids, which the README's examples name.
    let sync = run_host_as_shipped(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(sync.success, "{}", sync.output());
    let env = [("BATON_HOSTNAME", sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (looking, demo_file) = readme_commands("## Looking at the result");
    assert_eq!(demo_file.as_deref(), Some("target/demo/sync.c1z"), "the examples read the demo's file");
    let (changing, _) = readme_commands("## Changing access (provisioning)");
    assert!(looking.len() >= 4 && changing.len() >= 3, "{looking:?} {changing:?}");
    for command in looking.iter().chain(&changing) {
        let args: Vec<String> = command.iter().map(|a| if a == "$F" { file.display().to_string() } else { a.clone() }).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_host_as_shipped(&args, &env);
        assert!(run.success, "README: $B {}\n{}", command.join(" "), run.output());
        assert!(
            run.stdout.lines().count() >= 2 || run.stdout.contains("granted") || run.stdout.contains("revoked") || run.stdout.contains("created"),
            "README: $B {} printed nothing useful:\n{}",
            command.join(" "),
            run.output()
        );
    }
    let granted = SimPermission::new("EDITSPACE", Subject::User("eigyo_taro".into()));
    assert!(sim.space_permissions("ds").contains(&granted), "the README's grant reached the simulator");
    let revoked = SimPermission::new("COMMENT", Subject::Group("confluence-users".into()));
    assert!(!sim.space_permissions("ds").contains(&revoked), "the README's revoke reached the simulator");
    assert!(sim.user("new.hire").is_some(), "the README's new account exists");
    let site_grant = ("space".to_string(), "create".to_string());
    assert!(sim.global_permissions_of(&Subject::Group("big-group".into())).contains(&site_grant), "the README's global permission grant reached the simulator");
}

#[test]
fn help_lists_the_values_of_every_enumerated_flag_in_one_style() {
    let help = run_host(&["--help"], &[]);
    assert!(help.success, "{}", help.output());
    let text = help.stdout.replace('\n', " ");
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let values_of = |flag: &str| {
        let from = squeezed.find(&format!("--{flag} ")).unwrap_or_else(|| panic!("--{flag} in the help"));
        let rest = &squeezed[from..];
        let next_flag = rest[2..].find(" --").map(|i| i + 2).unwrap_or(rest.len());
        rest[..next_flag].to_string()
    };
    assert!(values_of("user-id").contains("[possible values: username, user-key]"), "{}", values_of("user-id"));
    assert!(values_of("compat").contains("[default: go-newest] [possible values: go-2025-01, go-newest]"), "{}", values_of("compat"));
    assert!(values_of("grant-principal-type").contains("[possible values: user, anonymous, group, space, site]"), "{}", values_of("grant-principal-type"));
    assert!(values_of("log-level").contains("[possible values: debug, info, warn, error]"));
    for line in help.stdout.lines().map(str::trim).filter(|l| l.starts_with("--") || l.starts_with("-f")) {
        if let Some(name) = line.split('<').nth(1).and_then(|v| v.split('>').next()) {
            assert!(name.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "value names are upper case words: {line}");
        }
    }
    let wrong = run_host(&["--user-id", "email", "--hostname", "http://127.0.0.1:1"], &[]);
    assert!(!wrong.success && wrong.stderr.contains("[possible values: username, user-key]"), "{}", wrong.output());
}

#[test]
fn the_first_start_says_it_prepares_the_connector_and_later_starts_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let env = [("XDG_CACHE_HOME", cache.to_str().unwrap())];
    let said = |run: &crate::util::Run| run.stderr.contains("prepared the connector for this machine; later starts reuse it from the cache");
    let first = run_host(&["capabilities", "--log-format", "console"], &env);
    assert!(first.success && said(&first), "the first start says it compiled: {}", first.output());
    let second = run_host(&["capabilities", "--log-format", "console"], &env);
    assert!(second.success && !said(&second), "the second start reuses it: {}", second.output());

    // The compiled component kept in the cache is native code: once others could write it, it
    // is not used but compiled again (and kept private again).
    use std::os::unix::fs::PermissionsExt;
    let prepared = cache.join("baton-confluence-datacenter/wasmtime/prepared");
    let kept: Vec<std::path::PathBuf> =
        std::fs::read_dir(&prepared).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "cwasm")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    std::fs::set_permissions(&kept[0], std::fs::Permissions::from_mode(0o666)).unwrap();
    let third = run_host(&["capabilities", "--log-format", "console"], &env);
    assert!(third.success && said(&third), "a compiled component anyone could write is compiled again: {}", third.output());
    assert_eq!(std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o077, 0, "kept private again");

    // A kept file with a block of flipped bytes (a disk error, another process) is not mapped as
    // code: one warning, compiled again.
    let mut bytes = std::fs::read(&kept[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b = !*b);
    std::fs::write(&kept[0], &bytes).unwrap();
    let damaged = run_host(&["capabilities", "--log-format", "console"], &env);
    assert!(damaged.success && damaged.stderr.contains("was damaged or was changed; compiling it again"), "{}", damaged.output());
    let again = run_host(&["capabilities", "--log-format", "console"], &env);
    assert!(again.success && !said(&again) && !again.stderr.contains("damaged"), "kept whole again: {}", again.output());

    // Native code never comes from beside a component the user supplies: a `.cwasm` there,
    // even one named for its digest and holding another component's code, is not used.
    let folder = dir.path().join("components");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = folder.join("connector.wasm");
    std::fs::copy(crate::util::component("confluence_connector"), &copy).unwrap();
    let written = run_host(&["component", "precompile", "--component", copy.to_str().unwrap()], &env);
    assert!(written.success, "{}", written.output());
    let precompiled = std::path::PathBuf::from(written.stdout.trim());
    assert!(precompiled.starts_with(&folder) && std::fs::metadata(&precompiled).unwrap().len() > 1000, "{}", written.stdout);
    let probe = folder.join("probe.wasm");
    std::fs::copy(crate::util::component("probe_guest"), &probe).unwrap();
    let probe_written = run_host(&["component", "precompile", "--component", probe.to_str().unwrap()], &env);
    assert!(probe_written.success, "{}", probe_written.output());
    std::fs::rename(probe_written.stdout.trim(), &precompiled).unwrap();
    let fresh = dir.path().join("fresh");
    let start = run_host(&["--component", copy.to_str().unwrap(), "capabilities", "--log-format", "console"], &[("XDG_CACHE_HOME", fresh.to_str().unwrap())]);
    assert!(start.success && said(&start), "compiled from the .wasm, not taken from beside it: {}", start.output());
    assert!(start.stdout.contains("space") && !start.stdout.contains("Probe"), "the Confluence component runs, not the planted code: {}", start.stdout);
}

#[test]
fn the_demo_site_syncs_without_a_warning_for_its_deliberate_edge_cases() {
    // The simulator's edge cases, team/alpha among them, are handled as planned, which is
    // information, not a warning.
    let sim = demo_site();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let quiet = run_host(
        &["--file", file.to_str().unwrap(), "--log-format", "console", "--log-level", "warn"],
        &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)],
    );
    assert!(quiet.success && quiet.stderr.trim().is_empty(), "no warning on the demo's site: {}", quiet.stderr);
    let told =
        run_host(&["--file", file.to_str().unwrap(), "--log-format", "console"], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(told.success && told.stderr.contains("team/alpha") && told.stderr.contains("INFO"), "the work-around is said at info: {}", told.stderr);
}
