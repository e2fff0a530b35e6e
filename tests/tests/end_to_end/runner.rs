//! The multi-tenant runner, `serve --tenants FILE`: honest tenants get exactly the files a
//! one-shot sync writes, a bad or hostile tenant is stopped and reported by name beside them,
//! `/metrics` answers while syncs run, and no tenant's secret shows anywhere.

use crate::util::{component, content, host_command, run_host_as_shipped};
use confluence_sim::fake_c1::{FakeC1, FakeC1Config};
use confluence_sim::{ADMIN_TOKEN, Dataset, FaultPlan, SimConfig, Simulator};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub(crate) fn simulator(version: &str, users: usize) -> Simulator {
    Simulator::start_background(SimConfig { version: version.into(), max_limit: 7, dataset: Dataset::generate(users), ..SimConfig::default() }).unwrap()
}

/// A one-shot sync of `sim` into `file`, the reference the runner's files are compared with.
fn one_shot(sim: &Simulator, file: &Path) {
    // As shipped: a tenant's profile is the default unless its config names one.
    let run = run_host_as_shipped(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(run.success, "{}", run.output());
}

/// A `[[tenant]]` of the built-in component against `sim`, its token from `token_variable`.
pub(crate) fn confluence_tenant(name: &str, sim: &Simulator, token_variable: &str) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\n[tenant.config]\nhostname = \"{}\"\n[tenant.secrets]\naccess-token = {{ env = \"{token_variable}\" }}\n",
        sim.base_url()
    )
}

/// The body of a tenants file whose tenants `names` (tokens from `TOKEN`) each sync `sim` every
/// `interval` (seconds apart: the file lowers its `shortest_interval` to one second).
pub(crate) fn scheduled_tenants(names: &[String], sim: &Simulator, interval: &str) -> String {
    let tenants: Vec<String> = names
        .iter()
        .map(|name| confluence_tenant(name, sim, "TOKEN").replace("[tenant.config]", &format!("interval = \"{interval}\"\n[tenant.config]")))
        .collect();
    format!("shortest_interval = \"1s\"\n{}", tenants.join("\n"))
}

/// A `[[tenant]]` of the built-in component against `sim` in service mode for `c1`, with extra
/// lines before `[tenant.c1]` (limits) and in it.
fn c1_tenant(name: &str, sim: &Simulator, c1: &FakeC1, before: &str, in_c1: &str) -> String {
    let plaintext = if c1.ca_pem().is_none() { "plaintext_loopback = true\n" } else { "" };
    format!(
        "{}{before}[tenant.c1]\nclient_id = \"{}\"\nclient_secret = {{ env = \"C1_SECRET\" }}\napi_host = \"{}\"\n{in_c1}{plaintext}",
        confluence_tenant(name, sim, "TOKEN"),
        c1.client_id(),
        c1.address()
    )
}

/// A `[[tenant]]` of the probe doing `mode` against `sim`, with extra lines (limits).
fn probe_tenant(name: &str, sim: &Simulator, mode: &str, extra: &str) -> String {
    format!(
        "[[tenant]]\nname = \"{name}\"\ncomponent = \"{}\"\n[tenant.config]\nhostname = \"{}\"\nprobe-mode = \"{mode}\"\nprobe-url = \"https://attacker.example/steal\"\n[tenant.secrets]\naccess-token = {{ env = \"PROBE_TOKEN\" }}\n{extra}\n",
        component("probe_guest").display(),
        sim.base_url()
    )
}

struct Served {
    success: bool,
    stdout: String,
    stderr: String,
    metrics: Option<String>,
}

