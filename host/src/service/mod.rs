//! Service mode: the connector keeps a connection to ConductorOne (C1), syncs and uploads when
//! C1 asks, and runs the provisioning tasks C1 sends, as baton-sdk's task manager does.
//!
//! - [`credentials`]: the client id and secret (an Ed25519 key), parsed without echoing them.
//! - [`connection`]: where C1 is and TLS (or plaintext to loopback, for tests).
//! - [`token`]: the signed client assertion exchanged for an access token, cached.
//! - [`client`]: the `BatonService` calls with that token.
//! - [`hello`]: what Hello says about the connector, build and OS.
//! - [`tasks`]: running each task type and answering it; [`heartbeat`] and [`upload`] for syncs.
//! - [`health`]: the liveness and readiness endpoint.
//! - [`debug_log`]: the log of a task C1 asked to debug, uploaded beside its sync.
//!
//! The loop here: get a first token (a bad secret fails at once; an unreachable C1 is tried
//! again with backoff), say Hello (retried with backoff), then poll GetTask, running up to `--task-concurrency` tasks at once. SIGTERM or
//! Ctrl-C stops polling, lets running tasks finish for a grace period, then drops them (their
//! temporary files go with them) and exits.

pub mod client;
pub mod connection;
pub mod credentials;
pub mod debug_log;
pub mod health;
pub mod heartbeat;
pub mod hello;
pub mod tasks;
pub mod token;
pub mod upload;

use crate::connector::Connector;
use anyhow::{Result, bail};
use baton_c1api::pb::BatonServiceGetTaskResponse;
use baton_sandbox::wit;
use client::{C1Client, CallError};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use health::Health;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tonic::Code;

impl std::fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("api_host", &self.api_host)
            .field("task_concurrency", &self.task_concurrency)
            .field("provisioning", &self.provisioning)
            .finish_non_exhaustive()
    }
}

/// The longest wait between two polls, whatever the server says.
const MAX_POLL: Duration = Duration::from_secs(300);
/// The shortest: a server answering `next_poll = 0` must not turn the loop into a busy one.
const MIN_POLL: Duration = Duration::from_millis(100);
/// The longest wait between two Hello attempts.
const MAX_HELLO_BACKOFF: Duration = Duration::from_secs(300);

/// What service mode is configured with. Its `Debug` leaves the client secret out.
#[derive(Clone)]
pub struct ServiceOptions {
    pub client_id: String,
    pub client_secret: String,
    pub api_host: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub plaintext_loopback: bool,
    pub host_id: Option<String>,
    pub health_check: Option<SocketAddr>,
    pub task_concurrency: usize,
    pub grace: Duration,
    pub provisioning: bool,
    /// `name/version` of this program, for the user agent.
    pub program: String,
}

