//! A fake ConductorOne for tests of service mode (docs/c1z-and-c1.md §4–§5): one plain-text
//! port that serves the token exchange (`POST /auth/v1/token`) and the `BatonService` gRPC
//! API, with test credentials, scripted tasks, and a record of every call.
//!
//! Modules: `config` (what a test scripts), `credentials` (key pair, client id and secret),
//! `assertion` (client-assertion checks), `token` (the token route), `checks` (request
//! rules), `upload` (the UploadAsset stream), `service` (the gRPC service), `state` (shared
//! state), `records` (what is remembered), `server` (one listener, background thread),
//! `future` (task types this build does not know, put on the wire).

mod assertion;
mod checks;
mod config;
mod credentials;
mod future;
mod records;
mod server;
mod service;
mod state;
mod tls;
mod token;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_c1api::pb::{BatonServiceFinishTaskRequest, BatonServiceGetTaskRequest, BatonServiceHeartbeatRequest, BatonServiceHelloRequest, Task, task};
use tokio::sync::oneshot;

pub use assertion::{SKEW_SECONDS, VALIDITY_SECONDS};
pub use checks::TASK_ID_LENGTH;
pub use config::FakeC1Config;
pub use credentials::{CLIENT_NAME, SECRET_PREFIX, client_secret_for, signing_key_from_secret};
pub use future::{FUTURE_FIELD, rewrite_frame};
pub use records::{RpcCall, TokenOutcome, TokenRequestRecord, UnauthenticatedCall, UploadRecord};
pub use token::TOKEN_PATH;
pub use upload::MAX_CHUNK_BYTES;

use credentials::Credentials;
use state::{FakeState, Logs};

/// How often the `wait_for_*` methods look again.
const WAIT_STEP: Duration = Duration::from_millis(20);

/// A running fake ConductorOne on 127.0.0.1. It stops when dropped.
pub struct FakeC1 {
    address: SocketAddr,
    /// The certificate served, when TLS is on.
    ca_pem: Option<String>,
    state: Arc<FakeState>,
    _running: crate::running::Running,
}

impl std::fmt::Debug for FakeC1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeC1").field("address", &self.address).finish_non_exhaustive()
    }
}

impl FakeC1 {
    /// Serves on an ephemeral port from its own thread and runtime.
    pub fn start(config: FakeC1Config) -> anyhow::Result<FakeC1> {
        if let Some(bad) = config.tasks.iter().find(|task| !checks::is_task_id(&task.id)) {
            anyhow::bail!("scripted task id {:?} is not {TASK_ID_LENGTH} letters or digits", bad.id);
        }
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let address = listener.local_addr()?;
        let seed = config.key_seed.unwrap_or_else(credentials::random_seed);
        let credentials = Credentials::new(seed, &address.to_string());
        let tls = if config.tls { Some(tls::self_signed()?) } else { None };
        let state = Arc::new(FakeState::new(config, credentials));
        let (shutdown, stopped) = oneshot::channel();
        let ca_pem = tls.as_ref().map(|t| t.certificate_pem.clone());
        let thread = server::serve_in_background(listener, Arc::clone(&state), tls.map(|t| t.acceptor), stopped)?;
        Ok(FakeC1 { address, ca_pem, state, _running: crate::running::Running::new(shutdown, Some(thread)) })
    }

