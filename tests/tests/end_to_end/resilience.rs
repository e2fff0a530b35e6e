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

/// `kill -9` at 24 points spread over a sync, chosen from the requests the simulator has
/// served (listing, entitlements and grants, the principals' lookups) and from the moments after
/// the last one (the finish: indexes, compression, the rename), each followed by a resumed run:
/// every resumed file holds the rows of an uninterrupted sync.
#[test]
fn a_sync_killed_at_any_point_resumes_to_the_same_content() {
    let sim = simulator("8.5.0");
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.c1z");
    let before = sim.request_count();
    assert!(sync(&sim, &whole, &["--concurrency", "1"]).success);
    let requests = sim.request_count() - before;
    assert!(requests > 40, "a sync of many requests ({requests})");
    let expected = content(&whole);

    sim.set_faults(FaultPlan { latency_ms: 4, ..FaultPlan::default() });
    let env = [("BATON_HOSTNAME", sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // 20 points by requests served, then four after the last request (the finish).
    let points: Vec<(u64, Duration)> =
        (0..20u64).map(|n| (1 + n * (requests - 1) / 20, Duration::ZERO)).chain([0, 5, 15, 40].map(|ms| (requests, Duration::from_millis(ms)))).collect();
    let mut killed = 0;
    for (n, (served, after)) in points.into_iter().enumerate() {
        let out = dir.path().join(format!("killed-{n}.c1z"));
        let args = ["--file", out.to_str().unwrap(), "--concurrency", "1"];
        let start = sim.request_count();
        let mut child = host_command(&args, &env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        while sim.request_count() - start < served && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "point {n}: the sync stalled");
            std::thread::sleep(Duration::from_micros(500));
        }
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_some() {
            continue; // it finished before this point: nothing to resume
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
        assert!(!out.exists() || content(&out) == expected, "point {n}: a killed sync leaves no file or a whole one");

        let run = sync(&sim, &out, &["--concurrency", "1"]);
        assert!(run.success, "point {n} ({served} requests served, then {after:?}): {}", run.output());
        assert!(content(&out) == expected, "point {n} ({served} requests served, then {after:?}): the resumed file holds the same rows");
        assert!(!dir.path().join(format!(".killed-{n}.c1z.partial")).exists(), "point {n}: the checkpoint is gone after success");
    }
    assert!(killed >= 20, "only {killed} of the points came before the sync ended");
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

/// A small file system mounted for one test (a tmpfs), unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// A tmpfs of `mib` MiB, or `None`, with a notice, where this process may not mount one.
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let options = format!("size={mib}m,mode=0700");
        match std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(dir.path()).output() {
            Ok(out) if out.status.success() => Some(SmallDisk(dir)),
            Ok(out) => {
                eprintln!("NOTICE: skipped: this process may not mount a small file system ({})", String::from_utf8_lossy(&out.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("NOTICE: skipped: `mount` cannot run here ({e})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fills the file system with a ballast file, then gives `free` bytes of it back.
    fn leave_free(&self, free: u64) {
        use std::io::Write;
        let ballast = self.path().join("ballast");
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let mut len = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => len += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the test's file system: {e}"),
            }
        }
        file.set_len(len.saturating_sub(free)).unwrap();
    }

    fn free_all(&self) {
        let _ = std::fs::remove_file(self.path().join("ballast"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The folder of the output fills up, at points from the middle of storing rows to the end of
/// compressing: every time the previous file stays byte for byte, the error names the folder
/// and about how much more the sync needs, and once space is freed the next run goes on from
/// where it stopped (a sync stopped while finishing is delivered without fetching again) and
/// writes what an uninterrupted sync writes.
#[test]
fn a_full_disk_keeps_the_previous_file_says_what_it_needs_and_the_next_run_goes_on() {
    let Some(disk) = SmallDisk::mount(48) else { return };
    let sim = simulator("9.2.0");
    let file = disk.path().join("sync.c1z");
    let first = sync(&sim, &file, &["--concurrency", "1"]);
    assert!(first.success, "{}", first.output());
    let whole = content(&file);
    let folder = format!("no space left in {:?} while ", disk.path());
    let mut stages = std::collections::BTreeSet::new();
    for step in 0..8u64 {
        let previous = std::fs::read(&file).unwrap();
        // Each sync keeps the last one beside it, so sizes are read from the file each time.
        let database = zstd::zstd_safe::get_frame_content_size(&previous[5..]).unwrap().unwrap();
        let compressed = previous.len() as u64;
        // From a quarter of the database (rows stop) to the database and more (the end stops).
        let free = database / 4 + step * (database + 2 * compressed) / 8;
        disk.leave_free(free);
        let run = sync(&sim, &file, &["--concurrency", "1"]);
        if run.success {
            disk.free_all();
            assert!(content(&file) == whole, "{free} bytes free: a sync that fit wrote the same rows");
            continue;
        }
        let error = run.stderr.lines().find(|l| l.contains("no space left")).unwrap_or_else(|| panic!("{free} bytes free: {}", run.stderr)).to_string();
        assert!(error.contains(&folder), "names the folder: {error}");
        let needed =
            error.split("needs about ").nth(1).and_then(|rest| rest.split(" more there").next()).unwrap_or_else(|| panic!("says what it needs: {error}"));
        assert!(needed.ends_with("KiB") || needed.ends_with("MiB"), "{error}");
        stages.insert(error.split(&folder).nth(1).unwrap().split(" (").next().unwrap().to_string());
        assert!(std::fs::read(&file).unwrap() == previous, "{free} bytes free: the previous file stays byte for byte");
        let checkpoint = disk.path().join(".sync.c1z.partial/checkpoint.json").is_file();

        disk.free_all();
        let run = sync(&sim, &file, &["--concurrency", "1", "--log-level", "info"]);
        assert!(run.success, "{free} bytes free, then space freed: {}", run.output());
        if checkpoint {
            assert!(run.stderr.contains("resuming an interrupted sync"), "{}", run.stderr);
        }
        assert!(content(&file) == whole, "{free} bytes free: the next run wrote the rows of an uninterrupted sync");
    }
    assert!(
        stages.contains("storing the sync's rows") && stages.contains("finishing the file"),
        "the folder filled both while rows were stored and while the file was finished: {stages:?}"
    );
}
