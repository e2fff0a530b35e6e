//! Unattended runs: rate limits, unavailability and bad answers from the server; concurrency
//! that does not change the output.

use crate::util::{Run, content, host_command, run_host};
use confluence_sim::{ADMIN_TOKEN, Dataset, Fault, FaultPlan, SimConfig, Simulator};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn simulator(version: &str) -> Simulator {
    Simulator::start_background(SimConfig { version: version.into(), max_limit: 7, dataset: Dataset::generate(40), ..SimConfig::default() }).unwrap()
}

fn sync(sim: &Simulator, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_host(&args, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)])
}

#[test]
fn concurrency_does_not_change_the_file() {
    for version in ["8.5.0", "10.2.0"] {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let (one, many) = (dir.path().join("one.c1z"), dir.path().join("many.c1z"));
        assert!(sync(&sim, &one, &["--concurrency", "1"]).success);
        let run = sync(&sim, &many, &["--concurrency", "8"]);
        assert!(run.success, "{}", run.output());
        let (a, b) = (content(&one), content(&many));
        assert!(a.len() > 300, "{version}: a real dataset ({} rows)", a.len());
        assert!(a == b, "{version}: --concurrency 1 and 8 wrote different content");
    }
}

#[test]
fn rate_limits_and_unavailability_are_retried_to_the_same_result() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let (clean, stormy) = (dir.path().join("clean.c1z"), dir.path().join("stormy.c1z"));
    assert!(sync(&sim, &clean, &[]).success);
    let storm = vec![Fault::rate_limited(0), Fault::unavailable(0), Fault::rate_limited(0), Fault::unavailable(0), Fault::unavailable(0)];
    sim.inject_faults(storm);
    let run = sync(&sim, &stormy, &[]);
    assert!(run.success, "{}", run.output());
    assert!(run.stdout.contains("5 retries"), "{}", run.stdout);
    assert!(content(&clean) == content(&stormy), "the same data despite the storm");
}

#[test]
fn refusals_lower_concurrency_and_the_result_stays_the_same() {
    let sim = simulator("10.2.0");
    let dir = tempfile::tempdir().unwrap();
    let (clean, limited) = (dir.path().join("clean.c1z"), dir.path().join("limited.c1z"));
    assert!(sync(&sim, &clean, &["--concurrency", "1"]).success);
    sim.set_faults(FaultPlan { rate_limit_every: Some(9), retry_after_seconds: 0, latency_ms: 5, ..FaultPlan::default() });
    let run = sync(&sim, &limited, &["--concurrency", "8"]);
    assert!(run.success, "{}", run.output());
    let lowered = run.stdout.split("rate limits lowered concurrency to ").nth(1).unwrap_or_else(|| panic!("no adaptation reported: {}", run.stdout));
    let lowest: usize = lowered.split_whitespace().next().unwrap().parse().unwrap();
    assert!((1..8).contains(&lowest) && lowered.starts_with(&format!("{lowest} of 8")), "{}", run.stdout);
    assert!(content(&clean) == content(&limited), "the same data at any concurrency");
}

#[test]
fn a_malformed_answer_fails_clearly_and_keeps_the_previous_file() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    assert!(sync(&sim, &file, &[]).success);
    let before = std::fs::read(&file).unwrap();
    let garbage = Fault { status: 200, headers: vec![("Content-Type".into(), "application/json".into())], body: r#"{"results": ["#.into() };
    sim.inject_faults(vec![Fault::rate_limited(0), Fault::rate_limited(0), garbage]);
    let run = sync(&sim, &file, &[]);
    assert!(!run.success);
    assert!(run.stderr.contains("not the JSON expected"), "{}", run.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), before, "the previous file is untouched");
}

#[test]
fn retries_are_bounded_and_the_last_status_is_named() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sim.inject_faults((0..10).map(|_| Fault::unavailable(0)).collect());
    let run = sync(&sim, &file, &[]);
    assert!(!run.success);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(run.stderr.contains("giving up after the last attempt"), "{}", run.stderr);
    assert_eq!(sim.requests().len(), 6, "six attempts, then stop");
}

#[test]
fn storms_resets_and_slow_answers_give_the_fault_free_result() {
    for version in ["8.5.0", "10.2.0"] {
        let sim = simulator(version);
        let dir = tempfile::tempdir().unwrap();
        let (clean, stormy) = (dir.path().join("clean.c1z"), dir.path().join("stormy.c1z"));
        assert!(sync(&sim, &clean, &[]).success);
        sim.set_faults(FaultPlan {
            rate_limit_every: Some(7),
            unavailable_every: Some(11),
            drop_every: Some(13),
            slow_every: Some((5, 200)),
            burst: Some((30, 3)),
            retry_after_seconds: 0,
            ..FaultPlan::default()
        });
        let run = sync(&sim, &stormy, &[]);
        assert!(run.success, "{version}: {}", run.output());
        let dropped = sim.requests().iter().filter(|r| r.status == 0).count();
        assert!(dropped > 0, "{version}: connections were dropped");
        assert!(content(&clean) == content(&stormy), "{version}: the same data despite the storm");
    }
}

