//! Service mode as ConductorOne drives it over a whole session: a scripted run of every task
//! kind (each finished exactly once, with the right state), an idle connector that stays quiet,
//! a connection to C1 dropped mid-poll, a task C1 asked to debug, and a targeted sync.

use crate::service::{Service, config, failure_message, finished, simulator, success_response, task};
use crate::util::run_host;
use baton_c1api::pb::baton_service_finish_task_request::FinalState;
use baton_c1api::pb::task::{self, TaskType};
use baton_c1api::pb::{BatonServiceFinishTaskRequest, Task};
use baton_c1z::{C1zReader, pb};
use confluence_sim::cut_proxy::CutProxy;
use confluence_sim::fake_c1::{FakeC1, FakeC1Config};
use confluence_sim::{ADMIN_TOKEN, Simulator};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A one-shot sync of `sim` into `dir`, read back.
fn synced(sim: &Simulator, dir: &Path) -> C1zReader {
    let file = dir.join("sync.c1z");
    let run = run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(run.success, "{}", run.output());
    C1zReader::open(&file).unwrap()
}

/// A group membership the last sync does not hold: its entitlement and the user.
pub(crate) fn free_membership(reader: &C1zReader) -> (pb::Entitlement, pb::Resource) {
    let held: std::collections::BTreeSet<String> = reader.grants().unwrap().into_iter().map(|g| g.id).collect();
    let users = reader.resources(Some("user")).unwrap();
    reader
        .entitlements()
        .unwrap()
        .into_iter()
        .filter(|e| e.slug == "member")
        .find_map(|e| {
            let free = users.iter().find(|u| !held.contains(&format!("{}:user:{}", e.id, u.id.as_ref().unwrap().resource)))?.clone();
            Some((e, free))
        })
        .expect("a group membership to grant")
}

/// FinishTask calls by task id.
fn finishes_by_task(c1: &FakeC1) -> BTreeMap<String, Vec<BatonServiceFinishTaskRequest>> {
    let mut by_task: BTreeMap<String, Vec<BatonServiceFinishTaskRequest>> = BTreeMap::new();
    for call in c1.finished() {
        by_task.entry(call.request.task_id.clone()).or_default().push(call.request);
    }
    by_task
}

fn is_success(finish: &BatonServiceFinishTaskRequest) -> bool {
    matches!(finish.final_state, Some(FinalState::Success(_)))
}

/// The uploaded `.c1z` of an accepted upload, written to `dir` and opened.
fn uploaded(dir: &Path, name: &str, data: &[u8]) -> C1zReader {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    C1zReader::open(&path).unwrap()
}

