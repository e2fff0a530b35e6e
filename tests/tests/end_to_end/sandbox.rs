//! What the sandbox guarantees, proven with the probe component: the guest reads no secret,
//! reaches no other origin, cannot set `Authorization`, and is stopped cleanly when it exceeds
//! its memory cap or CPU budget.

use crate::util::{component, run_host, run_host_watching_memory, without_colours};
use confluence_sim::{ADMIN_TOKEN, SimConfig, Simulator};

fn probe(sim: &Simulator, mode: &str, extra: &[&str]) -> crate::util::Run {
    let probe = component("probe_guest");
    let mut args = vec!["--component", probe.to_str().unwrap(), "--probe-mode", mode, "--log-format", "json"];
    args.extend_from_slice(extra);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.c1z");
    args.extend_from_slice(&["--file", file.to_str().unwrap()]);
    run_host(&args, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)])
}

fn sim() -> Simulator {
    Simulator::start_background(SimConfig::default()).unwrap()
}

#[test]
fn the_guest_reads_config_but_no_secret() {
    let sim = sim();
    // The probe declares api-token and db-password as plain fields no auth scheme uses: the host
    // withholds them anyway, by name.
    let probe_component = component("probe_guest");
    let run = run_host(
        &["--component", probe_component.to_str().unwrap(), "--probe-mode", "report-config", "--log-format", "json"],
        &[
            ("BATON_HOSTNAME", &sim.base_url()),
            ("BATON_ACCESS_TOKEN", ADMIN_TOKEN),
            ("BATON_API_TOKEN", "canary-api-token"),
            ("BATON_DB_PASSWORD", "canary-db-password"),
        ],
    );
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains(&format!("hostname={}", sim.base_url())), "{}", run.stderr);
    for withheld in ["access-token=<unset>", "api-token=<unset>", "db-password=<unset>"] {
        assert!(run.stderr.contains(withheld), "{withheld}: {}", run.stderr);
    }
    assert!(run.stderr.contains("probe-mode=report-config"), "{}", run.stderr);
    for secret in [ADMIN_TOKEN, "canary-api-token", "canary-db-password"] {
        assert!(!run.output().contains(secret), "{secret} leaked");
    }
}

