//! The sandbox: wasmtime wiring for one connector component (the engine it runs in is
//! [`crate::engine`]'s). Owns the linker (WASI without files, env or sockets; wasi-http
//! through [`crate::egress`]; our `config`, `log` and `kv` imports), and per-instance limits: a memory cap and a CPU-time budget per call, counted in epoch ticks
//! while guest code runs, plus a wall-clock timeout per call.
//!
//! Two error levels, as in wasmtime's wasi-http: a [`CallError::Connector`] is the component's
//! typed answer; a [`CallError::Sandbox`] means the instance was stopped (trap, cap, timeout)
//! and must not be used again.

use crate::declared::Allowance;
use crate::egress::EgressHooks;
use crate::epoch::{TICK, Ticker};
use crate::guest_log::{self, LogBudget};
use crate::pool::{MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES};
use crate::store::SharedStore;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::baton::connector::log::Level;
use crate::bindings::{ConnectorHost, ConnectorHostPre, baton, wit};
use wit::ConnectorError;

/// Resource caps for each instance.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Guest CPU time allowed for one exported call.
    pub cpu_per_call: Duration,
    /// Wall-clock time allowed for one exported call, network waits included.
    pub wall_per_call: Duration,
    /// Guest CPU time allowed for all calls of all instances sharing one [`InstanceContext`]
    /// (one sync, or one change): a component that stays under the per-call budget by making
    /// endless calls is still stopped.
    pub cpu_per_run: Duration,
    /// The most data one exported call may hand back to the host: strings and lists counted as
    /// wasmtime copies them out of the guest (its hostcall fuel, which bounds what one call into
    /// a host import may pass as well). Past it the call stops with "resource exhausted".
    pub call_bytes: usize,
}

/// What [`Limits::call_bytes`] is by default: a page of a directory's largest answers is a few
/// MiB; this leaves room and keeps a hostile page from holding the host's memory.
pub const DEFAULT_CALL_BYTES: usize = 64 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 256 << 20,
            cpu_per_call: Duration::from_secs(60),
            wall_per_call: Duration::from_secs(600),
            cpu_per_run: Duration::from_secs(4 * 3600),
            call_bytes: DEFAULT_CALL_BYTES,
        }
    }
}

/// A loaded connector component, ready to instantiate many times. Cheap to clone: clones
/// share the compiled code (see [`crate::engine::Sandbox`]).
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    pre: ConnectorHostPre<State>,
    digest: String,
    _ticker: Arc<Ticker>,
}

/// What one instance may see and use.
#[derive(Clone)]
pub struct InstanceContext {
    /// Non-secret configuration values, readable through the `config` import.
    pub config: Arc<BTreeMap<String, String>>,
    /// Egress policy and credentials for outgoing requests.
    pub hooks: EgressHooks,
    /// The per-sync key-value store.
    pub kv: SharedStore,
    /// CPU ticks spent by every instance of this context so far (see [`Limits::cpu_per_run`]).
    pub cpu_spent: Arc<std::sync::atomic::AtomicU64>,
    /// Bytes of memories and tables every live instance of this context holds now.
    pub memory_in_use: Arc<std::sync::atomic::AtomicU64>,
    /// Whether this run may change the target system: its grant, revoke and create-account
    /// calls may then send the changes the component declares. A sync's context never may.
    pub may_change: bool,
}

impl Runtime {
    /// The SHA-256 digest of the component's bytes (`sha256:...`).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The names of the interfaces the component imports and exports, as it declares them
    /// (`wasi:http/outgoing-handler@0.2.0`, `baton:connector/connector@0.4.0`, ...).
    pub fn interfaces(&self) -> (Vec<String>, Vec<String>) {
        let kind = self.pre.instance_pre().component().component_type();
        let imports = kind.imports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let exports = kind.exports(&self.engine).map(|(name, _)| name.to_string()).collect();
        (imports, exports)
    }