#[test]
fn a_killed_sync_resumes_to_the_same_content() {
    let sim = simulator("8.5.0");
    let dir = tempfile::tempdir().unwrap();
    let (whole, resumed) = (dir.path().join("whole.c1z"), dir.path().join("resumed.c1z"));
    assert!(sync(&sim, &whole, &[]).success);

    sim.set_faults(FaultPlan { latency_ms: 25, ..FaultPlan::default() });
    let env = [("BATON_HOSTNAME", sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--file", resumed.to_str().unwrap(), "--concurrency", "1"];
    let mut child = host_command(&args, &env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let checkpoint = dir.path().join(".resumed.c1z.partial").join("checkpoint.json");
    let started = Instant::now();
    // Kill once the sync is well into fetching grants (past the users and anonymous types).
    loop {
        let progress = std::fs::read_to_string(&checkpoint).unwrap_or_default();
        if progress.contains("\"type_index\":2") && !progress.contains("\"resources_done\":0") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint appeared: {progress}");
        assert!(child.try_wait().unwrap().is_none(), "the sync ended before it could be killed; slow the simulator down");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!resumed.exists(), "no output from a killed sync");

    sim.set_faults(FaultPlan::default());
    let run = sync(&sim, &resumed, &["--log-level", "info"]);
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains("resuming an interrupted sync"), "{}", run.stderr);
    assert!(content(&whole) == content(&resumed), "resumed content equals an uninterrupted sync");
    assert!(!dir.path().join(".resumed.c1z.partial").exists(), "the checkpoint is gone after success");
}

/// Two runs on one file (cron starting a sync while the last one still runs): the second
/// refuses at once naming the first's process, and leaves its checkpoint and output alone; with
/// `--lock-wait-seconds` it waits for the first and then syncs. A lock file left by a run that
/// was killed is no obstacle (the kernel dropped its lock).
#[test]
fn a_second_run_on_one_file_waits_or_refuses_naming_the_first() {
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), max_limit: 7, dataset: Dataset::generate(40), ..SimConfig::default() }).unwrap();
    sim.set_faults(FaultPlan { latency_ms: 20, ..FaultPlan::default() });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let env = [("BATON_HOSTNAME", sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut first = host_command(&["--file", file.to_str().unwrap()], &env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let lock = dir.path().join(".sync.c1z.lock");
    let started = Instant::now();
    while std::fs::read_to_string(&lock).map(|pid| pid.trim() != first.id().to_string()).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "the first run took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = run_host(&["--file", file.to_str().unwrap()], &env);
    assert!(!second.success, "{}", second.output());
    assert!(
        second.stderr.contains(&format!("another sync (process {}) is writing", first.id())) && second.stderr.contains("--lock-wait-seconds"),
        "{}",
        second.stderr
    );
    let third = run_host(&["--file", file.to_str().unwrap(), "--lock-wait-seconds", "120"], &env);
    assert!(first.wait().unwrap().success(), "the first run was not disturbed");
    assert!(third.success, "the waiting run synced once the first ended: {}", third.output());
    assert!(!content(&file).is_empty());

    std::fs::write(&lock, "4194303").unwrap();
    let after_a_kill = run_host(&["--file", file.to_str().unwrap()], &env);
    assert!(after_a_kill.success, "a lock file nobody holds is taken: {}", after_a_kill.output());
}

/// The server goes away mid-sync for longer than the retries last (every connection closed for
/// 20 s): the sync fails saying it cannot reach the server, keeps its checkpoint, and the next
/// run, once the server is back, resumes to the rows an uninterrupted sync writes.
#[test]
fn a_server_gone_for_longer_than_the_retries_fails_clearly_and_the_next_run_resumes() {
    let sim = simulator("9.2.0");
    let dir = tempfile::tempdir().unwrap();
    let (whole, resumed) = (dir.path().join("whole.c1z"), dir.path().join("resumed.c1z"));
    assert!(sync(&sim, &whole, &[]).success);

    let outage = Duration::from_secs(20);
    sim.set_faults(FaultPlan { outage: Some((40, outage.as_millis() as u64)), ..FaultPlan::default() });
    let gone = Instant::now();
    let run = sync(&sim, &resumed, &["--concurrency", "1"]);
    assert!(!run.success, "{}", run.output());
    let error = run.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", run.stderr)).to_string();
    assert!(error.contains(&sim.base_url()) || error.contains("connection"), "says what it could not reach: {error}");
    assert!(gone.elapsed() < outage, "the retries gave up before the server came back ({:?})", gone.elapsed());
    assert!(dir.path().join(".resumed.c1z.partial/checkpoint.json").is_file(), "the checkpoint is kept");
    assert!(!resumed.exists());

    std::thread::sleep(outage.saturating_sub(gone.elapsed()) + Duration::from_millis(500));
    sim.set_faults(FaultPlan::default());
    let run = sync(&sim, &resumed, &["--log-level", "info"]);
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains("resuming an interrupted sync"), "{}", run.stderr);
    assert!(content(&whole) == content(&resumed), "resumed content equals an uninterrupted sync");
}
