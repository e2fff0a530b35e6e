//! Slow leaks: service mode through many tasks in a row (syncs, grants, revokes, task types it
//! does not know) and the runner through many scheduled syncs of twenty tenants, with the
//! process's resident memory and open files sampled as they go; the last tenth of the run may
//! hold at most 5% more than the run held after its first tenth (see [`check_flat`]). The default run is short (200 tasks, 100 syncs);
//! `make bench` runs the long one (`SOAK_TASKS`, `SOAK_SYNCS`) and prints the samples.

use crate::runner::{child_alive, drain, fetch, scheduled_tenants, start_serve};
use crate::service::{Service, simulator, task};
use crate::util::run_host;
use baton_c1api::pb::Task;
use baton_c1api::pb::baton_service_finish_task_request::FinalState;
use baton_c1api::pb::task::{self, TaskType};
use baton_c1z::{C1zReader, pb};
use confluence_sim::ADMIN_TOKEN;
use confluence_sim::fake_c1::{FakeC1, FakeC1Config};
use std::time::{Duration, Instant};

/// What may grow between the second tenth of a run and its last.
const GROWTH_ALLOWED: f64 = 1.05;

/// One reading of a process: resident memory and open file descriptors.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: u64,
}

/// The process's resident memory (`VmRSS`) and open descriptors now, while it lives.
fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample { rss_kib, fds })
}

/// How many of a soak's units to run: `variable` when set (the benchmark's long run), else
/// `default`.
fn count(variable: &str, default: u64) -> u64 {
    std::env::var(variable).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Prints each tenth of `samples` (a line the benchmark reads) and checks that the last tenth
/// holds at most [`GROWTH_ALLOWED`] times what the run already held after its first tenth (the
/// second to the ninth): a leak makes the end of a run hold more than anything before it.
/// Memory is compared by each tenth's least sample, open files by their average. The least,
/// and against the whole warm run rather than the second tenth alone, because what the
/// allocator holds between two rounds of the runner's syncs moves by several MiB either way
/// with how their allocations interleaved (measured with the release binary over 500 syncs:
/// 42 to 54 MiB by tenth, with no trend), while a leak raises every sample.
fn check_flat(what: &str, samples: &[Sample]) {
    let tenth = samples.len() / 10;
    assert!(tenth >= 2, "{what}: too few samples ({})", samples.len());
    let tenths: Vec<&[Sample]> = (0..10).map(|i| &samples[i * tenth..if i == 9 { samples.len() } else { (i + 1) * tenth }]).collect();
    let average = |part: &[Sample], of: fn(&Sample) -> u64| part.iter().map(of).sum::<u64>() as f64 / part.len() as f64;
    let least = |part: &[Sample]| part.iter().map(|s| s.rss_kib).min().unwrap_or(0) as f64;
    let files = |part: &[Sample]| average(part, |s| s.fds);
    let show = |of: &dyn Fn(&[Sample]) -> f64| tenths.iter().map(|t| format!("{:.1}", of(t))).collect::<Vec<_>>().join(" ");
    println!(
        "SOAK {what} | {} samples | rss MiB by tenth, average: {} | least: {} | open files by tenth: {}",
        samples.len(),
        show(&|t| average(t, |s| s.rss_kib) / 1024.0),
        show(&|t| least(t) / 1024.0),
        show(&files)
    );
    let most_before = |of: &dyn Fn(&[Sample]) -> f64| tenths[1..9].iter().map(|t| of(t)).fold(0.0, f64::max);
    let (before, after) = (most_before(&least), least(tenths[9]));
    assert!(after <= before * GROWTH_ALLOWED, "{what}: resident memory grew to {after:.0} KiB (least of the last tenth) from at most {before:.0} KiB before");
    // A connection pool that opens another connection late is one descriptor, not a leak.
    let (before, after) = (most_before(&files), files(tenths[9]));
    assert!(after <= (before * GROWTH_ALLOWED).max(before + 1.0), "{what}: open files grew to {after:.1} (last tenth) from at most {before:.1} before");
}

/// Service mode through `SOAK_TASKS` tasks (200 by default) in a row: a sync, a grant, the
/// revoke of that grant and a task type this build does not know, over and over; each answered
/// as it should be, and memory and open files flat.
#[test]
fn service_mode_runs_hundreds_of_tasks_without_growing() {
    let tasks = count("SOAK_TASKS", 200);
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    assert!(run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]).success);
    let (entitlement, user) = crate::service_session::free_membership(&C1zReader::open(&file).unwrap());
    let grant_id = format!("{}:user:{}", entitlement.id, user.id.as_ref().unwrap().resource);
    let grant = pb::Grant { id: grant_id, entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() };
    let script: Vec<Task> = (1..=tasks)
        .map(|n| match n % 4 {
            1 => FakeC1::sync_full_task(n),
            2 => task(n, TaskType::Grant(task::GrantTask { entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() })),
            3 => task(n, TaskType::Revoke(task::RevokeTask { grant: Some(grant.clone()), ..Default::default() })),
            _ => FakeC1::future_task(n),
        })
        .collect();
    let c1 = FakeC1::start(FakeC1Config { tasks: script, next_poll: Duration::from_millis(10), ..FakeC1Config::default() }).unwrap();
    // Two requests at a time: the connection pool to the simulator holds as many connections as
    // requests ever ran at once, so with the default (8) it fills up over many syncs; two are
    // reached within the first tenth, and what is left to see is a leak.
    let env = [("BATON_PROVISIONING", "true"), ("BATON_TASK_CONCURRENCY", "1"), ("BATON_LOG_LEVEL", "info"), ("BATON_CONCURRENCY", "2")];
    let service = Service::start(&c1, &sim, &c1.client_secret(), &env);

    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60 + tasks / 2);
    for n in 1..=tasks as usize {
        let finished = c1.wait_for_finished(n, deadline.saturating_duration_since(Instant::now()));
        assert!(finished.len() >= n, "task {n} of {tasks} finished in time:\n{}", service.log());
        samples.push(sample(service.pid()).unwrap_or_else(|| panic!("the service is gone after task {n}:\n{}", service.log())));
    }
    let finished = c1.finished();
    for call in &finished {
        let n: u64 = call.request.task_id.trim_start_matches("task").parse().unwrap();
        let succeeded = matches!(call.request.final_state, Some(FinalState::Success(_)));
        assert_eq!(succeeded, !n.is_multiple_of(4), "task {n}: {:?}", call.request.final_state);
    }
    assert_eq!(c1.uploads().iter().filter(|u| u.accepted()).count() as u64, tasks.div_ceil(4), "one upload per sync");
    check_flat(&format!("service mode, {tasks} tasks"), &samples);
}