    /// A fresh instance with its own store, memory cap and CPU budget.
    pub async fn instantiate(&self, context: InstanceContext, limits: &Limits) -> Result<Instance> {
        let state = State::new(context, limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_hostcall_fuel(limits.call_bytes);
        store.epoch_deadline_callback(count_cpu_ticks);
        store.set_epoch_deadline(1);
        let bindings = self.pre.instantiate_async(&mut store).await.map_err(|e| sandbox_error("failed to start", store.data(), e))?;
        Ok(Instance { store, bindings, wall_per_call: limits.wall_per_call, poisoned: false, stderr_logged: 0 })
    }
}

/// Links `component` against this host's imports (see [`crate::engine::Sandbox::load`]).
pub(crate) fn link(engine: &Engine, component: &Component, digest: String, ticker: Arc<Ticker>) -> Result<Runtime> {
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    ConnectorHost::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state).map_err(anyhow::Error::from)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .context("the component does not fit this host (it must implement the baton:connector world)")?;
    let pre = ConnectorHostPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
        let kind = component.component_type();
        let exported: Vec<String> = kind.exports(engine).map(|(name, _)| name.to_string()).filter(|name| name.starts_with("baton:connector/")).collect();
        let exported = if exported.is_empty() { "none".to_string() } else { exported.join(", ") };
        format!(
            "the component does not fit this host: it must export the baton:connector world's interface at this host's version (its baton:connector exports: {exported})"
        )
    })?;
    Ok(Runtime { engine: engine.clone(), pre, digest, _ticker: ticker })
}

/// Called when an epoch tick passes while guest code runs: one more tick of CPU used.
fn count_cpu_ticks(mut store: wasmtime::StoreContextMut<'_, State>) -> wasmtime::Result<UpdateDeadline> {
    let cpu = &mut store.data_mut().cpu;
    cpu.used_ticks += 1;
    if cpu.used_ticks > cpu.budget_ticks {
        cpu.exhausted = true;
        return Err(wasmtime::Error::msg("CPU-time budget exhausted"));
    }
    if cpu.run_spent.fetch_add(1, Ordering::Relaxed) + 1 > cpu.run_budget_ticks {
        cpu.run_exhausted = true;
        return Err(wasmtime::Error::msg("CPU-time budget of the run exhausted"));
    }
    Ok(UpdateDeadline::Yield(1))
}

/// Per-store data.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    /// See [`InstanceContext::may_change`].
    may_change: bool,
    /// How many more log records the component may write (see [`guest_log`]).
    log_budget: LogBudget,
    config: Arc<BTreeMap<String, String>>,
    kv: SharedStore,
    memory: MemoryCap,
    cpu: CpuBudget,
    /// See [`Limits::call_bytes`] (for the message when it is used up).
    call_bytes: usize,
    /// What the guest writes to stderr: kept here, never passed through raw (a guest could forge
    /// log lines), and logged line by line, escaped, after each call.
    stderr: MemoryOutputPipe,
}

/// The most a guest may write to stderr over an instance's life (a panic message needs little).
const STDERR_CAPACITY: usize = 256 << 10;
/// The longest stderr line logged; the rest is cut.
const STDERR_LINE: usize = 2048;

impl State {
    fn new(context: InstanceContext, limits: &Limits) -> State {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        State {
            // No preopened directories, no environment, no sockets, no raw stderr: only what the
            // imports give.
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            stderr,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: context.hooks.holding_bodies_within(limits.memory_bytes),
            may_change: context.may_change,
            log_budget: LogBudget::default(),
            config: context.config,
            kv: context.kv,
            memory: MemoryCap { limit: limits.memory_bytes, used: 0, exceeded: None, run_in_use: context.memory_in_use },
            cpu: CpuBudget {
                used_ticks: 0,
                budget_ticks: ticks(limits.cpu_per_call),
                exhausted: false,
                run_spent: context.cpu_spent.clone(),
                run_budget_ticks: ticks(limits.cpu_per_run),
                run_exhausted: false,
            },
            call_bytes: limits.call_bytes,
        }
    }
}

