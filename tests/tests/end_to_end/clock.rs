//! The wall clock jumps under a running host (set back an hour, then forward a day, as NTP or a
//! resumed virtual machine does): schedules, token lifetimes and waits run on the monotonic
//! clock, so in `serve` nothing syncs twice in a row or stops syncing, and in service mode
//! tasks go on being taken and no new token is asked for (one asked for with a clock a day off
//! would be refused). The jumps are made with libfaketime preloaded into the host alone, its
//! monotonic clock left true; the simulator and the fake ConductorOne keep the real time.
//! Skipped, with a notice, where libfaketime is not installed.

use crate::runner::{child_alive, drain, fetch, scheduled_tenants, start_serve};
use crate::service::{Service, simulator};
use baton_c1api::pb::baton_service_finish_task_request::FinalState;
use confluence_sim::ADMIN_TOKEN;
use confluence_sim::fake_c1::{FakeC1, FakeC1Config};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The wall clock of the processes started with [`Clock::env`], moved by writing its offset.
struct Clock {
    _dir: tempfile::TempDir,
    offset_file: PathBuf,
}

impl Clock {
    /// A clock at the real time, or `None` (with a notice) without libfaketime.
    fn new() -> Option<Clock> {
        if !Path::new(LIBFAKETIME).is_file() {
            eprintln!("NOTICE: skipped: {LIBFAKETIME} is not installed (Debian's libfaketime; scripts/install-deps.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let offset_file = dir.path().join("offset");
        std::fs::write(&offset_file, "+0\n").unwrap();
        Some(Clock { _dir: dir, offset_file })
    }

    /// The variables that give a process this clock (its offset read again at every reading).
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", LIBFAKETIME.to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.offset_file.display().to_string()),
            ("FAKETIME_NO_CACHE", "1".to_string()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }

    /// Moves the wall clock to the real time plus `offset` (`-1h`, `+1d`).
    fn set(&self, offset: &str) {
        std::fs::write(&self.offset_file, format!("{offset}\n")).unwrap();
    }
}

/// Successful syncs so far, by tenant, from the runner's `/metrics`.
fn successes(metrics: &str) -> BTreeMap<String, u64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("baton_runner_syncs_total{") && l.contains("result=\"success\""))
        .filter_map(|l| {
            let tenant = l.split("tenant=\"").nth(1)?.split('"').next()?.to_string();
            Some((tenant, l.rsplit(' ').next()?.parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// `serve` with three tenants synced every two seconds while the wall clock is set back an hour
/// and then forward a day: each tenant goes on syncing at its interval, never twice in a row.
#[test]
fn a_wall_clock_jump_neither_repeats_nor_stops_the_runners_schedule() {
    let Some(clock) = Clock::new() else { return };
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let names = ["acme", "globex", "initech"];
    let file = scheduled_tenants(&names.map(String::from), &sim, "2s");
    let env: Vec<(&str, String)> = [("TOKEN", ADMIN_TOKEN.to_string())].into_iter().chain(clock.env()).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, listen) = start_serve(dir.path(), &file, &env, &[]);
    let (_out, err) = (drain(child.stdout.take().unwrap()), drain(child.stderr.take().unwrap()));

    // When the test saw each tenant's count go up, by the real clock; the counts at each jump.
    let started = Instant::now();
    let mut seen: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut at_jumps = Vec::new();
    for (jump_at, offset) in [(Duration::from_secs(4), Some("-1h")), (Duration::from_secs(8), Some("+1d")), (Duration::from_secs(12), None)] {
        while started.elapsed() < jump_at {
            assert!(child_alive(&mut child), "the runner stopped");
            if let Some(now) = fetch(&listen, "/metrics").map(|m| successes(&m)) {
                for (tenant, count) in &now {
                    if counts.get(tenant).is_none_or(|before| before < count) {
                        seen.entry(tenant.clone()).or_default().push(started.elapsed());
                    }
                }
                counts = now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        at_jumps.push(counts.clone());
        if let Some(offset) = offset {
            clock.set(offset);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = err.join().unwrap();
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).date().to_string();
    assert!(log.contains(&format!("\"timestamp\":\"{tomorrow}T")), "the runner's wall clock did move a day forward:\n{log}");

    for name in names {
        let [before_back, before_forward, at_end] = [&at_jumps[0], &at_jumps[1], &at_jumps[2]].map(|c| c.get(name).copied().unwrap_or(0));
        assert!(before_back >= 1, "{name} synced before the clock moved:\n{log}");
        assert!(before_forward > before_back && at_end > before_forward, "{name} went on syncing after each jump ({before_back}, {before_forward}, {at_end})");
        assert!((4..=8).contains(&at_end), "{name}: about one sync every 2 s over 12 s, not {at_end}");
        let times = &seen[name];
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(1200), "{name} synced twice in a row: at {:?} and {:?}", pair[0], pair[1]);
        }
    }
}

/// Service mode while the wall clock is set back an hour and then forward a day: a sync task
/// given after each jump is taken at once and succeeds, on the one token asked for at the start.
#[test]
fn a_wall_clock_jump_neither_stalls_service_mode_nor_renews_its_token() {
    let Some(clock) = Clock::new() else { return };
    let sim = simulator();
    let c1 = FakeC1::start(FakeC1Config { tasks: vec![FakeC1::sync_full_task(1)], ..FakeC1Config::default() }).unwrap();
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &env);
    let succeeded = |n: u64| {
        let finish = crate::service::finished(&c1, &service, n);
        assert!(matches!(finish.final_state, Some(FinalState::Success(_))), "task {n}: {finish:?}\n{}", service.log());
    };
    succeeded(1);
    for (n, offset) in [(2, "-1h"), (3, "+1d")] {
        clock.set(offset);
        std::thread::sleep(Duration::from_millis(300));
        let given = Instant::now();
        c1.push_task(FakeC1::sync_full_task(n));
        succeeded(n);
        assert!(given.elapsed() < Duration::from_secs(15), "task {n} taken at once after the clock moved {offset} ({:?})", given.elapsed());
    }
    assert_eq!(c1.token_requests().len(), 1, "one token for the whole run: its lifetime is counted on the monotonic clock");
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).date().to_string();
    assert!(service.log().contains(&format!("\"timestamp\":\"{tomorrow}T")), "the host's wall clock did move a day forward:\n{}", service.log());
}
