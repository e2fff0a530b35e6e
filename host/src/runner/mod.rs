//! The multi-tenant runner, `serve --tenants FILE`: one process syncing many tenants'
//! connectors side by side, each isolated from the others. One wasmtime engine (pooling
//! allocator) compiles each distinct component once; every tenant has its own settings and
//! secrets, egress policy and credentials, pooled HTTP client, limits, key-value store, output
//! folder and log label (`tenant=NAME` on every line). Nothing here knows what a component
//! connects to.
//!
//! - [`tenants`]: the file, checked; [`output`]: a tenant's folder and the files kept;
//!   [`metrics`]: `/metrics`; [`shard`]: which tenants this replica takes.
//!
//! The loop: each tenant is synced when due (at start, then every `interval`), at most
//! `max_concurrent_syncs` at once and within a process-wide bound on instances alive.
//! SIGHUP, or a change of the file, reloads it without stopping running syncs; SIGTERM stops
//! starting new ones and lets running ones finish within the grace period. `--once` syncs
//! every tenant one time and exits, non-zero if any failed or was refused.

pub mod memory;
pub mod metrics;
pub mod output;
pub mod policy;
pub mod shard;
pub mod tenants;
pub mod thread;

use crate::connector::Connector;
use crate::product::Product;
use crate::registry::{self, RegistryOptions};
use crate::service::health::{self, Health};
use crate::{outbound, settings};
use anyhow::{Context, Result, anyhow};
use baton_sandbox::runtime::{Limits, Runtime};
use baton_sandbox::{Pooling, Sandbox, wit};
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use memory::MemoryBudget;
use metrics::{LiveSync, Metrics, SyncRecord};
use output::TenantFolder;
use shard::Shard;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tenants::{ComponentSource, Refusal, Tenant, Tenants};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

/// What `serve` was asked.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub tenants_file: PathBuf,
    /// Sync every tenant once and exit.
    pub once: bool,
    /// Only check the file (see [`check`]).
    pub check: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, if anywhere.
    pub listen: Option<SocketAddr>,
    pub shard: Shard,
    /// On SIGTERM, how long running syncs may go on.
    pub grace: Duration,
    /// Component instances alive at once, all tenants together (the pooling allocator's size).
    pub max_instances: u32,
    /// How `oci://` components are pulled.
    pub registry: RegistryOptions,
}

/// How often the file is checked for changes.
const FILE_CHECK: Duration = Duration::from_secs(5);

/// How a `serve` ended: with `--once`, a line per tenant and the names of those that failed
/// or were refused.
#[derive(Debug, Default)]
pub struct ServeOutcome {
    pub report: String,
    pub failed: Vec<String>,
    pub total: usize,
}

/// Runs the tenants of `options.tenants_file`.
pub async fn serve(product: &Product, options: ServeOptions) -> Result<ServeOutcome> {
    let file = tenants::load(&options.tenants_file)?;
    if options.check {
        return Ok(check(file, options.shard));
    }
    let sandbox = Sandbox::new(product.name, Some(Pooling { instances: options.max_instances }))?;
    let runner = Runner {
        product: *product,
        sandbox,
        components: Mutex::new(HashMap::new()),
        metrics: Metrics::default(),
        instances: Arc::new(Semaphore::new(options.max_instances as usize)),
        memory: Mutex::new(Arc::new(MemoryBudget::for_process(file.max_memory_mb))),
        max_instances: options.max_instances as usize,
        health: Arc::new(Health::default()),
        refused: Mutex::new(Vec::new()),
        registry: options.registry.clone(),
        pinned: Mutex::new(HashMap::new()),
    };
    let runner = Arc::new(runner);
    if let Some(address) = options.listen {
        let bound = runner.clone().serve_http(address).await?;
        tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    }
    if options.once {
        Ok(runner.once(file, &options).await)
    } else {
        runner.run_until_stopped(file, &options).await?;
        Ok(ServeOutcome::default())
    }
}