impl State {
    /// One notice for the log records dropped since the last one (after each call), if any.
    fn report_dropped_logs(&mut self) {
        let dropped = self.log_budget.take_dropped();
        if dropped > 0 {
            tracing::warn!(target: "connector", dropped, "the connector wrote log records faster than {} a second; these were dropped", guest_log::PER_SECOND);
        }
    }
}

struct CpuBudget {
    used_ticks: u64,
    budget_ticks: u64,
    exhausted: bool,
    /// Shared by every instance of the run.
    run_spent: Arc<std::sync::atomic::AtomicU64>,
    run_budget_ticks: u64,
    run_exhausted: bool,
}

/// `duration` in epoch ticks, at least one.
fn ticks(duration: Duration) -> u64 {
    (duration.as_millis() / TICK.as_millis()).max(1) as u64
}

/// Refuses memory growth past the cap and remembers that it did.
struct MemoryCap {
    limit: usize,
    /// Bytes of all the instance's memories and tables together.
    used: usize,
    exceeded: Option<usize>,
    /// [`InstanceContext::memory_in_use`]: this instance's part is added as it grows and taken
    /// away when the instance is dropped.
    run_in_use: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        self.run_in_use.fetch_sub(self.used as u64, Ordering::Relaxed);
    }
}

/// What one table element is counted as against the memory cap.
const TABLE_ELEMENT_BYTES: usize = 16;

impl MemoryCap {
    /// Admits growing something from `current` to `desired` bytes if the total stays under the
    /// cap, and remembers a refusal.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.exceeded = Some(total);
            return Err(wasmtime::Error::msg(format!("memory cap of {} bytes reached", self.limit)));
        }
        self.run_in_use.fetch_add(total.saturating_sub(self.used) as u64, Ordering::Relaxed);
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current.saturating_mul(TABLE_ELEMENT_BYTES), desired.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl wit::Host for State {}

impl baton::connector::config::Host for State {
    fn get(&mut self, name: String) -> Option<String> {
        self.config.get(&name).cloned()
    }
}

impl baton::connector::log::Host for State {
    fn write(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let shown = match level {
            Level::Debug => tracing::enabled!(target: "connector", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "connector", tracing::Level::INFO),
            Level::Warn | Level::Error => true,
        };
        // Only records that would be shown count against the budget.
        if !shown || !self.log_budget.admit() {
            return;
        }
        let (message, fields) = guest_log::record(&message, &fields);
        match level {
            Level::Debug => tracing::debug!(target: "connector", fields = %fields, "{message}"),
            Level::Info => tracing::info!(target: "connector", fields = %fields, "{message}"),
            Level::Warn => tracing::warn!(target: "connector", fields = %fields, "{message}"),
            Level::Error => tracing::error!(target: "connector", fields = %fields, "{message}"),
        }
    }
}

