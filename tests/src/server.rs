//! The HTTP server: one axum fallback handler that records (and numbers) every request,
//! answers queued one-shot faults, applies the fault plan, enforces the context path and
//! authentication, then routes; plus the [`Simulator`] handle that starts and stops it.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::auth::{AuthFailure, authenticate};
use crate::config::SimConfig;
use crate::connection::{CutSwitch, CuttableListener};
use crate::dataset::{SimGlobalPermission, SimPermission, SimUser, Subject};
use crate::fault_plan::{FaultPlan, PlanAction, add_missing_headers, dropped_response, is_json, malformed_response, truncated};
use crate::recording::{Fault, RecordedRequest};
use crate::request::{SimRequest, normalize_path, parse_query, path_below_context};
use crate::responses::{HttpResponse, authentication_failed, authentication_required, insert_header, not_found, tomcat_bad_request};
use crate::routes::route;
use crate::state::SimState;

/// Request bodies above this size are recorded and routed as empty.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The axum application for `state` (usable without a socket via `tower::ServiceExt::oneshot`).
pub fn router(state: Arc<SimState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<SimState>>, request: Request) -> HttpResponse {
    let cut_switch = request.extensions().get::<ConnectInfo<CutSwitch>>().map(|info| info.0.clone());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let (index, number) = state.record_numbered(record_of(&parts, &body));
    let decision = state.plan_decision(number);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let mut response = if let Some(fault) = state.take_fault() {
        fault.to_response()
    } else {
        match decision.action {
            PlanAction::Drop => {
                state.set_recorded_status(index, 0);
                if let Some(switch) = cut_switch {
                    switch.cut();
                }
                return dropped_response();
            }
            PlanAction::Fault(fault) => fault.to_response(),
            PlanAction::Malformed => malformed_response(),
            PlanAction::Route { truncate } => {
                let response = answer(&state, &parts, body);
                if truncate && is_json(&response) { truncated(response).await } else { response }
            }
        }
    };
    add_missing_headers(&mut response, &decision.bucket_headers);
    for (name, value) in &state.config.extra_response_headers {
        if let (Ok(name), Ok(value)) = (axum::http::HeaderName::try_from(name.as_str()), axum::http::HeaderValue::try_from(value.as_str())) {
            response.headers_mut().append(name, value);
        }
    }
    state.set_recorded_status(index, response.status().as_u16());
    response
}

fn record_of(parts: &Parts, body: &Bytes) -> RecordedRequest {
    let header_text = |value: &axum::http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    RecordedRequest {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |pq| pq.as_str().to_string()),
        authorization: parts.headers.get(axum::http::header::AUTHORIZATION).map(header_text),
        headers: parts.headers.iter().map(|(name, value)| (name.as_str().to_string(), header_text(value))).collect(),
        status: 0,
        body: String::from_utf8_lossy(body).into_owned(),
        received: std::time::Instant::now(),
    }
}

/// Normal routing (queued faults and the fault plan are handled by the caller).
fn answer(state: &SimState, parts: &Parts, body: Bytes) -> HttpResponse {
    let Some(path) = path_below_context(parts.uri.path(), &state.context_path) else {
        return not_found(accepts_json(parts));
    };
    if has_encoded_slash(path) {
        return tomcat_bad_request();
    }
    let request = SimRequest {
        method: parts.method.clone(),
        path: normalize_path(path),
        query: parse_query(parts.uri.query().unwrap_or("")),
        headers: parts.headers.clone(),
        body: body.to_vec(),
    };
    let authorization = request.header("authorization");
    let authenticated = authenticate(authorization, &state.directory(), state.config.anonymous_access);
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(AuthFailure::BadCredentials) => {
            return authentication_failed(&realm(state), request.wants_json());
        }
        Err(AuthFailure::AnonymousDisabled) => {
            return authentication_required(&realm(state), request.wants_json());
        }
    };
    let mut response = route(state, &request, &caller);
    insert_header(&mut response, "x-ausername", caller.header_name());
    response
}

/// Tomcat rejects `%2F` (and `%5C`) in a path by default (docs/confluence-dc.md §6.2).
fn has_encoded_slash(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f") || lower.contains("%5c")
}

fn accepts_json(parts: &Parts) -> bool {
    parts.headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.to_ascii_lowercase().contains("json"))
}

/// The OAuth realm Confluence advertises: its URL-encoded base URL.
fn realm(state: &SimState) -> String {
    utf8_percent_encode(&state.link_base(), NON_ALPHANUMERIC).to_string()
}

/// A running simulator. The server stops when this handle is dropped.
pub struct Simulator {
    state: Arc<SimState>,
    _running: crate::running::Running,
}