/// `--check`: a line per tenant this replica takes, as it would run or why it is refused.
fn check(file: Tenants, shard: Shard) -> ServeOutcome {
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    for tenant in file.tenants.iter().filter(|t| shard.takes(&t.name)) {
        let component = match &tenant.component {
            ComponentSource::Builtin => "the built-in component".to_string(),
            ComponentSource::File(path) => path.display().to_string(),
            ComponentSource::Registry(reference) => reference.clone(),
        };
        let mode =
            if tenant.c1.is_some() { "service mode for ConductorOne".to_string() } else { format!("every {}", humantime::format_duration(tenant.interval)) };
        lines.insert(tenant.name.clone(), format!("{}: ok: {component}, {mode}", tenant.name));
    }
    let refused: Vec<&Refusal> = file.refused.iter().filter(|r| shard.takes(&r.tenant)).collect();
    for refusal in &refused {
        lines.insert(refusal.tenant.clone(), format!("{}: refused: {}", refusal.tenant, refusal.reason));
    }
    let total = lines.len();
    let mut report = lines.into_values().collect::<Vec<_>>().join("\n");
    report.push('\n');
    let mut failed: Vec<String> = refused.iter().map(|r| r.tenant.clone()).collect();
    failed.sort();
    ServeOutcome { report, failed, total }
}

/// A component loaded, with what it declares.
#[derive(Clone)]
struct Loaded {
    runtime: Runtime,
    metadata: wit::Metadata,
    types: Vec<wit::ResourceType>,
}

/// What every tenant's run shares: the engine, the components, the counters.
struct Runner {
    product: Product,
    sandbox: Sandbox,
    /// By the path (or pinned reference) they came from and the digest of their bytes then.
    components: Mutex<HashMap<String, Loaded>>,
    /// How `oci://` components are pulled.
    registry: RegistryOptions,
    /// Each `oci://` reference of the tenants, as resolved at its first use.
    pinned: Mutex<HashMap<String, String>>,
    metrics: Metrics,
    /// One permit per instance alive.
    instances: Arc<Semaphore>,
    /// What running syncs may claim of the process's memory (replaced when the file's
    /// `max_memory_mb` changes).
    memory: Mutex<Arc<MemoryBudget>>,
    max_instances: usize,
    health: Arc<Health>,
    /// Tenants of the current file that cannot run, for the metrics.
    refused: Mutex<Vec<Refusal>>,
}

/// A component file's bytes and the name it goes by in messages.
fn read_component(path: &std::path::Path) -> Result<(Vec<u8>, String)> {
    Ok((crate::component::read(path)?, path.display().to_string()))
}

/// Stops a service mode running on its own thread when dropped.
struct StopWhenDropped(AbortHandle);