/// The runner through `SOAK_SYNCS` scheduled syncs (160 by default) of twenty tenants, every
/// tenant synced again every four seconds; memory and open files sampled every 50 ms while no
/// sync runs, between the rounds (at least 50 samples: a loaded machine has shorter pauses).
#[test]
fn the_runner_runs_many_scheduled_syncs_without_growing() {
    let syncs = count("SOAK_SYNCS", 160);
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..20).map(|n| format!("t{n:02}")).collect();
    let file = scheduled_tenants(&names, &sim, "4s");
    let (mut child, listen) = start_serve(dir.path(), &file, &[("TOKEN", ADMIN_TOKEN)], &[]);
    let (_out, _err) = (drain(child.stdout.take().unwrap()), drain(child.stderr.take().unwrap()));

    let mut samples = Vec::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60 + syncs);
    while seen < syncs || samples.len() < 50 {
        assert!(Instant::now() < deadline, "{seen} of {syncs} syncs in time");
        assert!(child_alive(&mut child), "the runner stopped after {seen} syncs");
        let Some(metrics) = fetch(&listen, "/metrics") else { continue };
        assert_eq!(failed_syncs(&metrics), 0, "no sync failed");
        seen = finished_syncs(&metrics);
        // Between rounds, when no sync runs: what the process keeps (a leak shows there; what a
        // running sync holds comes and goes with how far each sync has got).
        if seen > 0 && metrics.lines().any(|l| l == "baton_runner_syncs_running 0") {
            samples.extend(sample(child.id()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    check_flat(&format!("runner, {syncs} syncs of 20 tenants"), &samples);
}

/// Syncs finished so far, by the runner's `/metrics`.
fn finished_syncs(metrics: &str) -> u64 {
    metrics.lines().filter(|l| l.starts_with("baton_runner_syncs_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>() as u64
}

fn failed_syncs(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("baton_runner_syncs_total{") && l.contains("result=\"failure\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