impl Simulator {
    /// Serves on 127.0.0.1 with an ephemeral port, on the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Simulator> {
        Simulator::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves on `addr`, on the current tokio runtime.
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let origin = origin_of(&cfg, listener.local_addr()?);
        let state = Arc::new(SimState::new(cfg, origin)?);
        let (shutdown, stopped) = oneshot::channel();
        tokio::spawn(serve(listener, Arc::clone(&state), stopped));
        Ok(Simulator { state, _running: crate::running::Running::new(shutdown, None) })
    }

    /// Serves on 127.0.0.1 with an ephemeral port from its own thread and runtime (for sync tests).
    pub fn start_background(cfg: SimConfig) -> anyhow::Result<Simulator> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.set_nonblocking(true)?;
        let origin = origin_of(&cfg, listener.local_addr()?);
        let state = Arc::new(SimState::new(cfg, origin)?);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stopped) = oneshot::channel();
        let served_state = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("confluence-sim".into()).spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, served_state, stopped).await,
                    Err(error) => {
                        tracing::error!(%error, "confluence-sim: cannot use listener")
                    }
                }
            });
        })?;
        Ok(Simulator { state, _running: crate::running::Running::new(shutdown, Some(thread)) })
    }

    /// "http://127.0.0.1:PORT" (or "https://NAME:PORT" when serving TLS).
    pub fn origin(&self) -> String {
        self.state.origin.clone()
    }

    /// origin + context path.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.state.origin, self.state.context_path)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.recorded_requests()
    }

    /// The POST, PUT and DELETE requests received so far, in arrival order.
    pub fn write_requests(&self) -> Vec<RecordedRequest> {
        self.state.write_requests()
    }

    /// The current members of `group`, usernames sorted (empty for an unknown group).
    pub fn group_members(&self, group: &str) -> Vec<String> {
        self.state.group_members(group)
    }

    /// The current permission rows of the space (empty for an unknown space).
    pub fn space_permissions(&self, key: &str) -> Vec<SimPermission> {
        self.state.space_permissions(key)
    }

    /// The current global permission rows, in stored order.
    pub fn global_permissions(&self) -> Vec<SimGlobalPermission> {
        self.state.global_permissions()
    }

    /// The (targetType, operationKey) pairs `subject` holds now, sorted.
    pub fn global_permissions_of(&self, subject: &Subject) -> Vec<(String, String)> {
        self.state.global_permissions_of(subject)
    }

    /// The current state of a user.
    pub fn user(&self, username: &str) -> Option<SimUser> {
        self.state.user(username)
    }

    pub fn clear_requests(&self) {
        self.state.clear_recorded_requests();
    }

    /// Queues faults; each answers exactly one upcoming request instead of normal routing.
    pub fn inject_faults(&self, faults: Vec<Fault>) {
        self.state.queue_faults(faults);
    }

    /// Replaces the fault plan at runtime (e.g. sync once clean, then again with faults
    /// against the same state). The new plan numbers requests from 1 again, starting with
    /// the next one; a token bucket starts full. Queued one-shot faults still come first.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.state.set_fault_plan(plan);
    }

    /// The fault plan in force.
    pub fn faults(&self) -> FaultPlan {
        self.state.fault_plan()
    }

    /// How many requests the server has received (all of them, faulted or not; not reset by
    /// [`Simulator::clear_requests`]).
    pub fn request_count(&self) -> u64 {
        self.state.request_count()
    }

    /// Connections accepted and TLS handshakes completed so far.
    pub fn connections(&self) -> &crate::tls::ConnectionCounts {
        &self.state.connections
    }

    /// The live state, for tests that change the directory while the server runs.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }
}

fn origin_of(cfg: &SimConfig, addr: SocketAddr) -> String {
    match &cfg.tls {
        Some(tls) => format!("https://{}:{}", tls.host_name.clone().unwrap_or_else(|| addr.ip().to_string()), addr.port()),
        None => format!("http://{addr}"),
    }
}

/// Serves until `stopped` fires (or its sender is dropped); stops accepting at once.
async fn serve(listener: TcpListener, state: Arc<SimState>, stopped: oneshot::Receiver<()>) {
    if let Some(tls) = state.config.tls.clone() {
        return serve_tls(listener, state, &tls, stopped).await;
    }
    let app = router(state).into_make_service_with_connect_info::<CutSwitch>();
    let server = axum::serve(CuttableListener(listener), app).into_future();
    tokio::select! {
        result = server => {
            if let Err(error) = result {
                tracing::error!(%error, "confluence-sim: server failed");
            }
        }
        _ = stopped => {}
    }
}

/// HTTPS: the same application behind TLS (HTTP/2 or HTTP/1.1 by ALPN), counting handshakes.
/// The fault plan cannot cut these connections (a dropped request just gets no answer).
async fn serve_tls(listener: TcpListener, state: Arc<SimState>, tls: &crate::config::SimTls, stopped: oneshot::Receiver<()>) {
    let acceptor = match crate::tls::acceptor(&tls.certificate, tls.client_ca_pem.as_deref()) {
        Ok(acceptor) => acceptor,
        Err(error) => {
            tracing::error!(%error, "confluence-sim: cannot serve TLS");
            return;
        }
    };
    let counts = Arc::clone(&state.connections);
    tokio::select! {
        _ = crate::tls::serve(listener, router(state), acceptor, counts) => {}
        _ = stopped => {}
    }
}