/// Runs service mode until SIGTERM or Ctrl-C.
pub async fn run(connector: &Connector<'_>, metadata: &wit::Metadata, types: &[wit::ResourceType], options: ServiceOptions) -> Result<()> {
    let client_id = credentials::ClientId::parse(&options.client_id)?;
    let secret = credentials::ClientSecret::parse(&options.client_secret)?;
    let user_agent = format!("{} {}", client_id.client_name, options.program);
    let address =
        connection::C1Address::new(&client_id.token_host, options.api_host.as_deref(), options.plaintext_loopback, options.ca_file.as_ref(), &user_agent)?;
    tracing::info!(c1 = %address.base_url(), client = %client_id.client_name, provisioning = options.provisioning, "starting in service mode");
    let client = C1Client::new(&address, client_id, secret, hello::host_id(options.host_id.as_deref()))?;
    let health = Arc::new(Health::default());
    if let Some(bind) = options.health_check {
        health::serve(bind, health.clone()).await?;
    }
    let mut shutdown = std::pin::pin!(shutdown_signal());
    tokio::select! {
        started = async { first_token(&client).await?; say_hello(&client, metadata, types).await } => started?,
        _ = &mut shutdown => return Ok(()),
    }
    health.set_ready(true);
    // Redacted from every debug log uploaded, beside what the rest of the process noted.
    crate::secrets::note(&options.client_secret);
    let cx = Loop { client: &client, connector, metadata, types, options: &options, health: &health };
    cx.run(shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown asked for: no new tasks");
}

/// The first token: refused credentials fail at once (nothing to wait for); an unreachable
/// ConductorOne is tried again with backoff, so a network blip at start does not stop the pod.
async fn first_token(client: &C1Client) -> Result<()> {
    let mut wait = Duration::from_secs(1);
    loop {
        match client.check_credentials().await {
            Ok(()) => return Ok(()),
            Err(error) if error.downcast_ref::<token::Unreachable>().is_some() => {
                tracing::warn!(error = %error, retry_in_s = wait.as_secs(), "ConductorOne is not reachable; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_HELLO_BACKOFF);
            }
            Err(error) => return Err(error),
        }
    }
}

/// The start-up Hello, retried with backoff from 1 s to 5 min; given up on answers that will
/// not change by waiting (bad credentials, refused, invalid).
async fn say_hello(client: &C1Client, metadata: &wit::Metadata, types: &[wit::ResourceType]) -> Result<()> {
    let mut wait = Duration::from_secs(1);
    loop {
        let request = hello::request(client.host_id(), "", hello::connector_metadata(metadata, types));
        match client.hello(request).await {
            Ok(_) => {
                tracing::info!("ConductorOne accepted our Hello");
                return Ok(());
            }
            Err(error) if is_final(&error) => bail!("ConductorOne refused our Hello: {error}"),
            Err(error) => {
                tracing::warn!(error = %error, retry_in_s = wait.as_secs(), "Hello failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_HELLO_BACKOFF);
            }
        }
    }
}

fn is_final(error: &CallError) -> bool {
    matches!(
        error.code(),
        Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument | Code::Unimplemented | Code::FailedPrecondition | Code::NotFound
    )
}

/// A GetTask call in flight.
type PendingPoll<'a> = std::pin::Pin<Box<dyn Future<Output = Result<BatonServiceGetTaskResponse, CallError>> + 'a>>;

/// The poll loop and what it shares with its tasks.
struct Loop<'a> {
    client: &'a C1Client,
    connector: &'a Connector<'a>,
    metadata: &'a wit::Metadata,
    types: &'a [wit::ResourceType],
    options: &'a ServiceOptions,
    health: &'a Health,
}

impl Loop<'_> {
    async fn run(&self, mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>) -> Result<()> {
        let mut running = FuturesUnordered::new();
        // The GetTask in flight, polled beside the running tasks so they never wait on it.
        let mut poll: Option<PendingPoll<'_>> = None;
        let mut next_poll = Instant::now();
        let mut errors: u32 = 0;
        loop {
            let can_poll = poll.is_none() && running.len() < self.options.task_concurrency;
            tokio::select! {
                _ = &mut shutdown => break,
                Some(()) = running.next(), if !running.is_empty() => {}
                _ = tokio::time::sleep_until(next_poll), if can_poll => {
                    self.health.polled();
                    poll = Some(Box::pin(self.client.get_task()));
                }
                answer = async { poll.as_mut().expect("guarded by is_some").await }, if poll.is_some() => {
                    poll = None;
                    match answer {
                        Ok(response) => {
                            errors = 0;
                            next_poll = Instant::now() + heartbeat::duration(response.next_poll.as_ref()).clamp(MIN_POLL, MAX_POLL);
                            if let Some(task) = response.task.filter(|t| !tasks::is_no_task(t)) {
                                let next_heartbeat = heartbeat::duration(response.next_heartbeat.as_ref());
                                running.push(self.task(task, next_heartbeat));
                            }
                        }
                        Err(error) => {
                            errors = errors.saturating_add(1);
                            let wait = Duration::from_secs(u64::from(errors.saturating_mul(errors)).min(60));
                            tracing::warn!(error = %error, retry_in_s = wait.as_secs(), "GetTask failed");
                            next_poll = Instant::now() + wait;
                        }
                    }
                }
            }
        }
        self.health.set_ready(false);
        self.drain(running).await;
        Ok(())
    }

    async fn task(&self, task: baton_c1api::pb::Task, next_heartbeat: Duration) {
        let cx = tasks::TaskContext {
            client: self.client,
            connector: self.connector,
            metadata: self.metadata,
            types: self.types,
            provisioning: self.options.provisioning,
            next_heartbeat,
        };
        tasks::run(&cx, task).await
    }

    /// Lets running tasks finish within the grace period, then drops the rest.
    async fn drain(&self, mut running: FuturesUnordered<impl Future<Output = ()>>) {
        if running.is_empty() {
            return;
        }
        tracing::info!(tasks = running.len(), grace_s = self.options.grace.as_secs(), "waiting for running tasks");
        let finished = tokio::time::timeout(self.options.grace, async { while running.next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(tasks = running.len(), "the grace period is over: stopping the tasks still running");
        }
    }
}
