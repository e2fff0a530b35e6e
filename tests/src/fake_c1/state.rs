//! The fake's shared state behind one mutex: the task script, issued tokens and their
//! expiry, cancellations, the upload-failure budget and every record.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use baton_c1api::pb::{BatonServiceFinishTaskRequest, BatonServiceGetTaskRequest, BatonServiceHeartbeatRequest, BatonServiceHelloRequest, Task};

use super::config::FakeC1Config;
use super::credentials::Credentials;
use super::records::{RpcCall, TokenRequestRecord, UnauthenticatedCall, UploadRecord};

pub struct FakeState {
    pub credentials: Credentials,
    pub next_poll: Duration,
    pub next_heartbeat: Duration,
    pub poll_delay: Duration,
    token_lifetime: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pending_tasks: VecDeque<Task>,
    cancelled_tasks: HashSet<String>,
    token_expiry: HashMap<String, Instant>,
    uploads_left_to_fail: usize,
    logs: Logs,
}

/// Every record, in arrival order.
#[derive(Default, Clone)]
pub struct Logs {
    pub token_requests: Vec<TokenRequestRecord>,
    pub unauthenticated: Vec<UnauthenticatedCall>,
    pub hellos: Vec<RpcCall<BatonServiceHelloRequest>>,
    pub polls: Vec<RpcCall<BatonServiceGetTaskRequest>>,
    pub heartbeats: Vec<RpcCall<BatonServiceHeartbeatRequest>>,
    pub finished: Vec<RpcCall<BatonServiceFinishTaskRequest>>,
    pub uploads: Vec<UploadRecord>,
}

impl FakeState {
    pub fn new(config: FakeC1Config, credentials: Credentials) -> FakeState {
        FakeState {
            credentials,
            next_poll: config.next_poll,
            next_heartbeat: config.next_heartbeat,
            poll_delay: config.poll_delay,
            token_lifetime: Duration::from_secs(config.token_lifetime_seconds),
            inner: Mutex::new(Inner {
                pending_tasks: config.tasks.into(),
                cancelled_tasks: config.cancel_on_heartbeat,
                uploads_left_to_fail: config.fail_uploads,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn token_lifetime_seconds(&self) -> u64 {
        self.token_lifetime.as_secs()
    }

    /// Makes a new random access token, valid for the configured lifetime.
    pub fn issue_token(&self) -> String {
        let token = random_hex_token();
        let expiry = Instant::now() + self.token_lifetime;
        self.lock().token_expiry.insert(token.clone(), expiry);
        token
    }

    /// `Ok` when `token` was issued by us and has not expired; otherwise why not.
    pub fn check_token(&self, token: &str) -> Result<(), &'static str> {
        match self.lock().token_expiry.get(token) {
            None => Err("unknown access token"),
            Some(expiry) if Instant::now() >= *expiry => Err("expired access token"),
            Some(_) => Ok(()),
        }
    }

    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expiry in self.lock().token_expiry.values_mut() {
            *expiry = now;
        }
    }

    pub fn next_task(&self) -> Option<Task> {
        self.lock().pending_tasks.pop_front()
    }

    pub fn push_task(&self, task: Task) {
        self.lock().pending_tasks.push_back(task);
    }

    pub fn cancel_task(&self, task_id: &str) {
        self.lock().cancelled_tasks.insert(task_id.to_string());
    }

    pub fn is_cancelled(&self, task_id: &str) -> bool {
        self.lock().cancelled_tasks.contains(task_id)
    }

    /// Spends one injected upload failure if any are left.
    pub fn take_upload_failure(&self) -> bool {
        let mut inner = self.lock();
        if inner.uploads_left_to_fail == 0 {
            return false;
        }
        inner.uploads_left_to_fail -= 1;
        true
    }

    /// Appends to (or reads) the records.
    pub fn with_logs<R>(&self, f: impl FnOnce(&mut Logs) -> R) -> R {
        f(&mut self.lock().logs)
    }
}

fn random_hex_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
