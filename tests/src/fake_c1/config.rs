//! What a test scripts into the fake ConductorOne before it starts: the key seed, the tasks
//! GetTask hands out, the poll and heartbeat intervals, cancellations, token lifetime and
//! injected upload failures.

use std::collections::HashSet;
use std::time::Duration;

use baton_c1api::pb::Task;

/// How a [`super::FakeC1`] behaves. `FakeC1Config::default()` hands out no tasks.
#[derive(Clone, Debug)]
pub struct FakeC1Config {
    /// The Ed25519 seed of the client secret; `None` picks a random one.
    pub key_seed: Option<[u8; 32]>,
    /// Handed out by GetTask one per call, in order; after them GetTask answers no task.
    /// Each id must be 27 ASCII letters or digits (see [`super::FakeC1::task_id`]).
    pub tasks: Vec<Task>,
    /// `next_poll` of every GetTask response.
    pub next_poll: Duration,
    /// `next_heartbeat` of every GetTask and Heartbeat response.
    pub next_heartbeat: Duration,
    /// Task ids whose heartbeats are answered `cancelled = true`.
    pub cancel_on_heartbeat: HashSet<String>,
    /// `expires_in` of issued access tokens; a token is refused once that many seconds passed.
    pub token_lifetime_seconds: u64,
    /// The first this-many otherwise valid uploads are answered `UNAVAILABLE` (for retries).
    pub fail_uploads: usize,
    /// How long GetTask waits before it takes the next task and answers (a long poll); a call
    /// whose connection is dropped while it waits takes nothing.
    pub poll_delay: Duration,
    /// Serve TLS with a self-signed certificate for 127.0.0.1 (see [`super::FakeC1::ca_pem`])
    /// instead of plain text.
    pub tls: bool,
}

impl Default for FakeC1Config {
    fn default() -> Self {
        FakeC1Config {
            key_seed: None,
            tasks: Vec::new(),
            next_poll: Duration::from_millis(100),
            next_heartbeat: Duration::from_millis(200),
            cancel_on_heartbeat: HashSet::new(),
            token_lifetime_seconds: 3600,
            fail_uploads: 0,
            poll_delay: Duration::ZERO,
            tls: false,
        }
    }
}