#[test]
fn a_scripted_session_finishes_every_task_exactly_once() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let reader = synced(&sim, dir.path());
    let (entitlement, user) = free_membership(&reader);
    let grant_id = format!("{}:user:{}", entitlement.id, user.id.as_ref().unwrap().resource);
    let grant = pb::Grant { id: grant_id.clone(), entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() };
    let account = pb::AccountInfo {
        login: "svc.session".into(),
        emails: vec![pb::account_info::Email { address: "svc.session@example.com".into(), is_primary: true }],
        ..Default::default()
    };
    let resources_only = task::SyncFullTask { skip_entitlements_and_grants: true, ..Default::default() };
    let tasks: Vec<Task> = vec![
        FakeC1::sync_full_task(1),
        task(2, TaskType::Grant(task::GrantTask { entitlement: Some(entitlement), principal: Some(user), ..Default::default() })),
        FakeC1::sync_full_task(3),
        task(4, TaskType::Revoke(task::RevokeTask { grant: Some(grant), ..Default::default() })),
        task(5, TaskType::CreateAccount(task::CreateAccountTask { account_info: Some(account), ..Default::default() })),
        FakeC1::future_task(6),
        task(7, TaskType::EventFeed(task::UnsupportedTask {})),
        FakeC1::sync_full_task(8),
        FakeC1::hello_task(9),
        task(10, TaskType::SyncFull(resources_only)),
    ];
    let mut script = FakeC1Config { fail_uploads: 1, ..config(tasks) };
    script.cancel_on_heartbeat.insert(FakeC1::task_id(8));
    let c1 = FakeC1::start(script).unwrap();
    let grace = Duration::from_secs(5);
    let mut service = Service::start(
        &c1,
        &sim,
        &c1.client_secret(),
        &[("BATON_PROVISIONING", "true"), ("BATON_TASK_CONCURRENCY", "1"), ("BATON_SHUTDOWN_GRACE_SECONDS", "5")],
    );

    let last = finished(&c1, &service, 10);
    // A moment more, so that a late duplicate would show.
    std::thread::sleep(Duration::from_millis(500));
    let by_task = finishes_by_task(&c1);
    for n in [1, 2, 3, 4, 5, 6, 7, 8, 10] {
        let calls = by_task.get(&FakeC1::task_id(n)).map(Vec::len).unwrap_or(0);
        assert_eq!(calls, 1, "task {n} is finished exactly once:\n{}", service.log());
    }
    assert!(!by_task.contains_key(&FakeC1::task_id(9)), "a hello task gets a Hello, not a FinishTask");
    assert_eq!(c1.hellos().iter().filter(|h| h.request.task_id == FakeC1::task_id(9)).count(), 1);

    let finish = |n: u64| by_task[&FakeC1::task_id(n)][0].clone();
    for n in [1, 3, 10] {
        assert!(is_success(&finish(n)), "sync {n} succeeded: {:?}", finish(n));
    }
    let granted: pb::GrantManagerServiceGrantResponse = success_response(&finish(2), "GrantManagerServiceGrantResponse");
    assert_eq!(granted.grants[0].id, grant_id);
    let _: pb::GrantManagerServiceRevokeResponse = success_response(&finish(4), "GrantManagerServiceRevokeResponse");
    let _: pb::CreateAccountResponse = success_response(&finish(5), "CreateAccountResponse");
    assert!(sim.user("svc.session").is_some());
    for n in [6, 7] {
        assert_eq!(failure_message(&finish(n)), ("unsupported task type".to_string(), false), "task {n}");
    }
    let (cancelled, _) = failure_message(&finish(8));
    assert!(cancelled.contains("cancelled"), "{cancelled}");

    // Uploads: sync 1 twice (the first refused), syncs 3 and 10 once, the cancelled one never.
    let uploads = c1.uploads();
    let accepted: Vec<_> = uploads.iter().filter(|u| u.accepted()).collect();
    assert_eq!((uploads.len(), accepted.len()), (4, 3), "{:?}", uploads.iter().map(|u| &u.rejection).collect::<Vec<_>>());
    let resources_only = uploaded(dir.path(), "resources-only.c1z", &accepted[2].data);
    assert_eq!(resources_only.sync_runs().unwrap()[0].sync_type, "resources_only");
    assert!(resources_only.grants().unwrap().is_empty() && !resources_only.resources(None).unwrap().is_empty());
    assert!(is_success(&last));

    let started = Instant::now();
    assert!(service.terminate(grace + Duration::from_secs(5)), "exits on SIGTERM:\n{}", service.log());
    assert!(started.elapsed() < grace + Duration::from_secs(5));
}

#[test]
fn an_idle_connector_writes_no_info_line_while_it_polls() {
    let sim = simulator();
    let c1 = FakeC1::start(FakeC1Config::default()).unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_LOG_LEVEL", "info")]);
    c1.wait_for_hellos(1, Duration::from_secs(60));
    // Readiness, then ten seconds of polls every 100 ms (a hundred empty answers).
    let deadline = Instant::now() + Duration::from_secs(60);
    while c1.polls().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = service.log().lines().count();
    let polls_before = c1.polls().len();
    std::thread::sleep(Duration::from_secs(10));
    let polls = c1.polls().len() - polls_before;
    assert!(polls >= 40, "it kept polling: {polls} polls");
    let log = service.log();
    let idle: Vec<&str> = log.lines().skip(before).collect();
    assert!(idle.is_empty(), "{polls} empty polls wrote {} lines:\n{}", idle.len(), idle.join("\n"));
}