/// The probe gives its origin field a default pointing elsewhere: it is never used, so without
/// the operator's --hostname nothing runs and nothing is sent.
#[test]
fn a_component_default_never_decides_where_credentials_go() {
    let probe_component = component("probe_guest");
    let run = run_host(&["--component", probe_component.to_str().unwrap(), "--probe-mode", "report-config"], &[("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("missing required setting: --hostname"), "{}", run.stderr);
    assert!(!run.output().contains("attacker.example"), "{}", run.output());
}

#[test]
fn requests_to_another_origin_are_refused_and_never_sent() {
    let sim = sim();
    let other = Simulator::start_background(SimConfig::default()).unwrap();
    let url = format!("{}/rest/api/user/current", other.base_url());
    let run = probe(&sim, "fetch", &["--probe-url", &url]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("HttpRequestDenied"), "{}", run.stderr);
    assert!(run.stderr.contains("refused an outgoing request"), "the denial is logged: {}", run.stderr);
    assert!(other.requests().is_empty(), "nothing reached the other origin");
    assert!(sim.requests().is_empty());
}

#[test]
fn requests_to_the_configured_origin_carry_the_hosts_credential() {
    let sim = sim();
    let url = format!("{}/rest/api/user/current", sim.base_url());
    let run = probe(&sim, "fetch", &["--probe-url", &url]);
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains("status 200"), "{}", run.stderr);
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some(format!("Bearer {ADMIN_TOKEN}").as_str()));
}

#[test]
fn a_guest_set_authorization_header_is_refused() {
    let sim = sim();
    let run = probe(&sim, "set-authorization", &[]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("header refused: HeaderError::Forbidden"), "{}", run.stderr);
    assert!(sim.requests().iter().all(|r| !r.authorization.as_deref().unwrap_or("").contains("stolen")));
}

#[test]
fn exceeding_the_memory_cap_stops_the_guest_cleanly() {
    let sim = sim();
    let run = probe(&sim, "allocate", &["--max-memory-mb", "64"]);
    assert!(!run.success);
    assert!(run.stderr.contains("exceeded its memory cap of 64 MiB"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn exceeding_the_cpu_budget_stops_the_guest_cleanly() {
    let sim = sim();
    let started = std::time::Instant::now();
    let run = probe(&sim, "spin", &["--max-cpu-seconds", "1"]);
    assert!(!run.success);
    assert!(run.stderr.contains("CPU-time budget of 1 s"), "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 60, "stopped promptly");
}

/// A hostile server links the next page out of the context path (Tomcat would drop the `;`
/// parameters and normalise `..`): the request is refused before it is sent, with the
/// credential never leaving, and the sync fails saying why, leaving no output.
#[test]
fn a_next_link_out_of_the_context_path_is_never_followed() {
    for link in ["/confluence/rest/api/group/..;/..;/..;/admin/users?limit=5", "/confluence/rest/api/..%2f..%2fadmin", "/confluence/rest/api/%252e%252e/x"] {
        let sim = Simulator::start_background(SimConfig {
            context_path: "/confluence".into(),
            max_limit: 3,
            hostile_next_link: Some(link.into()),
            ..SimConfig::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let run = run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
        assert!(!run.success, "{link}: the sync must fail:\n{}", run.output());
        assert!(run.stderr.contains("refused an outgoing request"), "{link}: the refusal is logged:\n{}", run.stderr);
        assert!(!file.exists(), "no output");
        for request in sim.requests() {
            let path = request.path_and_query;
            assert!(!path.contains(';') && !path.contains("%2f") && !path.contains("%25") && !path.contains("admin"), "{link}: {path} was sent");
        }
    }
}

/// A hostile server sets cookies and echoes the credential in a header: the component sees
/// neither (the probe reports the headers it received).
#[test]
fn cookies_and_credential_echoes_are_stripped_from_answers() {
    let sim = Simulator::start_background(SimConfig {
        extra_response_headers: vec![
            ("set-cookie".into(), "JSESSIONID=hostile; Path=/".into()),
            ("x-echo".into(), format!("Bearer {ADMIN_TOKEN}")),
            ("x-kept".into(), "visible".into()),
        ],
        ..SimConfig::default()
    })
    .unwrap();
    let url = format!("{}/rest/api/user/current", sim.base_url());
    let run = probe(&sim, "fetch", &["--probe-url", &url]);
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains("x-kept"), "the probe lists the headers it saw: {}", run.stderr);
    assert!(!run.stderr.to_lowercase().contains("set-cookie") && !run.stderr.contains("JSESSIONID"), "{}", run.stderr);
    assert!(!run.stderr.contains("x-echo") && !run.output().contains(ADMIN_TOKEN), "{}", run.stderr);
}

/// The guest's stderr is not the host's: a line that imitates the host's JSON log records ends
/// up escaped inside one record of the host, never as a record of its own.
#[test]
fn the_guest_cannot_forge_log_lines() {
    let sim = sim();
    let run = probe(&sim, "forge-log", &[]);
    assert!(run.success, "{}", run.output());
    let forged: Vec<&str> = run.stderr.lines().filter(|l| l.contains(r#""forged":"yes""#)).collect();
    assert!(forged.is_empty(), "a forged record got through: {forged:?}");
    let relayed: Vec<&str> = run.stderr.lines().filter(|l| l.contains("the connector wrote to stderr")).collect();
    assert_eq!(relayed.len(), 1, "{}", run.stderr);
    assert!(relayed[0].contains(r#"\"forged\":\"yes\""#), "relayed, escaped: {}", relayed[0]);
    for line in run.stderr.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"));
        assert!(record.get("level").is_some(), "{line}");
    }
}

/// The per-sync store is capped: a component that keeps storing is stopped with a clear error.
#[test]
fn the_per_sync_store_cannot_grow_without_bound() {
    let sim = sim();
    let run = probe(&sim, "hoard-kv", &[]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("per-sync store"), "{}", run.stderr);
}

/// The CPU budget of a run holds across calls and instances: here the probe's one spinning call
/// stays under the per-call budget but passes the run's.
#[test]
fn the_cpu_budget_of_a_run_stops_a_connector_that_stays_under_the_per_call_one() {
    let sim = sim();
    let run = probe(&sim, "spin", &["--max-cpu-seconds", "30", "--max-run-cpu-seconds", "1"]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("for the whole run"), "{}", run.stderr);
}

/// Requests a hostile component makes to the configured origin itself, outside what the policy
/// allows: another method, a routing header, an oversized body. None is sent.
#[test]
fn methods_headers_and_bodies_outside_the_policy_never_leave() {
    for (mode, why) in [("trace", "method TRACE"), ("smuggle", "header x-forwarded-host"), ("big-post", "larger than the limit")] {
        let sim = sim();
        let run = probe(&sim, mode, &[]);
        assert!(!run.success, "{mode}: {}", run.output());
        assert!(run.stderr.contains("refused an outgoing request") && run.stderr.contains(why), "{mode}: {}", run.stderr);
        assert!(sim.requests().is_empty(), "{mode}: nothing reached the server");
    }
}

/// During a plain sync the component holds the administrator's credential, but may only read:
/// every write it tries (a user created, System Administrator granted, a DELETE, a PATCH, an
/// undeclared JSON-RPC call, even a change it declares) is refused before it is sent, named and
/// counted; the read over POST it declares goes through. The simulator records no write.
#[test]
fn a_sync_cannot_write() {
    let sim = sim();
    let run = probe(&sim, "write-during-sync", &[]);
    let said = run.stderr.lines().find(|l| l.contains("write-during-sync:")).unwrap_or_else(|| panic!("the probe reports: {}", run.output())).to_string();
    for tried in [
        "Post /rest/api/admin/user -> refused",
        "Put /rest/api/permissions -> refused",
        "Delete /rest/api/user/admin/group/confluence-administrators -> refused",
        "Patch /rest/api/user/admin -> refused",
        "Post /rpc/json-rpc/confluenceservice-v2/addUser -> refused",
    ] {
        assert!(said.contains(tried), "{tried}: {said}");
    }
    assert!(said.contains("Post /rpc/json-rpc/confluenceservice-v2/getUser -> status"), "a declared read over POST goes through: {said}");
    assert!(run.stderr.contains("POST /rest/api/admin/user changes the target system"), "a declared change is refused outside a change: {}", run.stderr);
    assert!(run.stderr.contains("the component did not declare PUT /rest/api/permissions"), "an undeclared request is named: {}", run.stderr);
    let sent: Vec<String> =
        sim.requests().iter().filter(|r| r.method != "GET" && r.method != "HEAD").map(|r| format!("{} {}", r.method, r.path_and_query)).collect();
    assert_eq!(sent, vec!["POST /rpc/json-rpc/confluenceservice-v2/getUser"], "only the declared read reached the server");
}

/// Through the `log` import too: a message or field holding line breaks stays inside the
/// component's one record (escaped), in the console format as in JSON; and a flood of records
/// is held to a burst, the rest counted in one notice.
#[test]
fn the_log_import_cannot_forge_or_flood_the_hosts_log() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.c1z");
    let probe_component = component("probe_guest");
    let base = ["--component", probe_component.to_str().unwrap(), "--file", file.to_str().unwrap(), "--log-format", "console", "--probe-mode"];
    let env = [("BATON_HOSTNAME", sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_host(&[&base[..], &["forge-log-import"]].concat(), &env);
    assert!(run.success, "{}", run.output());
    let carrying: Vec<&str> = run.stderr.lines().filter(|l| l.contains("forged=yes")).collect();
    assert_eq!(carrying.len(), 1, "one record, no line of its own: {}", run.stderr);
    assert!(carrying[0].contains("connector") && carrying[0].contains("ok\\n2026-01-01") && carrying[0].contains("v\\r\\n2026"), "escaped: {}", carrying[0]);
    assert!(!run.stderr.lines().any(|l| l.starts_with("2026-01-01T00:00:00.000000Z")), "{}", run.stderr);

    let run = run_host(&[&base[..], &["flood-log"]].concat(), &env);
    assert!(run.success, "{}", run.output());
    let log = without_colours(&run.stderr);
    let kept = log.lines().filter(|l| l.contains(" flood ")).count();
    assert!((200..=260).contains(&kept), "held to the burst: {kept} records");
    assert!(log.contains("these were dropped") && log.contains(&format!("dropped={}", 10_000 - kept)), "{log}");
}

/// Whatever a component returns, the host's memory and the output's disk stay bounded: one call
/// handing over more data than its budget, and a list that never ends, each stop the sync with
/// "resource exhausted" naming the setting; nothing is written in place of the output.
#[test]
fn a_component_cannot_fill_the_hosts_memory_or_disk() {
    let sim = sim();
    let run = probe(&sim, "big-page", &["--max-call-mb", "8"]);
    assert!(!run.success, "{}", run.output());
    assert!(
        run.stderr.contains("list-resources(thing): resource exhausted: the connector passed more than 8 MiB in one call")
            && run.stderr.contains("--max-call-mb"),
        "{}",
        run.stderr
    );
    let run = probe(&sim, "big-page", &[]);
    assert!(run.success, "32 MiB is under the default budget of one call: {}", run.output());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.c1z");
    let probe_component = component("probe_guest");
    let args = ["--component", probe_component.to_str().unwrap(), "--probe-mode", "endless-pages", "--file", file.to_str().unwrap(), "--max-sync-rows", "5000"];
    let run = run_host(&args, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(!run.success, "{}", run.output());
    assert!(run.stderr.contains("resource exhausted: the sync would write more than 5000 rows") && run.stderr.contains("--max-sync-rows"), "{}", run.stderr);
    assert!(!file.exists(), "no output in place of one");
}

/// Request bodies a component is still writing count against its instance's memory cap: 48
/// requests each holding almost 4 MiB (192 MiB in all, written from one 4 KiB buffer) are not
/// all held by the host; past the cap they are refused, named and counted.
#[test]
fn pending_request_bodies_count_against_the_instances_memory() {
    let sim = sim();
    let run = probe(&sim, "pending-posts", &["--max-memory-mb", "32"]);
    let said = run.stderr.lines().find(|l| l.contains("pending-posts:")).unwrap_or_else(|| panic!("the probe reports: {}", run.output())).to_string();
    let count = |word: &str| -> usize {
        said.split(&format!("{word} ")).nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()).unwrap().parse().unwrap()
    };
    assert_eq!(count("answered") + count("refused"), 48, "{said}");
    assert!(count("answered") <= 8, "at most what fits in 32 MiB at once: {said}");
    assert!(count("refused") >= 40, "{said}");
    assert!(run.stderr.contains("would hold more than its memory cap"), "{}", run.stderr);
}

/// 200,000 empty writes each to a request body, to stdout and to stderr (the pattern of
/// wasmtime's advisories on unbounded host memory) leave the host's peak memory where a run
/// that writes nothing leaves it, within 48 MiB.
#[test]
fn empty_writes_do_not_grow_the_hosts_memory() {
    let sim = sim();
    let measure = |mode: &str| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("probe.c1z");
        let probe_component = component("probe_guest");
        let args = ["--component", probe_component.to_str().unwrap(), "--probe-mode", mode, "--file", file.to_str().unwrap(), "--log-format", "json"];
        let (run, peak_kib) = run_host_watching_memory(&args, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
        assert!(run.success, "{mode}: {}", run.output());
        (run, peak_kib)
    };
    let (_, quiet_kib) = measure("report-config");
    let (run, writing_kib) = measure("empty-writes");
    assert!(run.stderr.contains("empty-writes: 200000 to a request body, 200000 to stdout, 200000 to stderr"), "{}", run.stderr);
    eprintln!("peak memory: {} KiB writing nothing, {} KiB with empty writes", quiet_kib, writing_kib);
    assert!(writing_kib < quiet_kib + 48 * 1024, "peak {} MiB against {} MiB for a run that writes nothing", writing_kib / 1024, quiet_kib / 1024);
}