impl Drop for StopWhenDropped {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Rows a sync wrote so far, as the sync engine tells them.
#[derive(Default)]
struct RowsWritten(Arc<std::sync::atomic::AtomicU64>);

impl baton_sync::Observer for RowsWritten {
    fn listing(&self, _: &str, _: usize) {}
    fn fetching(&self, _: &str, _: usize, _: usize) {}
    fn wrote(&self, rows: u64) {
        self.0.store(rows, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The counters of a sync in `context` that `/metrics` reads while it runs.
fn live_sync(context: &baton_sandbox::InstanceContext, rows: &RowsWritten) -> LiveSync {
    let hooks = context.hooks.clone();
    LiveSync {
        egress: Arc::new(move || hooks.report()),
        cpu_ticks: context.cpu_spent.clone(),
        tick: baton_sandbox::epoch::TICK,
        memory: context.memory_in_use.clone(),
        rows: rows.0.clone(),
    }
}

/// How one tenant's sync ended.
struct Outcome {
    tenant: String,
    result: Result<String>,
}

impl Runner {
    /// `--once`: every tenant of this replica one time.
    async fn once(self: &Arc<Self>, file: Tenants, options: &ServeOptions) -> ServeOutcome {
        let (mine, refused) = self.select(file, options.shard);
        let syncs = Arc::new(Semaphore::new(mine.max_concurrent_syncs));
        let mut running: FuturesUnordered<_> = mine.tenants.iter().map(|tenant| self.sync_when_allowed(tenant.clone(), mine.shared(), syncs.clone())).collect();
        let mut failed: Vec<String> = refused.iter().map(|r| r.tenant.clone()).collect();
        let mut lines: BTreeMap<String, String> = refused.iter().map(|r| (r.tenant.clone(), format!("{}: refused: {}", r.tenant, r.reason))).collect();
        while let Some(outcome) = running.next().await {
            let line = match &outcome.result {
                Ok(summary) => format!("{}: {summary}", outcome.tenant),
                Err(error) => {
                    failed.push(outcome.tenant.clone());
                    format!("{}: failed: {error:#}", outcome.tenant)
                }
            };
            lines.insert(outcome.tenant, line);
        }
        let mut report = lines.into_values().collect::<Vec<_>>().join("\n");
        report.push('\n');
        failed.sort();
        ServeOutcome { report, failed, total: mine.tenants.len() + refused.len() }
    }

    /// The scheduled loop, until SIGTERM.
    async fn run_until_stopped(self: &Arc<Self>, file: Tenants, options: &ServeOptions) -> Result<()> {
        let mut shutdown = std::pin::pin!(crate::service::shutdown_signal());
        let mut hangup = hangup_signal()?;
        let mut written = modified(&options.tenants_file);
        let (mut current, _) = self.select(file, options.shard);
        let mut syncs = Arc::new(Semaphore::new(current.max_concurrent_syncs));
        let mut due: HashMap<String, Instant> = current.tenants.iter().map(|t| (t.name.clone(), Instant::now())).collect();
        let mut running = FuturesUnordered::new();
        let mut busy: Vec<String> = Vec::new();
        let mut services = Services::default();
        self.health.set_ready(true);
        loop {
            self.health.polled();
            services.follow(&current.tenants, |tenant| self.serve_c1(tenant, options.grace));
            let now = Instant::now();
            let ready: Vec<&Tenant> =
                current.tenants.iter().filter(|t| t.c1.is_none() && due.get(&t.name).is_some_and(|at| *at <= now) && !busy.contains(&t.name)).collect();
            for tenant in ready {
                due.insert(tenant.name.clone(), now + tenant.interval);
                busy.push(tenant.name.clone());
                running.push(self.sync_when_allowed(tenant.clone(), current.shared(), syncs.clone()));
            }
            let next_due = due.values().min().copied().unwrap_or(now + FILE_CHECK).min(now + FILE_CHECK);
            tokio::select! {
                _ = &mut shutdown => break,
                Some(outcome) = running.next(), if !running.is_empty() => {
                    busy.retain(|name| *name != outcome.tenant);
                    if let Err(error) = &outcome.result {
                        tracing::warn!(tenant = %outcome.tenant, "sync failed: {error:#}");
                    }
                }
                Some(ended) = services.running.next(), if !services.running.is_empty() => services.ended(ended),
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading the tenants file");
                    written = modified(&options.tenants_file);
                    self.reload(options, &mut current, &mut due, &mut syncs);
                }
                _ = tokio::time::sleep_until(next_due) => {
                    let now_written = modified(&options.tenants_file);
                    if now_written != written {
                        written = now_written;
                        tracing::info!("the tenants file changed: reloading it");
                        self.reload(options, &mut current, &mut due, &mut syncs);
                    }
                }
            }
        }
        self.health.set_ready(false);
        if !running.is_empty() || !services.running.is_empty() {
            tracing::info!(
                syncs = running.len(),
                services = services.running.len(),
                grace_s = options.grace.as_secs(),
                "waiting for running syncs and services"
            );
            let drained = async {
                // Service mode drains itself on the same SIGTERM, within the same grace period.
                tokio::join!(async { while running.next().await.is_some() {} }, async { while services.running.next().await.is_some() {} });
            };
            if tokio::time::timeout(options.grace + Duration::from_secs(1), drained).await.is_err() {
                tracing::warn!("the grace period is over: stopping the syncs still running (their files are left as they were)");
            }
        }
        Ok(())
    }

    /// Reads the file again; a file that cannot be read leaves everything as it was. Tenants
    /// that stay keep their schedule, new ones are due now, removed ones are not started again.
    fn reload(&self, options: &ServeOptions, current: &mut Tenants, due: &mut HashMap<String, Instant>, syncs: &mut Arc<Semaphore>) {
        let file = match tenants::load(&options.tenants_file) {
            Ok(file) => file,
            Err(why) => {
                tracing::error!("{why}; the tenants stay as they were");
                return;
            }
        };
        let (file, _) = self.select(file, options.shard);
        due.retain(|name, _| file.tenants.iter().any(|t| t.name == *name));
        for tenant in &file.tenants {
            due.entry(tenant.name.clone()).or_insert_with(Instant::now);
        }
        if file.max_memory_mb != current.max_memory_mb
            && let Ok(mut memory) = self.memory.lock()
        {
            *memory = Arc::new(MemoryBudget::for_process(file.max_memory_mb));
        }
        if file.max_concurrent_syncs != current.max_concurrent_syncs {
            *syncs = Arc::new(Semaphore::new(file.max_concurrent_syncs));
        }
        tracing::info!(tenants = file.tenants.len(), refused = file.refused.len(), "tenants file loaded");
        *current = file;
    }

    /// The tenants of this replica, and the refusals (logged, and kept for the metrics).
    fn select(&self, mut file: Tenants, shard: Shard) -> (Tenants, Vec<Refusal>) {
        file.tenants.retain(|t| shard.takes(&t.name));
        file.refused.retain(|r| shard.takes(&r.tenant));
        for refusal in &file.refused {
            tracing::error!(tenant = %refusal.tenant, "tenant refused: {}", refusal.reason);
        }
        if let Ok(mut refused) = self.refused.lock() {
            refused.clone_from(&file.refused);
        }
        let refused = std::mem::take(&mut file.refused);
        (file, refused)
    }

    /// Syncs `tenant` once a place among the concurrent syncs is free, on a thread of its own
    /// at its CPU weight (see [`thread`]).
    fn sync_when_allowed(self: &Arc<Self>, tenant: Tenant, file: Tenants, syncs: Arc<Semaphore>) -> impl Future<Output = Outcome> + use<> {
        let runner = Arc::clone(self);
        async move {
            let name = tenant.name.clone();
            let result = async {
                let asked = Instant::now();
                let _place = syncs.acquire().await.map_err(|_| anyhow!("the runner is stopping"))?;
                runner.metrics.waited_for_slot(&name, asked.elapsed());
                let weight = tenant.limits.resolve(runner.max_instances).cpu_weight;
                thread::run_on_own_thread(&name, weight, thread::Watch::LowerWhenHungry, move || async move { runner.sync_and_record(&tenant, &file).await })
                    .await?
            };
            let result = result.await;
            // The sync and its threads are gone: what they freed goes back to the system.
            memory::give_back_freed_memory();
            Outcome { tenant: name, result }
        }
    }

    /// Syncs `tenant` and counts the sync in the metrics; its summary line.
    async fn sync_and_record(&self, tenant: &Tenant, file: &Tenants) -> Result<String> {
        let span = tracing::info_span!("tenant", tenant = %tenant.name);
        async {
            self.metrics.running(1);
            let started = Instant::now();
            let result = self.sync(tenant, file).await;
            let took = started.elapsed();
            self.metrics.running(-1);
            let (summary, bytes) = match result {
                Ok((summary, bytes)) => (Ok(format!("{summary} in {:.2} s", took.as_secs_f64())), bytes),
                Err(error) => (Err(anyhow!("{error:#}")), 0),
            };
            self.metrics.record(&SyncRecord { tenant: &tenant.name, succeeded: summary.is_ok(), took, bytes_written: bytes });
            summary
        }
        .instrument(span)
        .await
    }

    /// One sync of `tenant` into its folder, counted in the metrics as it goes: a summary line
    /// and the bytes written.
    async fn sync(&self, tenant: &Tenant, file: &Tenants) -> Result<(String, u64)> {
        let loaded = self.component(&tenant.component, tenant.verify_key.as_deref()).await?;
        let mut connector = self.connector(tenant, &loaded)?;
        let _claim = self.admit_memory(&tenant.name, &mut connector).await?;
        let context = connector.sync_context();
        let folder = TenantFolder::prepare(&file.output_dir, &tenant.name)?;
        let _instances = self.instances.acquire_many(connector.limits.concurrency as u32).await.map_err(|_| anyhow!("the runner is stopping"))?;
        // Held before the folder is touched: another process's sync of the same folder keeps its
        // file kept aside.
        let _lock = connector.lock_output(&folder.newest()).await?;
        folder.before_sync(file.keep_last)?;
        let rows = RowsWritten::default();
        let _counted = self.metrics.live(&tenant.name, live_sync(&context, &rows));
        let (newest, options) = (folder.newest(), baton_sync::SyncOptions::default());
        let sync = connector.sync_locked(&context, &newest, &options, &rows);
        let report = match connector.limits.folder_bytes {
            None => sync.await,
            Some(budget) => tokio::select! {
                report = sync => report,
                held = folder.over_budget(budget) => Err(anyhow!(
                    "resource exhausted: the tenant's folder {} holds {} MiB, over its budget of {} MiB (limits.max_disk_mb); the sync was stopped and the last good file kept",
                    folder.path().display(), held >> 20, budget >> 20
                )),
            },
        };
        let egress = context.hooks.report();
        let kept = folder.after_sync(report.is_ok(), file.keep_last);
        let report = report?;
        kept?;
        let summary = &report.summary;
        let line = format!(
            "synced {} resources, {} entitlements, {} grants -> {} ({} bytes); {} requests, {} retries",
            summary.resources,
            summary.entitlements,
            summary.grants,
            folder.newest().display(),
            summary.file_bytes,
            egress.requests,
            egress.retries
        );
        Ok((line, summary.file_bytes))
    }

    /// Waits until `connector`'s instances fit the process's memory budget (see [`memory`]),
    /// counting the wait; its concurrency becomes the instances admitted. The claim is held
    /// until the returned value is dropped.
    async fn admit_memory(&self, tenant: &str, connector: &mut Connector<'_>) -> Result<memory::Admitted> {
        let budget = self.memory.lock().map(|m| m.clone()).map_err(|_| anyhow!("the runner's memory budget is unreadable"))?;
        let asked = Instant::now();
        let admitted = budget.admit(&connector.limits).await?;
        self.metrics.waited_for_memory(tenant, asked.elapsed());
        connector.limits.concurrency = admitted.instances;
        Ok(admitted)
    }

    /// Service mode for a tenant with ConductorOne credentials, until SIGTERM (or until its
    /// tenant changes). Its instances are reserved for as long as it runs.
    /// [`Self::serve_c1_here`] on a thread of its own at the tenant's CPU weight (not lowered
    /// when busy: service mode lasts, and a lowered thread cannot be raised again); it stops
    /// when the returned future is dropped (its tenant changed or is gone).
    fn serve_c1(self: &Arc<Self>, tenant: Tenant, grace: Duration) -> impl Future<Output = (String, Result<()>)> + use<> {
        let runner = Arc::clone(self);
        async move {
            let name = tenant.name.clone();
            let weight = tenant.limits.resolve(runner.max_instances).cpu_weight;
            let (stop, registration) = AbortHandle::new_pair();
            let _stop_when_dropped = StopWhenDropped(stop);
            let served = thread::run_on_own_thread(&name, weight, thread::Watch::WeightOnly, move || async move {
                Abortable::new(runner.serve_c1_here(tenant, grace), registration).await.unwrap_or(Ok(()))
            })
            .await;
            (name, served.and_then(|result| result))
        }
    }

    /// Service mode for a tenant with ConductorOne credentials, on the calling thread.
    async fn serve_c1_here(&self, tenant: Tenant, grace: Duration) -> Result<()> {
        let span = tracing::info_span!("tenant", tenant = %tenant.name);
        async {
            let c1 = tenant.c1.as_ref().ok_or_else(|| anyhow!("no [tenant.c1]"))?;
            let loaded = self.component(&tenant.component, tenant.verify_key.as_deref()).await?;
            let mut connector = self.connector(&tenant, &loaded)?;
            // Held for as long as service mode runs, as its instances are.
            let _claim = self.admit_memory(&tenant.name, &mut connector).await?;
            let _instances = self.instances.acquire_many(connector.limits.concurrency as u32).await.map_err(|_| anyhow!("the runner is stopping"))?;
            let options = crate::service::ServiceOptions {
                client_id: c1.client_id.clone(),
                client_secret: tenants::read_secret("c1.client_secret", &c1.client_secret)?,
                api_host: c1.api_host.clone(),
                ca_file: c1.ca_file.clone(),
                plaintext_loopback: c1.plaintext_loopback,
                host_id: Some(format!("{}/{}", crate::service::hello::host_id(None), tenant.name)),
                health_check: None,
                task_concurrency: c1.task_concurrency,
                grace,
                provisioning: c1.provisioning,
                program: format!("{}/{}", self.product.name, self.product.version),
            };
            crate::service::run(&connector, &loaded.metadata, &loaded.types, options).await
        }
        .instrument(span)
        .await
    }

    /// The connector of `tenant`: its settings checked against the component's schema (secrets
    /// read now), its limits, its own pooled client.
    fn connector<'a>(&self, tenant: &Tenant, loaded: &'a Loaded) -> Result<Connector<'a>> {
        let values = tenant.values(&loaded.metadata)?;
        let settings = settings::resolve(&loaded.metadata, values)?;
        let limits = tenant.limits.resolve(self.max_instances);
        let connection = tenant.connection_flags()?;
        let outbound = outbound::client(&settings.origin, &connection, limits.concurrency)?;
        Ok(Connector { runtime: &loaded.runtime, limits, settings, outbound, strict: false, lock_wait: Duration::ZERO })
    }