#[test]
fn a_connection_dropped_mid_poll_is_reconnected_and_the_task_finished_once() {
    let sim = simulator();
    let c1 = FakeC1::start(FakeC1Config { poll_delay: Duration::from_millis(400), ..FakeC1Config::default() }).unwrap();
    let proxy = CutProxy::start(c1.address().parse().unwrap()).unwrap();
    let proxy_address = proxy.address();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_C1_API_HOST", proxy_address.as_str())]);
    c1.wait_for_hellos(1, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    while c1.polls().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A poll is waiting in the fake (400 ms) when the path to C1 fails for two seconds.
    std::thread::sleep(Duration::from_millis(150));
    assert!(proxy.open_connections() > 0, "the host is connected through the proxy");
    let polls_at_cut = c1.polls().len();
    proxy.cut(Duration::from_secs(2));
    c1.push_task(task(1, TaskType::CreateResource(task::UnsupportedTask {})));

    let finish = finished(&c1, &service, 1);
    assert_eq!(failure_message(&finish).0, "unsupported task type");
    std::thread::sleep(Duration::from_secs(1));
    let finishes = c1.finished().into_iter().filter(|f| f.request.task_id == FakeC1::task_id(1)).count();
    assert_eq!(finishes, 1, "finished exactly once:\n{}", service.log());
    assert!(c1.polls().len() > polls_at_cut, "polling went on after the cut");
    let log = service.log();
    assert!(log.contains("GetTask failed") && log.contains("retry_in_s"), "the failure and the backoff are logged:\n{log}");
}

#[test]
fn a_debug_task_uploads_its_log_after_the_sync_without_secrets() {
    let sim = simulator();
    let debug_sync = Task { debug: true, ..FakeC1::sync_full_task(1) };
    let c1 = FakeC1::start(config(vec![debug_sync, FakeC1::sync_full_task(2)])).unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_LOG_LEVEL", "info"), ("BATON_TASK_CONCURRENCY", "1")]);
    assert!(is_success(&finished(&c1, &service, 1)), "{}", service.log());
    assert!(is_success(&finished(&c1, &service, 2)));
    let uploads = c1.uploads();
    assert_eq!(uploads.len(), 3, "the debug task uploads its sync and its log; the other only its sync");
    assert!(uploads.iter().all(|u| u.accepted()));
    let log = String::from_utf8(uploads[1].data.clone()).expect("the debug log is text");
    assert!(log.contains("INFO") && log.contains("listed resources"), "{log}");
    assert!(log.contains("DEBUG"), "debug lines although --log-level is info:\n{log}");
    assert!(!log.contains(ADMIN_TOKEN) && !log.contains(&c1.client_secret()), "no secret in the debug log");
    assert!(!service.log().contains("DEBUG") && !service.log().contains("\"level\":\"DEBUG\""), "the console stays at info");
    let dir = tempfile::tempdir().unwrap();
    for (n, index) in [(1, 0), (2, 2)] {
        let reader = uploaded(dir.path(), &format!("sync{n}.c1z"), &uploads[index].data);
        assert!(!reader.resources(None).unwrap().is_empty(), "upload {index} is a sync");
    }
}

#[test]
fn a_targeted_sync_task_syncs_only_its_resources_and_their_principals() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let reader = synced(&sim, dir.path());
    let group = reader
        .resources(Some("group"))
        .unwrap()
        .into_iter()
        .find(|g| reader.grants().unwrap().iter().any(|gr| gr.entitlement.as_ref().unwrap().resource.as_ref().unwrap().id == g.id))
        .expect("a group with members");
    let group_id = group.id.clone().unwrap();
    let members: std::collections::BTreeSet<String> = sim.group_members(&group_id.resource).into_iter().collect();
    let targeted =
        task::SyncFullTask { targeted_sync_resources: vec![pb::Resource { id: Some(group_id.clone()), ..Default::default() }], ..Default::default() };
    let c1 = FakeC1::start(config(vec![task(1, TaskType::SyncFull(targeted))])).unwrap();
    let requests_before = sim.requests().len();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[]);
    assert!(is_success(&finished(&c1, &service, 1)), "{}", service.log());
    let upload = c1.uploads().into_iter().find(|u| u.accepted()).expect("an upload");
    let file = uploaded(dir.path(), "targeted.c1z", &upload.data);
    assert_eq!(file.sync_runs().unwrap()[0].sync_type, "partial");
    let groups: Vec<String> = file.resources(Some("group")).unwrap().iter().map(|r| r.id.as_ref().unwrap().resource.clone()).collect();
    assert_eq!(groups, vec![group_id.resource.clone()], "only the targeted group");
    let users: std::collections::BTreeSet<String> = file.resources(Some("user")).unwrap().iter().map(|r| r.id.as_ref().unwrap().resource.clone()).collect();
    assert_eq!(users, members, "exactly the members its grants name, looked up one by one");
    assert!(file.resources(Some("space")).unwrap().is_empty());
    let grants = file.grants().unwrap();
    assert_eq!(grants.len(), members.len());
    let listed: Vec<String> = sim.requests()[requests_before..]
        .iter()
        .map(|r| r.path_and_query.clone())
        .filter(|p| p.starts_with("/rest/api/space") || p.contains("/user/list") || p.starts_with("/rest/api/group?"))
        .collect();
    assert!(listed.is_empty(), "nothing else was listed: {listed:?}");
}