    /// The PEM of the self-signed certificate served with `tls: true` (for `--c1-ca-file`).
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// `"127.0.0.1:PORT"`: the value for `BATON_C1_API_HOST`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// `"http://127.0.0.1:PORT"`: where a plain-text gRPC client connects.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `"http://127.0.0.1:PORT/auth/v1/token"`.
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.address)
    }

    /// `"test-client@127.0.0.1:PORT/pcc"`.
    pub fn client_id(&self) -> String {
        self.state.credentials.client_id().to_string()
    }

    /// The `aud` the token endpoint expects: `"127.0.0.1"` (the token host without its port).
    pub fn audience(&self) -> String {
        self.state.credentials.audience().to_string()
    }

    /// `secret-token:conductorone.com:v1:<base64url JWK>` of our key.
    pub fn client_secret(&self) -> String {
        self.state.credentials.client_secret()
    }

    /// A well-formed client secret of another key: its assertions fail the signature check.
    pub fn wrong_client_secret(&self) -> String {
        self.state.credentials.wrong_client_secret()
    }

    /// A valid task id (27 letters or digits), distinct for each `n`: `task000…0n`.
    pub fn task_id(n: u64) -> String {
        format!("task{n:023}")
    }

    /// A `hello` task with id [`FakeC1::task_id`]`(n)`.
    pub fn hello_task(n: u64) -> Task {
        scripted_task(n, task::TaskType::Hello(task::HelloTask::default()))
    }

    /// A `sync_full` task with id [`FakeC1::task_id`]`(n)` and every option at its default.
    pub fn sync_full_task(n: u64) -> Task {
        scripted_task(n, task::TaskType::SyncFull(task::SyncFullTask::default()))
    }

    /// A task of a type this build does not know (see `future.rs`): on the wire it carries the
    /// unknown case [`FUTURE_FIELD`]; decoded, it is an id without a `task_type`.
    pub fn future_task(n: u64) -> Task {
        Task { id: FakeC1::task_id(n), status: task::Status::Pending as i32, debug: false, task_type: None }
    }

    /// Appends a task to the script (after the ones not yet handed out).
    pub fn push_task(&self, task: Task) {
        self.state.push_task(task);
    }

    /// From now on, heartbeats for `task_id` are answered `cancelled = true`.
    pub fn cancel_task(&self, task_id: &str) {
        self.state.cancel_task(task_id);
    }

    /// Makes every token issued so far expired, so the next RPC with one is `UNAUTHENTICATED`.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// Every token request, accepted or not, in arrival order.
    pub fn token_requests(&self) -> Vec<TokenRequestRecord> {
        self.state.with_logs(|logs| logs.token_requests.clone())
    }

    /// Every RPC refused for want of a live token.
    pub fn unauthenticated(&self) -> Vec<UnauthenticatedCall> {
        self.state.with_logs(|logs| logs.unauthenticated.clone())
    }

    pub fn hellos(&self) -> Vec<RpcCall<BatonServiceHelloRequest>> {
        self.state.with_logs(|logs| logs.hellos.clone())
    }

    /// Every GetTask call.
    pub fn polls(&self) -> Vec<RpcCall<BatonServiceGetTaskRequest>> {
        self.state.with_logs(|logs| logs.polls.clone())
    }

    pub fn heartbeats(&self) -> Vec<RpcCall<BatonServiceHeartbeatRequest>> {
        self.state.with_logs(|logs| logs.heartbeats.clone())
    }

    pub fn finished(&self) -> Vec<RpcCall<BatonServiceFinishTaskRequest>> {
        self.state.with_logs(|logs| logs.finished.clone())
    }

    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.state.with_logs(|logs| logs.uploads.clone())
    }

    /// Waits (blocking, polling) until at least `count` FinishTask calls arrived or `timeout`
    /// passed; returns the FinishTask calls so far either way.
    pub fn wait_for_finished(&self, count: usize, timeout: Duration) -> Vec<RpcCall<BatonServiceFinishTaskRequest>> {
        self.wait_for(timeout, |logs| logs.finished.len() >= count);
        self.finished()
    }

    /// Like [`FakeC1::wait_for_finished`], for Hello calls.
    pub fn wait_for_hellos(&self, count: usize, timeout: Duration) -> Vec<RpcCall<BatonServiceHelloRequest>> {
        self.wait_for(timeout, |logs| logs.hellos.len() >= count);
        self.hellos()
    }

    /// Like [`FakeC1::wait_for_finished`], for Heartbeat calls.
    pub fn wait_for_heartbeats(&self, count: usize, timeout: Duration) -> Vec<RpcCall<BatonServiceHeartbeatRequest>> {
        self.wait_for(timeout, |logs| logs.heartbeats.len() >= count);
        self.heartbeats()
    }

    /// Like [`FakeC1::wait_for_finished`], for UploadAsset streams.
    pub fn wait_for_uploads(&self, count: usize, timeout: Duration) -> Vec<UploadRecord> {
        self.wait_for(timeout, |logs| logs.uploads.len() >= count);
        self.uploads()
    }

    /// Polls the records until `done` holds or `timeout` passed; says whether it held.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&Logs) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.with_logs(|logs| done(logs)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(WAIT_STEP);
        }
    }
}

fn scripted_task(n: u64, task_type: task::TaskType) -> Task {
    Task { id: FakeC1::task_id(n), status: task::Status::Pending as i32, debug: false, task_type: Some(task_type) }
}