    /// The component `source` names, compiled once per content (a file replaced by another
    /// build is compiled again), with its declared metadata.
    async fn component(&self, source: &ComponentSource, verify_key: Option<&std::path::Path>) -> Result<Loaded> {
        let (bytes, name) = match source {
            ComponentSource::Builtin => read_component(&self.product.builtin_component()?)?,
            ComponentSource::File(path) => read_component(path)?,
            ComponentSource::Registry(reference) => self.pull(reference, verify_key).await?,
        };
        let key = format!("{name}@{}", baton_sandbox::engine::digest(&bytes));
        if let Some(loaded) = self.components.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(loaded);
        }
        if !self.sandbox.is_prepared(&bytes) {
            tracing::info!(component = %name, "preparing the component for this machine (once per component: later starts reuse it from the cache)");
        }
        let runtime = self.sandbox.load(&bytes, &name)?;
        let _instance = self.instances.acquire().await.map_err(|_| anyhow!("the runner is stopping"))?;
        let mut offline = runtime.instantiate(crate::connector::offline_context(), &Limits::default()).await?;
        let described = |e| anyhow!("the component {name} did not describe itself: {e}");
        let metadata = offline.metadata().await.map_err(described)?;
        let types = offline.resource_types().await.map_err(described)?;
        let loaded = Loaded { runtime, metadata, types };
        if let Ok(mut components) = self.components.lock() {
            components.insert(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// The component `reference` names, from the registry through the cache. A tag is resolved
    /// once per start: later syncs use the digest it resolved to (from the cache, offline).
    async fn pull(&self, reference: &str, verify_key: Option<&std::path::Path>) -> Result<(Vec<u8>, String)> {
        let pinned = self.pinned.lock().ok().and_then(|p| p.get(reference).cloned());
        let options =
            RegistryOptions { verify_key: verify_key.map(|key| key.to_path_buf()).or_else(|| self.registry.verify_key.clone()), ..self.registry.clone() };
        let pulled = registry::pull(pinned.as_deref().unwrap_or(reference), &options, self.product.name).await?;
        if pinned.is_none() {
            tracing::info!(component = %reference, pinned = %pulled.pinned, "the tenant's component reference resolved");
            if let Ok(mut map) = self.pinned.lock() {
                map.insert(reference.to_string(), pulled.pinned.clone());
            }
        }
        Ok((pulled.bytes, pulled.pinned))
    }

    /// `/metrics`, `/healthz` and `/readyz` on `address`.
    async fn serve_http(self: Arc<Self>, address: SocketAddr) -> Result<SocketAddr> {
        use axum::routing::get;
        let runner = self.clone();
        let metrics = axum::Router::new().route(
            "/metrics",
            get(move || {
                let runner = runner.clone();
                async move {
                    let refused = runner.refused.lock().map(|r| r.len()).unwrap_or_default();
                    runner.metrics.set_process(runner.max_instances - runner.instances.available_permits(), runner.sandbox.compiled(), refused);
                    if let Ok(memory) = runner.memory.lock() {
                        runner.metrics.set_memory(memory.bytes(), u64::from(memory.claimed_mib()) << 20);
                    }
                    ([(http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], runner.metrics.render())
                }
            }),
        );
        health::serve_app(address, health::router(self.health.clone()).merge(metrics), "change --listen").await
    }
}

/// The service-mode tenants running, each abortable when its tenant changes or goes.
struct Services<F> {
    running: FuturesUnordered<Abortable<F>>,
    started: HashMap<String, (Tenant, AbortHandle)>,
}

impl<F> Default for Services<F> {
    fn default() -> Services<F> {
        Services { running: FuturesUnordered::new(), started: HashMap::new() }
    }
}

impl<F: Future<Output = (String, Result<()>)>> Services<F> {
    /// Starts the service-mode tenants of `tenants` not running as they are written now, and
    /// stops those that changed or are gone.
    fn follow(&mut self, tenants: &[Tenant], start: impl Fn(Tenant) -> F) {
        self.started.retain(|name, (running, handle)| {
            let same = tenants.iter().any(|t| t == running && t.name == *name);
            if !same {
                tracing::info!(tenant = %name, "its tenant changed or is gone: stopping its service mode");
                handle.abort();
            }
            same
        });
        let new: Vec<&Tenant> = tenants.iter().filter(|t| t.c1.is_some() && !self.started.contains_key(&t.name)).collect();
        for tenant in new {
            let (future, handle) = futures_util::future::abortable(start(tenant.clone()));
            self.started.insert(tenant.name.clone(), (tenant.clone(), handle));
            self.running.push(future);
        }
    }

    /// A service mode that ended by itself (an error) is logged; it starts again only when its
    /// tenant changes in the file.
    fn ended(&mut self, ended: Result<(String, Result<()>), futures_util::future::Aborted>) {
        if let Ok((tenant, Err(error))) = ended {
            tracing::error!(tenant = %tenant, "service mode stopped: {error:#}; it starts again when its tenant changes in the tenants file");
        }
    }
}

impl Tenants {
    /// The file-wide settings a sync needs, without the tenant list.
    fn shared(&self) -> Tenants {
        Tenants {
            output_dir: self.output_dir.clone(),
            max_concurrent_syncs: self.max_concurrent_syncs,
            keep_last: self.keep_last,
            max_memory_mb: self.max_memory_mb,
            tenants: vec![],
            refused: vec![],
        }
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// SIGHUP, as a stream of signals (never on other platforms).
fn hangup_signal() -> Result<Hangup> {
    #[cfg(unix)]
    {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        Ok(Hangup { signal })
    }
    #[cfg(not(unix))]
    Ok(Hangup {})
}

struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}