impl baton::connector::kv::Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        self.kv.lock().ok()?.get(&key)
    }

    fn set(&mut self, key: String, value: String) {
        if let Ok(mut kv) = self.kv.lock() {
            kv.set(key, value);
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The component answered with its typed error.
    #[error("{call}: {}", describe(error))]
    Connector { call: String, error: ConnectorError },
    /// The sandbox stopped the instance (trap, memory cap, CPU budget, timeout).
    #[error("{0}")]
    Sandbox(String),
}

/// One instance of the component.
pub struct Instance {
    store: Store<State>,
    bindings: ConnectorHost,
    wall_per_call: Duration,
    poisoned: bool,
    /// Bytes of the guest's stderr already logged.
    stderr_logged: usize,
}

/// Runs one exported call with a fresh CPU budget and the wall-clock timeout, and turns traps
/// into [`CallError::Sandbox`] and typed errors into [`CallError::Connector`].
macro_rules! guest_call {
    ($self:ident, $name:expr, |$guest:ident, $store:ident| $call:expr) => {{ guest_call!($self, $name, Allowance::Read, |$guest, $store| $call) }};
    ($self:ident, $name:expr, $allowance:expr, |$guest:ident, $store:ident| $call:expr) => {{
        $self.before_call($name, $allowance)?;
        let $guest = $self.bindings.baton_connector_connector();
        let $store = &mut $self.store;
        let outcome = tokio::time::timeout($self.wall_per_call, $call).await;
        $self.after_call($name, outcome)
    }};
}

impl Instance {
    /// Readies the instance for one call that may send what `wants` allows (a change only when
    /// the run may change things).
    fn before_call(&mut self, call: &str, wants: Allowance) -> Result<(), CallError> {
        if self.poisoned {
            return Err(CallError::Sandbox(format!("{call}: this connector instance was stopped earlier and cannot be used")));
        }
        let state = self.store.data_mut();
        let allowance = if wants == Allowance::Change && state.may_change { Allowance::Change } else { Allowance::Read };
        state.hooks.allow(allowance);
        let cpu = &mut state.cpu;
        cpu.used_ticks = 0;
        self.store.set_epoch_deadline(1);
        Ok(())
    }

    fn after_call<T>(&mut self, call: &str, outcome: Result<wasmtime::Result<Result<T, ConnectorError>>, tokio::time::error::Elapsed>) -> Result<T, CallError> {
        self.log_stderr(call);
        if self.store.data().kv.lock().map(|kv| kv.is_over()).unwrap_or(false) {
            self.poisoned = true;
            return Err(CallError::Sandbox(format!(
                "{call}: the connector tried to keep more than {} MiB in its per-sync store and was stopped",
                crate::store::MAX_STORE_BYTES >> 20
            )));
        }
        match outcome {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(CallError::Connector { call: call.to_string(), error }),
            Ok(Err(trap)) => {
                self.poisoned = true;
                Err(sandbox_error(call, self.store.data(), trap))
            }
            Err(_) => {
                self.poisoned = true;
                Err(CallError::Sandbox(format!("{call}: the connector did not answer within {} s and was stopped", self.wall_per_call.as_secs())))
            }
        }
    }

    /// Logs what the guest wrote to stderr since the last call, one escaped record per line.
    fn log_stderr(&mut self, call: &str) {
        self.store.data_mut().report_dropped_logs();
        let written = self.store.data().stderr.contents();
        let Some(new) = written.get(self.stderr_logged..).filter(|n| !n.is_empty()) else { return };
        self.stderr_logged = written.len();
        for line in String::from_utf8_lossy(new).lines().filter(|l| !l.trim().is_empty()) {
            let line: String = line.chars().take(STDERR_LINE).collect();
            tracing::warn!(target: "connector", call, stderr = %line, "the connector wrote to stderr");
        }
    }

    /// The component's declared metadata.
    pub async fn metadata(&mut self) -> Result<wit::Metadata, CallError> {
        self.before_call("metadata", Allowance::Read)?;
        let guest = self.bindings.baton_connector_connector();
        let outcome = tokio::time::timeout(self.wall_per_call, guest.call_get_metadata(&mut self.store)).await;
        self.after_call("metadata", outcome.map(|r| r.map(Ok)))
    }

    pub async fn validate(&mut self) -> Result<String, CallError> {
        guest_call!(self, "validate", |g, s| g.call_validate(s))
    }

    pub async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, CallError> {
        guest_call!(self, "resource-types", |g, s| g.call_resource_types(s))
    }

    pub async fn list_resources(&mut self, type_id: &str, parent: Option<&wit::ResourceId>, token: Option<&str>) -> Result<wit::ResourcePage, CallError> {
        let name = format!("list-resources({type_id})");
        guest_call!(self, &name, |g, s| g.call_list_resources(s, type_id, parent, token))
    }

    pub async fn get_resource(&mut self, id: &wit::ResourceId, parent: Option<&wit::ResourceId>) -> Result<wit::Resource, CallError> {
        let name = format!("get-resource({}:{})", id.resource_type, id.resource);
        guest_call!(self, &name, |g, s| g.call_get_resource(s, id, parent))
    }

    pub async fn list_entitlements(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::EntitlementPage, CallError> {
        let name = format!("list-entitlements({}:{})", resource.id.resource_type, resource.id.resource);
        guest_call!(self, &name, |g, s| g.call_list_entitlements(s, resource, token))
    }

    pub async fn list_grants(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::GrantPage, CallError> {
        let name = format!("list-grants({}:{})", resource.id.resource_type, resource.id.resource);
        guest_call!(self, &name, |g, s| g.call_list_grants(s, resource, token))
    }

    pub async fn grant(&mut self, entitlement: &wit::Entitlement, principal: &wit::Resource) -> Result<wit::GrantResult, CallError> {
        let name = format!("grant({} to {}:{})", entitlement.id, principal.id.resource_type, principal.id.resource);
        guest_call!(self, &name, Allowance::Change, |g, s| g.call_grant_entitlement(s, entitlement, principal))
    }

    pub async fn revoke(&mut self, grant: &wit::Grant) -> Result<wit::RevokeOutcome, CallError> {
        let name = format!("revoke({})", grant.id);
        guest_call!(self, &name, Allowance::Change, |g, s| g.call_revoke_grant(s, grant))
    }

    pub async fn create_account(&mut self, account: &wit::AccountInfo) -> Result<wit::CreateAccountOutcome, CallError> {
        let name = format!("create-account({})", account.login);
        guest_call!(self, &name, Allowance::Change, |g, s| g.call_create_account(s, account))
    }
}

fn sandbox_error(call: &str, state: &State, trap: wasmtime::Error) -> CallError {
    if let Some(desired) = state.memory.exceeded {
        return CallError::Sandbox(format!(
            "{call}: the connector exceeded its memory cap of {} MiB (it asked for {} MiB) and was stopped",
            state.memory.limit >> 20,
            desired >> 20
        ));
    }
    if state.cpu.exhausted {
        return CallError::Sandbox(format!(
            "{call}: the connector used more than its CPU-time budget of {} s in one call and was stopped",
            state.cpu.budget_ticks * TICK.as_millis() as u64 / 1000
        ));
    }
    if state.cpu.run_exhausted {
        return CallError::Sandbox(format!(
            "{call}: the connector used more than its CPU-time budget of {} s for the whole run (--max-run-cpu-seconds) and was stopped",
            state.cpu.run_budget_ticks * TICK.as_millis() as u64 / 1000
        ));
    }
    if is_hostcall_fuel_exhausted(&trap) {
        return CallError::Sandbox(format!(
            "{call}: resource exhausted: the connector passed more than {} MiB in one call, over the budget of one call's data (--max-call-mb, or limits.max_call_mb of a tenant); it was stopped",
            state.call_bytes >> 20
        ));
    }
    CallError::Sandbox(format!("{call}: the connector component crashed: {trap:#}"))
}

/// Whether wasmtime stopped a call because it copied more than the store's hostcall fuel
/// ([`Limits::call_bytes`]) between guest and host. wasmtime does not export the error's type,
/// so its message is matched; the sandbox tests pin it.
fn is_hostcall_fuel_exhausted(trap: &wasmtime::Error) -> bool {
    trap.chain().any(|cause| cause.to_string().contains("fuel allocated for hostcalls has been exhausted"))
}

/// A one-line description of a typed connector error.
pub fn describe(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Unauthenticated(m) => format!("unauthenticated: {m}"),
        ConnectorError::PermissionDenied(m) => format!("permission denied: {m}"),
        ConnectorError::NotFound(m) => format!("not found: {m}"),
        ConnectorError::RateLimited(r) => format!("rate limited (retry after {} ms): {}", r.retry_after_ms, r.message),
        ConnectorError::Unavailable(m) => format!("unavailable: {m}"),
        ConnectorError::InvalidArgument(m) => format!("invalid argument: {m}"),
        ConnectorError::Unimplemented(m) => format!("not supported: {m}"),
        ConnectorError::AlreadyExists(m) => format!("already exists: {m}"),
        ConnectorError::ResourceExhausted(m) => format!("a limit is used up: {m}"),
        ConnectorError::Denied(m) => format!("refused by the host: {m}"),
        ConnectorError::Internal(m) => format!("internal error: {m}"),
    }
}
