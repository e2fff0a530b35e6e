//! The health endpoint of service mode (`--health-check`, as baton names it), for Kubernetes
//! probes: `/healthz` (live: the poll loop has run recently) and `/readyz` (ready: ConductorOne
//! accepted our Hello and we are not shutting down). `/health` answers like `/healthz`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A poll loop silent for longer than this is not live.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// What the probes report, updated by the service loop. Time is measured on the monotonic
/// clock from when the service started, so a wall clock set back or forward (NTP, a VM
/// resumed) neither hides a stalled loop nor fails a live one.
#[derive(Debug)]
pub struct Health {
    ready: AtomicBool,
    /// Seconds from `started` to the last turn of the poll loop, plus one (0: none yet).
    last_poll: AtomicU64,
    started: Instant,
}

impl Default for Health {
    fn default() -> Self {
        Health { ready: AtomicBool::new(false), last_poll: AtomicU64::new(0), started: Instant::now() }
    }
}

impl Health {
    /// The poll loop is running (called on every turn).
    pub fn polled(&self) {
        self.last_poll.store(self.now_seconds(), Ordering::Relaxed);
    }

    /// Ready for tasks, or not (false while shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    fn live(&self) -> bool {
        let last = self.last_poll.load(Ordering::Relaxed);
        last == 0 || self.now_seconds().saturating_sub(last) <= STALE_AFTER.as_secs()
    }

    fn now_seconds(&self) -> u64 {
        self.started.elapsed().as_secs() + 1
    }
}

async fn live(State(health): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if health.live() { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "the task loop has stalled\n") }
}

async fn ready(State(health): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if health.ready.load(Ordering::Relaxed) { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}

/// The probes' routes, for a server that may serve more beside them.
pub fn router(health: Arc<Health>) -> Router {
    Router::new().route("/healthz", get(live)).route("/health", get(live)).route("/readyz", get(ready)).with_state(health)
}

/// Serves the probes on `address` in the background; returns the address bound.
pub async fn serve(address: SocketAddr, health: Arc<Health>) -> anyhow::Result<SocketAddr> {
    let bound = serve_app(address, router(health), "change --health-check-port or --health-check-bind-address").await?;
    tracing::info!(address = %bound, "serving the health check on /healthz and /readyz");
    Ok(bound)
}

/// Serves `app` on `address` in the background; `remedy` says what to change when the
/// address cannot be bound. Returns the address bound.
pub async fn serve_app(address: SocketAddr, app: Router, remedy: &str) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e} ({remedy})"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(error = %error, "the health check server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_while_the_loop_turns_and_not_once_it_has_stalled() {
        let health = Health::default();
        assert!(health.live(), "no turn yet");
        health.polled();
        assert!(health.live());
        let Some(started) = Instant::now().checked_sub(STALE_AFTER + Duration::from_secs(5)) else { return };
        let stalled = Health { started, ..Health::default() };
        stalled.last_poll.store(1, Ordering::Relaxed);
        assert!(!stalled.live(), "a turn more than STALE_AFTER ago");
    }
}
