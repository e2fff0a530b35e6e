//! Service mode against a fake ConductorOne (tests/src/fake_c1): the real host binary gets a
//! token with its signed assertion, says Hello with its capabilities, runs the tasks it is
//! given (sync and upload, grant, revoke, create account, unsupported types), honours
//! cancellation by heartbeat, refreshes tokens, fails fast on a bad secret, and leaves nothing
//! behind when stopped with SIGTERM.

use crate::util::{host_command, run_host};
use baton_c1api::pb::baton_service_finish_task_request::FinalState;
use baton_c1api::pb::task::{self, TaskType};
use baton_c1api::pb::{BatonServiceFinishTaskRequest, Task};
use baton_c1z::{C1zReader, pb};
use confluence_sim::fake_c1::{FakeC1, FakeC1Config};
use confluence_sim::{ADMIN_TOKEN, Dataset, FaultPlan, SimConfig, Simulator};
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn simulator() -> Simulator {
    Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(16), ..SimConfig::default() }).unwrap()
}

/// A running host in service mode, its output going to files in its own temp dir.
pub(crate) struct Service {
    child: Child,
    dir: tempfile::TempDir,
}

impl Service {
    pub(crate) fn start(c1: &FakeC1, sim: &Simulator, secret: &str, extra_env: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let (client_id, address, base_url) = (c1.client_id(), c1.address(), sim.base_url());
        let mut env = vec![
            ("BATON_CLIENT_ID", client_id.as_str()),
            ("BATON_CLIENT_SECRET", secret),
            ("BATON_C1_API_HOST", address.as_str()),
            ("BATON_HOSTNAME", base_url.as_str()),
            ("BATON_ACCESS_TOKEN", ADMIN_TOKEN),
            ("BATON_LOG_LEVEL", "debug"),
        ];
        // A TLS fake is reached the production way; a plain-text one needs the test-only flag.
        if c1.ca_pem().is_none() {
            env.push(("BATON_C1_PLAINTEXT_LOOPBACK", "true"));
        }
        env.extend_from_slice(extra_env);
        let child = host_command(&[], &env)
            .env("TMPDIR", &tmp)
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Service { child, dir }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; true when it exited successfully in time.
    pub(crate) fn terminate(&mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn config(tasks: Vec<Task>) -> FakeC1Config {
    FakeC1Config { tasks, ..FakeC1Config::default() }
}

pub(crate) fn task(n: u64, task_type: TaskType) -> Task {
    Task { id: FakeC1::task_id(n), task_type: Some(task_type), ..Task::default() }
}

/// The FinishTask for task `n`, waiting for it.
pub(crate) fn finished(c1: &FakeC1, service: &Service, n: u64) -> BatonServiceFinishTaskRequest {
    let id = FakeC1::task_id(n);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(call) = c1.finished().into_iter().find(|f| f.request.task_id == id) {
            assert!(call.rejection.is_none(), "the fake refused our FinishTask: {:?}", call.rejection);
            return call.request;
        }
        assert!(Instant::now() < deadline, "no FinishTask for task {n}:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn success_response<M: Message + Default>(finish: &BatonServiceFinishTaskRequest, type_name: &str) -> M {
    let Some(FinalState::Success(success)) = &finish.final_state else { panic!("not a success: {finish:?}") };
    let any = success.response.as_ref().expect("a response");
    assert_eq!(any.type_url, format!("type.googleapis.com/c1.connector.v2.{type_name}"));
    M::decode(any.value.as_slice()).unwrap()
}

pub(crate) fn failure_message(finish: &BatonServiceFinishTaskRequest) -> (String, bool) {
    let Some(FinalState::Error(error)) = &finish.final_state else { panic!("not an error: {finish:?}") };
    (finish.status.as_ref().map(|s| s.message.clone()).unwrap_or_default(), error.non_retryable)
}

/// Resources and grants of a `.c1z`, by id.
pub(crate) fn ids(path: &Path) -> (Vec<String>, Vec<String>) {
    let reader = C1zReader::open(path).unwrap();
    let resources = reader.resources(None).unwrap().iter().filter_map(|r| r.id.as_ref().map(|i| format!("{}:{}", i.resource_type, i.resource))).collect();
    let grants = reader.grants().unwrap().into_iter().map(|g| g.id).collect();
    (resources, grants)
}

#[test]
fn hello_carries_capabilities_and_a_sync_task_uploads_what_the_simulator_holds() {
    let sim = simulator();
    // The first upload is refused (UNAVAILABLE): the second attempt must carry the file.
    let c1 = FakeC1::start(FakeC1Config { fail_uploads: 1, ..config(vec![FakeC1::sync_full_task(1)]) }).unwrap();
    let mut service = Service::start(&c1, &sim, &c1.client_secret(), &[]);

    let hello = &c1.wait_for_hellos(1, WAIT)[0].request;
    assert_eq!(hello.task_id, "");
    let capabilities = hello.connector_metadata.as_ref().unwrap().capabilities.as_ref().unwrap();
    let per_type: Vec<(String, Vec<i32>)> =
        capabilities.resource_type_capabilities.iter().map(|t| (t.resource_type.as_ref().unwrap().id.clone(), t.capabilities.clone())).collect();
    assert_eq!(
        per_type,
        [
            ("anonymous".into(), vec![2, 11]),
            ("group".into(), vec![2, 1, 11]),
            ("site".into(), vec![2, 1, 11]),
            ("space".into(), vec![2, 1, 11]),
            ("user".into(), vec![2, 5, 11])
        ]
    );
    assert_eq!(capabilities.connector_capabilities, [1, 2, 5, 11]);

    let finish = finished(&c1, &service, 1);
    assert!(matches!(finish.final_state, Some(FinalState::Success(_))), "{finish:?}\n{}", service.log());
    let uploads = c1.uploads();
    assert_eq!(uploads.iter().map(|u| u.accepted()).collect::<Vec<_>>(), [false, true], "one refused attempt, then the upload");
    let upload = &uploads[1];
    assert!(upload.accepted() && upload.sha256_matched == Some(true), "{:?}", upload.rejection);
    assert!(upload.chunk_sizes.iter().all(|&size| size <= 512 * 1024));
    assert!(!c1.heartbeats().is_empty(), "heartbeats during the sync");

    let dir = tempfile::tempdir().unwrap();
    let (uploaded, local) = (dir.path().join("uploaded.c1z"), dir.path().join("local.c1z"));
    std::fs::write(&uploaded, &upload.data).unwrap();
    let one_shot = run_host(&["--file", local.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(one_shot.success, "{}", one_shot.output());
    let (resources, grants) = ids(&uploaded);
    assert!(resources.len() > 16 && grants.len() > 16, "a real dataset: {} resources, {} grants", resources.len(), grants.len());
    assert_eq!((resources, grants), ids(&local), "the upload holds what a one-shot sync of the simulator holds");

    assert!(service.terminate(Duration::from_secs(20)), "a clean exit on SIGTERM:\n{}", service.log());
    assert_eq!(std::fs::read_dir(service.tmp()).unwrap().count(), 0, "no temporary files left");
    let log = service.log();
    assert!(!log.contains(&c1.client_secret()) && !log.contains(ADMIN_TOKEN), "no secret in the logs");
    for request in c1.token_requests() {
        if let confluence_sim::fake_c1::TokenOutcome::Issued { access_token } = request.outcome {
            assert!(!log.contains(&access_token), "no C1 access token in the logs");
        }
    }
    assert!(log.lines().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with('{')), "JSON logs in service mode:\n{log}");
}

#[test]
fn provisioning_tasks_change_the_simulator_and_are_answered_as_baton_does() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let run = run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(run.success, "{}", run.output());
    // What C1 would send: an entitlement and a user from the last sync, not yet related.
    let (entitlement, user) = crate::service_session::free_membership(&C1zReader::open(&file).unwrap());
    let group = entitlement.resource.as_ref().unwrap().id.as_ref().unwrap().resource.clone();
    let login = user.id.as_ref().unwrap().resource.clone();
    let grant_id = format!("{}:user:{login}", entitlement.id);
    let grant = pb::Grant { id: grant_id.clone(), entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() };
    let account = pb::AccountInfo {
        login: "svc.new-hire".into(),
        emails: vec![pb::account_info::Email { address: "new.hire@example.com".into(), is_primary: true }],
        ..Default::default()
    };
    let tasks = vec![
        task(1, TaskType::Grant(task::GrantTask { entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() })),
        task(2, TaskType::Grant(task::GrantTask { entitlement: Some(entitlement.clone()), principal: Some(user.clone()), ..Default::default() })),
        task(3, TaskType::Revoke(task::RevokeTask { grant: Some(grant), ..Default::default() })),
        task(4, TaskType::CreateAccount(task::CreateAccountTask { account_info: Some(account), ..Default::default() })),
        task(5, TaskType::CreateResource(task::UnsupportedTask {})),
    ];
    // One task at a time, so that the order of changes is the script's.
    let c1 = FakeC1::start(config(tasks)).unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_PROVISIONING", "true"), ("BATON_TASK_CONCURRENCY", "1")]);

    let granted: pb::GrantManagerServiceGrantResponse = success_response(&finished(&c1, &service, 1), "GrantManagerServiceGrantResponse");
    assert_eq!(granted.grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [grant_id.as_str()]);
    assert!(granted.annotations.is_empty());
    let again: pb::GrantManagerServiceGrantResponse = success_response(&finished(&c1, &service, 2), "GrantManagerServiceGrantResponse");
    assert_eq!(again.annotations.iter().map(|a| a.type_url.as_str()).collect::<Vec<_>>(), ["type.googleapis.com/c1.connector.v2.GrantAlreadyExists"]);

    let revoked: pb::GrantManagerServiceRevokeResponse = success_response(&finished(&c1, &service, 3), "GrantManagerServiceRevokeResponse");
    assert!(revoked.annotations.is_empty());
    assert!(!sim.group_members(&group).contains(&login), "{login} is no longer in {group}");

    let created: pb::CreateAccountResponse = success_response(&finished(&c1, &service, 4), "CreateAccountResponse");
    let Some(pb::create_account_response::Result::Success(success)) = created.result else { panic!("{created:?}") };
    assert_eq!(success.resource.unwrap().id.unwrap().resource, "svc.new-hire");
    assert!(sim.user("svc.new-hire").is_some(), "the account exists in Confluence");

    let (message, non_retryable) = failure_message(&finished(&c1, &service, 5));
    assert_eq!((message.as_str(), non_retryable), ("unsupported task type", false));
}

#[test]
fn the_grant_is_in_place_between_grant_and_revoke() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    assert!(run_host(&["--file", file.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]).success);
    let reader = C1zReader::open(&file).unwrap();
    let space_view = reader.entitlements().unwrap().into_iter().find(|e| e.slug == "view").unwrap();
    let space = space_view.resource.as_ref().unwrap().id.as_ref().unwrap().resource.clone();
    let held: std::collections::BTreeSet<String> = reader.grants().unwrap().into_iter().map(|g| g.id).collect();
    let user = reader
        .resources(Some("user"))
        .unwrap()
        .into_iter()
        .find(|u| !held.contains(&format!("{}:user:{}", space_view.id, u.id.as_ref().unwrap().resource)))
        .unwrap();
    let login = user.id.as_ref().unwrap().resource.clone();
    let c1 =
        FakeC1::start(config(vec![task(1, TaskType::Grant(task::GrantTask { entitlement: Some(space_view), principal: Some(user), ..Default::default() }))]))
            .unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_PROVISIONING", "true")]);
    let _: pb::GrantManagerServiceGrantResponse = success_response(&finished(&c1, &service, 1), "GrantManagerServiceGrantResponse");
    let permissions = sim.space_permissions(&space);
    assert!(permissions.iter().any(|p| p.key == "VIEWSPACE" && format!("{:?}", p.subject).contains(&login)), "{login} can view {space}: {permissions:?}");
}

#[test]
fn without_provisioning_tasks_are_refused_and_nothing_is_sent() {
    let sim = simulator();
    let entitlement = pb::Entitlement {
        id: "group:x:member".into(),
        resource: Some(pb::Resource {
            id: Some(pb::ResourceId { resource_type: "group".into(), resource: "x".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let principal =
        pb::Resource { id: Some(pb::ResourceId { resource_type: "user".into(), resource: "ada".into(), ..Default::default() }), ..Default::default() };
    let c1 = FakeC1::start(config(vec![task(
        1,
        TaskType::Grant(task::GrantTask { entitlement: Some(entitlement), principal: Some(principal), ..Default::default() }),
    )]))
    .unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[]);
    let (message, non_retryable) = failure_message(&finished(&c1, &service, 1));
    assert!(message.contains("--provisioning") && non_retryable, "{message}");
    assert!(sim.write_requests().is_empty(), "no write was sent");
}

#[test]
fn a_heartbeat_answered_cancelled_aborts_the_sync() {
    let sim = simulator();
    sim.set_faults(FaultPlan { latency_ms: 30, ..FaultPlan::default() });
    let mut cfg = config(vec![FakeC1::sync_full_task(1)]);
    cfg.cancel_on_heartbeat.insert(FakeC1::task_id(1));
    let c1 = FakeC1::start(cfg).unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[]);
    let (message, _) = failure_message(&finished(&c1, &service, 1));
    assert!(message.contains("cancelled"), "{message}");
    assert!(c1.uploads().is_empty(), "nothing uploaded");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_dir(service.tmp()).unwrap().count(), 0, "the sync's temporary files are gone");
}

#[test]
fn an_expired_token_is_refreshed() {
    let sim = simulator();
    let c1 = FakeC1::start(config(vec![])).unwrap();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[]);
    c1.wait_for_hellos(1, WAIT);
    c1.expire_tokens();
    c1.push_task(FakeC1::hello_task(7));
    let hellos = c1.wait_for_hellos(2, WAIT);
    assert_eq!(hellos.len(), 2, "{}", service.log());
    assert_eq!(hellos[1].request.task_id, FakeC1::task_id(7));
    let accepted: Vec<_> = c1.token_requests().into_iter().filter(|t| t.accepted()).collect();
    assert!(accepted.len() >= 2, "a second token after the first expired: {accepted:?}");
    assert_ne!(hellos[0].token, hellos[1].token, "the later Hello used the new token");
    assert!(c1.finished().is_empty(), "a hello task gets no FinishTask");
}

#[test]
fn a_bad_secret_fails_fast_with_a_clear_message() {
    let sim = simulator();
    let c1 = FakeC1::start(config(vec![])).unwrap();
    let wrong = c1.wrong_client_secret();
    let started = Instant::now();
    let mut service = Service::start(&c1, &sim, &wrong, &[]);
    let status = loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still running with a bad secret:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let log = service.log();
    assert!(log.contains("refused the client credentials") && log.contains("--client-secret"), "{log}");
    assert!(!log.contains(&wrong), "the secret is not repeated");
    assert!(c1.hellos().is_empty());

    let malformed = run_host(
        &[],
        &[("BATON_CLIENT_ID", "no-at-sign"), ("BATON_CLIENT_SECRET", "x"), ("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)],
    );
    assert!(!malformed.success && malformed.stderr.contains("--client-id has no '@'"), "{}", malformed.stderr);
}

#[test]
fn sigterm_mid_sync_exits_cleanly_and_leaves_no_temp_files() {
    let sim = simulator();
    // Slow enough that the sync outlasts the one-second grace period by far.
    sim.set_faults(FaultPlan { latency_ms: 300, ..FaultPlan::default() });
    let c1 = FakeC1::start(config(vec![FakeC1::sync_full_task(1)])).unwrap();
    let mut service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_SHUTDOWN_GRACE_SECONDS", "1")]);
    c1.wait_for_heartbeats(1, WAIT);
    let deadline = Instant::now() + WAIT;
    while std::fs::read_dir(service.tmp()).unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "the sync never started:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(service.terminate(Duration::from_secs(15)), "exit within the grace period:\n{}", service.log());
    assert!(c1.uploads().is_empty(), "stopped before uploading");
    assert_eq!(std::fs::read_dir(service.tmp()).unwrap().count(), 0, "no temporary files left");
    assert!(service.log().contains("grace period is over"), "{}", service.log());
}

#[test]
fn the_health_check_reports_live_and_ready() {
    let sim = simulator();
    let c1 = FakeC1::start(config(vec![])).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let _service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_HEALTH_CHECK", "true"), ("BATON_HEALTH_CHECK_PORT", &port)]);
    c1.wait_for_hellos(1, WAIT);
    let get = |path: &str| -> String {
        use std::io::{Read, Write};
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) {
                write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                return answer;
            }
            assert!(Instant::now() < deadline, "no health check on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(get("/healthz").starts_with("HTTP/1.1 200"));
    // Ready once the Hello's answer is back (the fake records the Hello a moment before).
    let deadline = Instant::now() + WAIT;
    while !get("/readyz").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(get("/nope").starts_with("HTTP/1.1 404"));
}

#[test]
fn over_tls_the_operators_ca_is_trusted_and_an_unknown_one_is_not() {
    let sim = simulator();
    let c1 = FakeC1::start(FakeC1Config { tls: true, ..config(vec![FakeC1::hello_task(3)]) }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("c1-ca.pem");
    std::fs::write(&ca, c1.ca_pem().unwrap()).unwrap();

    let trusted = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_C1_CA_FILE", ca.to_str().unwrap())]);
    let hellos = c1.wait_for_hellos(2, WAIT);
    assert_eq!(hellos.len(), 2, "Hello at start and for the hello task, over TLS:\n{}", trusted.log());
    assert!(c1.token_requests().iter().any(|t| t.accepted()), "the token came over TLS too");
    drop(trusted);

    // Without the CA the certificate is not trusted: a clear failure, nothing accepted.
    let before = c1.token_requests().len();
    let mut untrusted = Service::start(&c1, &sim, &c1.client_secret(), &[]);
    let started = Instant::now();
    while untrusted.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < WAIT, "still running against an untrusted certificate:\n{}", untrusted.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(untrusted.log().contains("the TLS handshake failed") && untrusted.log().contains("--c1-ca-file"), "{}", untrusted.log());
    assert_eq!(c1.token_requests().len(), before, "no token request got through");
}

#[test]
fn an_unreachable_c1_at_start_is_retried_not_fatal() {
    let sim = simulator();
    let c1 = FakeC1::start(config(vec![])).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("127.0.0.1:{port}");
    let mut service = Service::start(&c1, &sim, &c1.client_secret(), &[("BATON_C1_API_HOST", nowhere.as_str())]);
    let started = Instant::now();
    while !service.log().contains("ConductorOne is not reachable; trying again") {
        assert!(service.child.try_wait().unwrap().is_none(), "gave up instead of retrying:\n{}", service.log());
        assert!(started.elapsed() < WAIT, "no retry reported:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(service.terminate(Duration::from_secs(10)), "stops cleanly while waiting:\n{}", service.log());
}

/// The server goes away during a service-mode sync for longer than the retries last: the task
/// is finished with a retryable error that says what could not be reached, the service goes on
/// polling, and a later sync task, once the server is back, uploads what a one-shot sync writes.
#[test]
fn a_server_gone_during_a_sync_task_fails_it_retryably_and_a_later_task_succeeds() {
    let sim = simulator();
    let c1 = FakeC1::start(config(vec![FakeC1::sync_full_task(1)])).unwrap();
    let outage = Duration::from_secs(20);
    sim.set_faults(FaultPlan { outage: Some((10, outage.as_millis() as u64)), ..FaultPlan::default() });
    let gone = Instant::now();
    let service = Service::start(&c1, &sim, &c1.client_secret(), &[]);

    let finish = finished(&c1, &service, 1);
    let (message, non_retryable) = failure_message(&finish);
    assert!(!non_retryable, "C1 may try again: {message}");
    assert!(message.contains(&sim.base_url()) || message.contains("connection"), "says what it could not reach: {message}");
    assert!(gone.elapsed() < outage, "the retries gave up before the server came back ({:?})", gone.elapsed());
    assert!(c1.uploads().is_empty(), "nothing uploaded from a failed sync");

    std::thread::sleep(outage.saturating_sub(gone.elapsed()) + Duration::from_millis(500));
    sim.set_faults(FaultPlan::default());
    c1.push_task(FakeC1::sync_full_task(2));
    let finish = finished(&c1, &service, 2);
    assert!(matches!(finish.final_state, Some(FinalState::Success(_))), "{finish:?}\n{}", service.log());
    let upload = c1.uploads().pop().expect("the second sync uploaded its file");
    let dir = tempfile::tempdir().unwrap();
    let (uploaded, local) = (dir.path().join("uploaded.c1z"), dir.path().join("local.c1z"));
    std::fs::write(&uploaded, &upload.data).unwrap();
    let one_shot = run_host(&["--file", local.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(one_shot.success, "{}", one_shot.output());
    assert_eq!(ids(&uploaded), ids(&local), "the upload holds what a one-shot sync holds");
}