impl Served {
    /// The `--once` report line of `tenant`.
    fn line(&self, tenant: &str) -> &str {
        self.stdout.lines().find(|l| l.starts_with(&format!("{tenant}: "))).unwrap_or_else(|| panic!("no line for {tenant}:\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Starts `serve --tenants FILE` (with `extra` flags) in `dir` with `env`; its pipes, and the
/// address of its `/metrics`.
pub(crate) fn start_serve(dir: &Path, tenants: &str, env: &[(&str, &str)], extra: &[&str]) -> (std::process::Child, String) {
    let file = dir.join("tenants.toml");
    std::fs::write(&file, format!("output_dir = \"out\"\nmax_concurrent_syncs = 3\n\n{tenants}")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--tenants", file.to_str().unwrap(), "--listen", &listen];
    args.extend_from_slice(extra);
    let child = host_command(&args, env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    (child, listen)
}

/// Everything a child writes to `pipe`, read on a thread.
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs `serve --tenants FILE --once` in `dir` with `env`, reading `/metrics` while it runs.
fn serve_once(dir: &Path, tenants: &str, env: &[(&str, &str)]) -> Served {
    let (mut child, listen) = start_serve(dir, tenants, env, &["--once"]);
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut metrics = None;
    while metrics.is_none() && started.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none() {
        metrics = fetch(&listen, "/metrics");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    Served { success: status.success(), stdout: out.join().unwrap(), stderr: err.join().unwrap(), metrics }
}

/// The body of a GET of `path` on `address`, when it answers 200.
pub(crate) fn fetch(address: &str, path: &str) -> Option<String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

#[test]
fn three_tenants_once_two_files_as_one_shot_syncs_write_them_and_the_third_failed_by_name() {
    let (old, new) = (simulator("7.19.0", 30), simulator("10.2.0", 45));
    // Slow enough that /metrics is read while syncs run.
    old.set_faults(FaultPlan { latency_ms: 15, ..FaultPlan::default() });
    let dir = tempfile::tempdir().unwrap();
    let wrong = "canary-wrong-token-5f1d";
    let tenants =
        [confluence_tenant("acme", &old, "ACME_TOKEN"), confluence_tenant("globex", &new, "GLOBEX_TOKEN"), confluence_tenant("initech", &new, "INITECH_TOKEN")]
            .join("\n");
    let served = serve_once(dir.path(), &tenants, &[("ACME_TOKEN", ADMIN_TOKEN), ("GLOBEX_TOKEN", ADMIN_TOKEN), ("INITECH_TOKEN", wrong)]);

    assert!(!served.success, "a failed tenant makes --once fail:\n{}\n{}", served.stdout, served.stderr);
    assert!(served.stderr.contains("1 of 3 tenants failed: initech"), "{}", served.stderr);
    assert!(served.line("initech").contains("failed:") && served.line("initech").contains("401"), "{}", served.line("initech"));
    assert!(served.line("acme").starts_with("acme: synced"), "{}", served.line("acme"));

    let reference = tempfile::tempdir().unwrap();
    for (tenant, sim) in [("acme", &old), ("globex", &new)] {
        let alone = reference.path().join(format!("{tenant}.c1z"));
        one_shot(sim, &alone);
        let served_file = dir.path().join("out").join(tenant).join("sync.c1z");
        let (a, b) = (content(&alone), content(&served_file));
        assert!(a.len() > 100, "{tenant}: a real dataset ({} rows)", a.len());
        assert!(a == b, "{tenant}: the runner's file differs from a one-shot sync's");
    }
    assert!(!dir.path().join("out/initech/sync.c1z").exists(), "no file for the failed tenant");

    let metrics = served.metrics.expect("/metrics answered while the syncs ran");
    assert!(metrics.contains("baton_runner_compiled_components") && metrics.contains("baton_runner_syncs_running"), "{metrics}");

    let everything = format!("{}{}", served.stdout, served.stderr);
    assert!(!everything.contains(ADMIN_TOKEN) && !everything.contains(wrong), "a token was printed");
    let json_lines: Vec<serde_json::Value> = served.stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let tenant_of = |line: &serde_json::Value| line.pointer("/span/tenant").and_then(|t| t.as_str()).map(str::to_string);
    let labelled: Vec<String> = json_lines.iter().filter_map(tenant_of).collect();
    for tenant in ["acme", "globex", "initech"] {
        assert!(labelled.iter().any(|t| t == tenant), "log lines carry {tenant}");
    }
}

#[test]
fn a_tenant_refused_as_written_is_named_with_its_field_and_the_others_run() {
    let sim = simulator("8.9.0", 12);
    let dir = tempfile::tempdir().unwrap();
    let tenants = format!(
        "{}\n[[tenant]]\nname = \"typo\"\ninterval = \"6h\"\ncolour = \"blue\"\n\n[[tenant]]\nname = \"leaky\"\n[tenant.config]\nhostname = \"{}\"\naccess-token = \"canary-in-config\"\n",
        confluence_tenant("fine", &sim, "TOKEN"),
        sim.base_url()
    );
    let served = serve_once(dir.path(), &tenants, &[("TOKEN", ADMIN_TOKEN)]);
    assert!(!served.success);
    assert!(served.line("fine").contains("synced"), "{}", served.line("fine"));
    assert!(served.line("typo").contains("refused") && served.line("typo").contains("unknown field `colour`"), "{}", served.line("typo"));
    assert!(served.line("leaky").contains("config.access-token: is a secret"), "{}", served.line("leaky"));
    assert!(served.stderr.contains("2 of 3 tenants failed: leaky, typo"), "{}", served.stderr);
    assert!(!served.stdout.contains("canary-in-config") && !served.stderr.contains("canary-in-config"));
}

#[test]
fn hostile_neighbours_are_stopped_and_reported_while_honest_tenants_get_their_files() {
    let (old, new, victim) = (simulator("8.5.0", 30), simulator("10.2.0", 30), simulator("8.9.0", 4));
    let dir = tempfile::tempdir().unwrap();
    let tenants = [
        confluence_tenant("honest-a", &old, "TOKEN"),
        confluence_tenant("honest-b", &new, "TOKEN"),
        probe_tenant("spinner", &victim, "spin", "[tenant.limits]\ncpu_seconds_per_call = 1"),
        probe_tenant("hoarder", &victim, "allocate", "[tenant.limits]\nmemory_mb = 64"),
        probe_tenant("trapper", &victim, "trap", ""),
        probe_tenant("escaper", &victim, "fetch", ""),
        probe_tenant("flooder", &victim, "flood", "[tenant.limits]\nrequests_per_second = 20\ncall_timeout_seconds = 3"),
        // The probe's schema lies: its origin field defaults to another host, and api-token and
        // db-password are declared plain settings.
        format!(
            "[[tenant]]\nname = \"liar\"\ncomponent = \"{}\"\n[tenant.config]\nprobe-mode = \"report-config\"\n[tenant.secrets]\naccess-token = {{ env = \"PROBE_TOKEN\" }}\n",
            component("probe_guest").display()
        ),
        probe_tenant("peeker", &victim, "scan-memory", "api-token = { env = \"LIAR_API_TOKEN\" }\ndb-password = { env = \"LIAR_DB_PASSWORD\" }")
            .replace("https://attacker.example/steal", "canary-control-value"),
        probe_tenant("confider", &victim, "report-config", "probe-url = { env = \"LIAR_API_TOKEN\" }").replace("probe-url = \"https://attacker.example/steal\"\n", ""),
    ]
    .join("\n");
    let env = [
        ("TOKEN", ADMIN_TOKEN),
        ("PROBE_TOKEN", "probe-canary-token"),
        ("LIAR_API_TOKEN", "canary-liar-api-token"),
        ("LIAR_DB_PASSWORD", "canary-liar-db-password"),
    ];
    let served = serve_once(dir.path(), &tenants, &env);
    assert!(!served.success);
    let liar = served.line("liar");
    assert!(liar.contains("failed:") && liar.contains("missing required setting") && liar.contains("hostname"), "its default origin is not used: {liar}");
    let peek = served.stderr.lines().find(|l| l.contains("canaries") && l.contains(r#""tenant":"peeker""#)).expect("the peeker reports what it found");
    assert!(peek.contains("canary-control-value"), "the scan finds what did come in: {peek}");
    assert!(!peek.contains("canary-liar"), "credentials declared plain are withheld by name: {peek}");
    let confider = served.line("confider");
    assert!(confider.contains("secrets.probe-url: the component declares it a plain setting"), "a secret it would read is refused: {confider}");
    for (tenant, why) in [("spinner", "CPU"), ("hoarder", "memory"), ("trapper", "trap"), ("escaper", "denied"), ("flooder", "did not answer within 3 s")] {
        let line = served.line(tenant);
        assert!(line.contains("failed:") && line.to_lowercase().contains(&why.to_lowercase()), "{tenant} is stopped for {why}: {line}");
    }
    let lowered: Vec<&str> = served.stderr.lines().filter(|l| l.contains("had work to do without pause")).collect();
    assert!(lowered.iter().any(|l| l.contains(r#""tenant":"spinner""#)), "the spinner runs at the lowest priority: {lowered:?}");
    let refusal = served.stderr.lines().find(|l| l.contains("refused an outgoing request")).expect("the refusal is logged");
    assert!(refusal.contains("attacker.example") && refusal.contains(r#""tenant":"escaper""#), "with its tenant: {refusal}");
    assert!(served.stderr.contains("7 of 10 tenants failed: confider, escaper, flooder, hoarder, liar, spinner, trapper"), "{}", served.stderr);
    let flood = victim.requests().iter().filter(|r| r.path_and_query.contains("/rest/api/user/current")).count();
    assert!((10..=3 * 20 + 10).contains(&flood), "the flood was held to its rate: {flood} requests in 3 s at 20/s");
    let reference = tempfile::tempdir().unwrap();
    for (tenant, sim) in [("honest-a", &old), ("honest-b", &new)] {
        let alone = reference.path().join(format!("{tenant}.c1z"));
        one_shot(sim, &alone);
        assert!(content(&alone) == content(&dir.path().join("out").join(tenant).join("sync.c1z")), "{tenant}: the neighbours changed its file");
    }
    for secret in ["probe-canary-token", "canary-liar-api-token", "canary-liar-db-password"] {
        assert!(!served.stdout.contains(secret) && !served.stderr.contains(secret), "{secret} leaked");
    }
}

#[test]
fn without_once_a_c1_tenant_serves_conductorone_beside_a_scheduled_one_until_sigterm() {
    let sim = simulator("9.2.0", 16);
    let c1 = FakeC1::start(FakeC1Config { tasks: vec![FakeC1::sync_full_task(1)], ..FakeC1Config::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let managed = c1_tenant("managed", &sim, &c1, "", "");
    let tenants = format!("{}\n{managed}", confluence_tenant("local", &sim, "TOKEN"));
    let secret = c1.client_secret();
    let (mut child, listen) = start_serve(dir.path(), &tenants, &[("TOKEN", ADMIN_TOKEN), ("C1_SECRET", &secret)], &[]);
    let err = drain(child.stderr.take().unwrap());
    let _out = drain(child.stdout.take().unwrap());
    let local = dir.path().join("out/local/sync.c1z");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(local.is_file() && c1.finished().iter().any(|f| f.request.task_id == FakeC1::task_id(1))) {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "the scheduled sync and the C1 task did not both finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(fetch(&listen, "/readyz").is_some(), "ready while serving");
    // The file is in place a moment before the sync is counted: wait for the count.
    let counted = "baton_runner_syncs_total{tenant=\"local\",result=\"success\"} 1";
    let mut metrics = fetch(&listen, "/metrics").unwrap();
    while !metrics.contains(counted) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        metrics = fetch(&listen, "/metrics").unwrap();
    }
    assert!(metrics.contains(counted), "{metrics}");

    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(stopped.elapsed() < Duration::from_secs(40), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = err.join().unwrap();
    assert!(status.success(), "a clean exit on SIGTERM:\n{log}");

    let uploads = c1.uploads();
    let upload = uploads.iter().find(|u| u.accepted()).expect("the managed tenant uploaded its sync");
    let uploaded = dir.path().join("uploaded.c1z");
    std::fs::write(&uploaded, &upload.data).unwrap();
    assert!(content(&uploaded) == content(&local), "the upload holds what the scheduled tenant wrote of the same server");
    assert!(!log.contains(&secret) && !log.contains(ADMIN_TOKEN), "no secret in the logs");
    assert!(log.lines().any(|l| l.contains("ConductorOne accepted our Hello") && l.contains(r#""tenant":"managed""#)), "{log}");
}

#[test]
fn sighup_reloads_the_tenants_file_and_a_broken_one_changes_nothing() {
    let sim = simulator("8.9.0", 12);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, listen) = start_serve(dir.path(), &confluence_tenant("first", &sim, "TOKEN"), &[("TOKEN", ADMIN_TOKEN)], &[]);
    let err = drain(child.stderr.take().unwrap());
    let _out = drain(child.stdout.take().unwrap());
    let wait_for = |path: std::path::PathBuf| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !path.is_file() {
            assert!(Instant::now() < deadline, "{} never appeared", path.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(dir.path().join("out/first/sync.c1z"));
    let file = dir.path().join("tenants.toml");
    let hangup = || assert!(std::process::Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    std::fs::write(&file, "output_dir = \"out\"\n[[tenant]\nname = ").unwrap();
    hangup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(fetch(&listen, "/healthz").is_some(), "a broken file does not stop the runner");
    let both = format!("output_dir = \"out\"\n\n{}\n{}", confluence_tenant("first", &sim, "TOKEN"), confluence_tenant("second", &sim, "TOKEN"));
    std::fs::write(&file, both).unwrap();
    hangup();
    wait_for(dir.path().join("out/second/sync.c1z"));
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let log = err.join().unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("the tenants stay as they were"), "the broken file is reported: {log}");
}

/// A tenant's request rate holds in every kind of work it does, not only its scheduled syncs:
/// here a ConductorOne tenant with `requests_per_second = 5` runs a service-mode sync, then a
/// grant, and the simulator sees no five requests of either closer together than a second.
#[test]
fn a_tenants_request_rate_holds_in_service_mode_syncs_and_grants() {
    use baton_c1api::pb::task::{self, TaskType};
    use baton_c1z::C1zReader;
    let sim = simulator("9.2.0", 4);
    let c1 = FakeC1::start(FakeC1Config { tasks: vec![FakeC1::sync_full_task(1)], ..FakeC1Config::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tenant = c1_tenant("paced", &sim, &c1, "[tenant.limits]\nrequests_per_second = 5\n", "provisioning = true\n");
    let secret = c1.client_secret();
    let (mut child, _listen) = start_serve(dir.path(), &tenant, &[("TOKEN", ADMIN_TOKEN), ("C1_SECRET", &secret)], &[]);
    let err = drain(child.stderr.take().unwrap());
    let _out = drain(child.stdout.take().unwrap());
    let mut finished = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !c1.finished().iter().any(|f| f.request.task_id == FakeC1::task_id(n)) {
            assert!(Instant::now() < deadline && child_alive(&mut child), "task {n} did not finish");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    finished(1);
    let synced = sim.requests().len();
    let upload = c1.uploads().into_iter().find(|u| u.accepted()).expect("the sync was uploaded");
    let file = dir.path().join("uploaded.c1z");
    std::fs::write(&file, &upload.data).unwrap();
    let (entitlement, user) = crate::service_session::free_membership(&C1zReader::open(&file).unwrap());
    let grant = task::GrantTask { entitlement: Some(entitlement), principal: Some(user), ..Default::default() };
    c1.push_task(crate::service::task(2, TaskType::Grant(grant)));
    finished(2);
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let log = err.join().unwrap();
    let requests = sim.requests();
    let (sync, change) = requests.split_at(synced);
    assert!(sync.len() >= 10 && change.len() >= 2, "{} and {} requests:\n{log}", sync.len(), change.len());
    assert!(change.iter().any(|r| r.method != "GET"), "the grant wrote: {change:?}");
    for (work, requests) in [("sync", sync), ("grant", change)] {
        let closest = requests.windows(6).map(|six| six[5].received - six[0].received).min();
        // Five gaps of 200 ms, less what loopback and scheduling may shift one request by.
        assert!(closest.is_none_or(|gap| gap >= Duration::from_millis(900)), "{work}: six requests within {closest:?}");
        let pair = requests.windows(2).map(|two| two[1].received - two[0].received).min().unwrap();
        assert!(pair >= Duration::from_millis(150), "{work}: two requests {pair:?} apart");
    }
}

pub(crate) fn child_alive(child: &mut std::process::Child) -> bool {
    child.try_wait().unwrap().is_none()
}

/// `/metrics` shows a sync while it runs: scraped during one tenant's sync (its server slowed
/// down), its requests and guest CPU grow from one scrape to the next and its rows and memory
/// show before the sync is counted as finished.
#[test]
fn metrics_move_while_a_sync_runs() {
    let sim = simulator("9.2.0", 60);
    sim.set_faults(FaultPlan { latency_ms: 40, ..FaultPlan::default() });
    let dir = tempfile::tempdir().unwrap();
    let tenant = format!("{}[tenant.limits]\nconcurrency = 2\n", confluence_tenant("slow", &sim, "TOKEN"));
    let (mut child, listen) = start_serve(dir.path(), &tenant, &[("TOKEN", ADMIN_TOKEN)], &["--once"]);
    let _out = drain(child.stdout.take().unwrap());
    let _err = drain(child.stderr.take().unwrap());
    let value = |text: &str, series: &str| -> Option<f64> { text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()?.parse().ok()) };
    let mut during = Vec::new();
    while child.try_wait().unwrap().is_none() {
        if let Some(text) = fetch(&listen, "/metrics").filter(|t| !t.contains("baton_runner_syncs_total{")) {
            let requests = value(&text, "baton_runner_requests_total{tenant=\"slow\",class=\"2xx\"}");
            during.push((
                requests,
                value(&text, "baton_runner_rows_written_total{tenant=\"slow\"}"),
                value(&text, "baton_runner_memory_bytes{tenant=\"slow\"}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.wait().unwrap().success());
    let requests: Vec<f64> = during.iter().filter_map(|d| d.0).collect();
    assert!(requests.len() >= 3 && requests.windows(2).any(|w| w[1] > w[0]), "requests grow between scrapes: {during:?}");
    assert!(during.iter().any(|d| d.1.is_some_and(|rows| rows > 0.0)), "rows show before the end: {during:?}");
    assert!(during.iter().any(|d| d.2.is_some_and(|bytes| bytes > 0.0)), "memory in use shows: {during:?}");
}

/// The process's memory budget holds whatever the tenants ask: with `max_memory_mb = 200`, syncs
/// whose instances may claim 80 MiB run two at a time (the others wait, and the wait shows in
/// `/metrics`), a tenant asking for 16 instances runs with the two that fit, a memory bomb is
/// stopped by its own cap, and every honest tenant gets its file.
#[test]
fn syncs_wait_for_the_memory_budget_and_none_takes_the_process_down() {
    let sim = simulator("9.2.0", 20);
    sim.set_faults(FaultPlan { latency_ms: 30, ..FaultPlan::default() });
    let dir = tempfile::tempdir().unwrap();
    let small = "memory_mb = 64\nmax_call_mb = 8\nmax_resource_mb = 8\n";
    let mut tenants = String::from("max_memory_mb = 200\n");
    for name in ["one", "two", "three"] {
        tenants += &format!("{}[tenant.limits]\n{small}concurrency = 1\n\n", confluence_tenant(name, &sim, "TOKEN"));
    }
    tenants += &format!("{}[tenant.limits]\n{small}concurrency = 16\n\n", confluence_tenant("wide", &sim, "TOKEN"));
    tenants += &probe_tenant("hoarder", &sim, "allocate", &format!("[tenant.limits]\n{small}concurrency = 1"));
    let (mut child, listen) = start_serve(dir.path(), &tenants, &[("TOKEN", ADMIN_TOKEN), ("PROBE_TOKEN", "probe-token")], &["--once"]);
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let (mut most_claimed, mut last) = (0u64, String::new());
    while child.try_wait().unwrap().is_none() {
        if let Some(text) = fetch(&listen, "/metrics") {
            let claimed = text.lines().find(|l| l.starts_with("baton_runner_memory_claimed_bytes ")).and_then(|l| l.rsplit(' ').next()?.parse().ok());
            most_claimed = most_claimed.max(claimed.unwrap_or(0));
            last = text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert_eq!(status.code(), Some(1), "an ordinary exit (the hoarder failed), not a kill:\n{stdout}\n{stderr}");
    for name in ["one", "two", "three", "wide"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{name}: synced"))), "{name}:\n{stdout}\n{stderr}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("hoarder: failed") && l.contains("memory cap")), "{stdout}");
    assert!(most_claimed > 0 && most_claimed <= 200 << 20, "claims stay within the budget: {most_claimed}");
    assert!(stderr.contains("its sync runs with fewer") && stderr.contains(r#""instances":2"#), "the wide tenant runs with two: {stderr}");
    let waited: f64 =
        last.lines().filter(|l| l.starts_with("baton_runner_memory_wait_seconds_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert!(waited > 0.0, "some syncs waited for memory:\n{last}");
}

/// A tenant's folder has a byte budget: a sync that would take the folder past it (its scratch
/// database counts) is stopped with the budget named, and the last good file stays as it was.
#[test]
fn a_tenant_over_its_folder_budget_fails_alone_and_keeps_its_last_good_file() {
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(1500), ..SimConfig::default() }).unwrap();
    let small = simulator("9.2.0", 4);
    let dir = tempfile::tempdir().unwrap();
    let env = [("TOKEN", ADMIN_TOKEN)];
    let tenants = |budget_mb: u64| {
        format!("{}[tenant.limits]\nmax_disk_mb = {budget_mb}\n\n{}", confluence_tenant("big", &sim, "TOKEN"), confluence_tenant("other", &small, "TOKEN"))
    };
    let first = serve_once(dir.path(), &tenants(1024), &env);
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    let file = dir.path().join("out/big/sync.c1z");
    let before = std::fs::read(&file).unwrap();
    sim.set_faults(FaultPlan { latency_ms: 2, ..FaultPlan::default() });
    let budget_mb = (before.len() as u64 >> 20) + 1;
    let second = serve_once(dir.path(), &tenants(budget_mb), &env);
    let line = second.line("big");
    assert!(line.contains("failed:") && line.contains(&format!("over its budget of {budget_mb} MiB (limits.max_disk_mb)")), "{line}");
    assert!(second.line("other").contains("synced"), "the others run: {}", second.stdout);
    assert_eq!(std::fs::read(&file).unwrap(), before, "the last good file stays byte for byte");
}

/// The runner killed (`kill -9`) while three tenants are mid-sync: started again, each tenant
/// goes on from its own checkpoint (fewer requests than a whole sync) and gets the file a
/// one-shot sync writes.
#[test]
fn a_runner_killed_mid_sync_resumes_every_tenant_to_the_files_of_one_shot_syncs() {
    let tenants = [("acme", simulator("8.5.0", 30)), ("globex", simulator("9.2.0", 30)), ("initech", simulator("10.2.0", 30))];
    let reference = tempfile::tempdir().unwrap();
    let mut whole_requests = Vec::new();
    for (name, sim) in &tenants {
        let before = sim.request_count();
        one_shot(sim, &reference.path().join(format!("{name}.c1z")));
        whole_requests.push(sim.request_count() - before);
        sim.set_faults(FaultPlan { latency_ms: 20, ..FaultPlan::default() });
    }
    let dir = tempfile::tempdir().unwrap();
    let file: String = tenants.iter().map(|(name, sim)| confluence_tenant(name, sim, "TOKEN")).collect::<Vec<_>>().join("\n");
    let env = [("TOKEN", ADMIN_TOKEN)];
    let (mut child, _) = start_serve(dir.path(), &file, &env, &["--once"]);
    let (_out, _err) = (drain(child.stdout.take().unwrap()), drain(child.stderr.take().unwrap()));
    let checkpoint = |name: &str| dir.path().join("out").join(name).join(".sync.c1z.partial/checkpoint.json");
    let started = Instant::now();
    while !tenants.iter().all(|(name, _)| checkpoint(name).is_file()) {
        assert!(started.elapsed() < Duration::from_secs(60), "every tenant checkpointed");
        assert!(child_alive(&mut child), "the runner ended before it could be killed; slow the simulators down");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut before = Vec::new();
    for (name, sim) in &tenants {
        assert!(!dir.path().join("out").join(name).join("sync.c1z").exists(), "{name}: no file from the killed run");
        sim.set_faults(FaultPlan::default());
        before.push(sim.request_count());
    }
    let served = serve_once(dir.path(), &file, &env);
    assert!(served.success, "{}\n{}", served.stdout, served.stderr);
    for (((name, sim), whole), before) in tenants.iter().zip(whole_requests).zip(before) {
        let resumed = sim.request_count() - before;
        assert!(resumed < whole, "{name}: went on from its checkpoint ({resumed} requests against {whole} for a whole sync)");
        let (a, b) = (content(&reference.path().join(format!("{name}.c1z"))), content(&dir.path().join("out").join(name).join("sync.c1z")));
        assert!(a.len() > 100 && a == b, "{name}: the resumed file holds the rows of a one-shot sync");
    }
}
