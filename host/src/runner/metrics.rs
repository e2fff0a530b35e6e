//! What the runner tells Prometheus on `/metrics` (OpenMetrics text, which Prometheus reads):
//! per tenant, syncs by result, the last success, sync durations, requests by status class,
//! refused and retried, rate-limit waits, rows and bytes written, guest CPU seconds, memory in
//! use and time waiting for a place among the concurrent syncs; for the process, instances
//! alive, components compiled and tenants refused. Every series carries the tenant's name,
//! nothing else of it. What a running sync does shows while it runs: its shared counters
//! ([`LiveSync`]) are read at each scrape and what they gained since is added.

use baton_sandbox::retry::EgressReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    tenant: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    tenant: String,
    class: String,
}

/// The names of [`EgressReport::by_status_class`]'s slots.
const CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every series, registered once.
pub struct Metrics {
    registry: Registry,
    syncs: Family<ResultLabel, Counter>,
    last_success: Family<TenantLabel, Gauge>,
    duration: Family<TenantLabel, Histogram, fn() -> Histogram>,
    requests: Family<ClassLabel, Counter>,
    retries: Family<TenantLabel, Counter>,
    rate_limit_waits: Family<TenantLabel, Counter>,
    bytes_written: Family<TenantLabel, Counter>,
    refused_requests: Family<TenantLabel, Counter>,
    rows_written: Family<TenantLabel, Counter>,
    guest_cpu: Family<TenantLabel, Counter<f64, AtomicU64>>,
    memory: Family<TenantLabel, Gauge>,
    slot_wait: Family<TenantLabel, Counter<f64, AtomicU64>>,
    memory_wait: Family<TenantLabel, Counter<f64, AtomicU64>>,
    memory_budget: Gauge,
    memory_claimed: Gauge,
    /// The running syncs, by tenant, and what of them is already counted.
    live: Mutex<HashMap<String, (LiveSync, Counted)>>,
    instances: Gauge,
    compiled: Gauge,
    refused: Gauge,
    running: Gauge,
}

/// What one sync of a tenant did (what it sent is counted from its [`LiveSync`]).
pub struct SyncRecord<'a> {
    pub tenant: &'a str,
    pub succeeded: bool,
    pub took: Duration,
    pub bytes_written: u64,
}

/// The counters a running sync shares with the sandbox and the sync engine, read at each scrape.
#[derive(Clone)]
pub struct LiveSync {
    /// What its requests did so far.
    pub egress: Arc<dyn Fn() -> EgressReport + Send + Sync>,
    /// Guest CPU so far, in epoch ticks of `tick`.
    pub cpu_ticks: Arc<AtomicU64>,
    pub tick: Duration,
    /// Bytes its instances hold now.
    pub memory: Arc<AtomicU64>,
    /// Rows written so far.
    pub rows: Arc<AtomicU64>,
}

/// Counts a sync's last steps when it ends (see [`Metrics::live`]).
struct SyncEnded<'a> {
    metrics: &'a Metrics,
    tenant: &'a str,
}

impl Drop for SyncEnded<'_> {
    fn drop(&mut self) {
        self.metrics.sync_ended(self.tenant);
    }
}

/// What of a [`LiveSync`] the counters already hold.
#[derive(Default, Clone, Copy)]
struct Counted {
    egress: EgressReport,
    cpu_ticks: u64,
    rows: u64,
}

fn duration_histogram() -> Histogram {
    // 1 s to about 9 hours.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("baton_runner");
        let metrics = Metrics {
            syncs: Family::default(),
            last_success: Family::default(),
            duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            requests: Family::default(),
            retries: Family::default(),
            rate_limit_waits: Family::default(),
            bytes_written: Family::default(),
            refused_requests: Family::default(),
            rows_written: Family::default(),
            guest_cpu: Family::default(),
            memory: Family::default(),
            slot_wait: Family::default(),
            memory_wait: Family::default(),
            memory_budget: Gauge::default(),
            memory_claimed: Gauge::default(),
            live: Mutex::default(),
            instances: Gauge::default(),
            compiled: Gauge::default(),
            refused: Gauge::default(),
            running: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("syncs", "Syncs finished, by tenant and result (success or failure)", metrics.syncs.clone());
        registry.register("last_success_timestamp_seconds", "When the tenant's last successful sync finished (Unix time)", metrics.last_success.clone());
        registry.register("sync_duration_seconds", "How long the tenant's syncs took", metrics.duration.clone());
        registry.register("requests", "Requests to the tenant's source, by status class (none: no answer)", metrics.requests.clone());
        registry.register("retries", "Requests sent again", metrics.retries.clone());
        registry.register("rate_limit_waits", "Waits the source asked for (429, 503, rate-limit headers)", metrics.rate_limit_waits.clone());
        registry.register("bytes_written", "Bytes of .c1z files written", metrics.bytes_written.clone());
        registry.register("refused_requests", "Requests the egress policy refused before they were sent", metrics.refused_requests.clone());
        registry.register("rows_written", "Rows written into .c1z files, counted as syncs go", metrics.rows_written.clone());
        registry.register("guest_cpu_seconds", "CPU time the tenant's connector instances used", metrics.guest_cpu.clone());
        registry.register("memory_bytes", "Memory the tenant's running connector instances hold now", metrics.memory.clone());
        registry.register("sync_slot_wait_seconds", "Time the tenant's syncs waited for a place among the concurrent syncs", metrics.slot_wait.clone());
        registry.register(
            "memory_wait_seconds",
            "Time the tenant's syncs waited for their claim to fit the process's memory budget",
            metrics.memory_wait.clone(),
        );
        registry.register("memory_budget_bytes", "The process's memory budget for running syncs", metrics.memory_budget.clone());
        registry.register("memory_claimed_bytes", "What running syncs claim of the memory budget now", metrics.memory_claimed.clone());
        registry.register("instances", "Connector instances alive", metrics.instances.clone());
        registry.register("compiled_components", "Distinct components compiled", metrics.compiled.clone());
        registry.register("tenants_refused", "Tenants of the tenants file that cannot run as written", metrics.refused.clone());
        registry.register("syncs_running", "Syncs running now", metrics.running.clone());
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    /// Counts one finished sync.
    pub fn record(&self, sync: &SyncRecord<'_>) {
        let tenant = || TenantLabel { tenant: sync.tenant.to_string() };
        let result = if sync.succeeded { "success" } else { "failure" };
        self.syncs.get_or_create(&ResultLabel { tenant: sync.tenant.to_string(), result: result.into() }).inc();
        self.duration.get_or_create(&tenant()).observe(sync.took.as_secs_f64());
        if sync.succeeded {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            self.last_success.get_or_create(&tenant()).set(now as i64);
        }
        self.bytes_written.get_or_create(&tenant()).inc_by(sync.bytes_written);
    }

    /// A sync of `tenant` started: its counters show from now on, until the returned guard is
    /// dropped (the sync ended).
    pub fn live<'a>(&'a self, tenant: &'a str, live: LiveSync) -> impl Drop + 'a {
        if let Ok(mut running) = self.live.lock() {
            running.insert(tenant.to_string(), (live, Counted::default()));
        }
        SyncEnded { metrics: self, tenant }
    }

    /// The sync of `tenant` ended: what it did since the last scrape is counted, its memory
    /// shows as none.
    fn sync_ended(&self, tenant: &str) {
        let ended = self.live.lock().ok().and_then(|mut running| running.remove(tenant));
        if let Some((live, counted)) = ended {
            self.count_live(tenant, &live, counted);
            self.memory.get_or_create(&TenantLabel { tenant: tenant.to_string() }).set(0);
        }
    }

    /// Time a sync of `tenant` waited for its place.
    pub fn waited_for_slot(&self, tenant: &str, waited: Duration) {
        self.slot_wait.get_or_create(&TenantLabel { tenant: tenant.to_string() }).inc_by(waited.as_secs_f64());
    }

    /// Time a sync of `tenant` waited for its claim to fit the memory budget.
    pub fn waited_for_memory(&self, tenant: &str, waited: Duration) {
        self.memory_wait.get_or_create(&TenantLabel { tenant: tenant.to_string() }).inc_by(waited.as_secs_f64());
    }

    /// The memory budget and what running syncs claim of it now.
    pub fn set_memory(&self, budget_bytes: u64, claimed_bytes: u64) {
        self.memory_budget.set(budget_bytes as i64);
        self.memory_claimed.set(claimed_bytes as i64);
    }

    /// Adds what every running sync did since it was last counted.
    fn count_running(&self) {
        let Ok(mut running) = self.live.lock() else { return };
        for (tenant, (live, counted)) in running.iter_mut() {
            *counted = self.count_live(tenant, live, *counted);
        }
    }

    /// Adds what `live` gained over `counted`; what is counted now.
    fn count_live(&self, tenant: &str, live: &LiveSync, counted: Counted) -> Counted {
        let label = TenantLabel { tenant: tenant.to_string() };
        let now = Counted { egress: (live.egress)(), cpu_ticks: live.cpu_ticks.load(Ordering::Relaxed), rows: live.rows.load(Ordering::Relaxed) };
        let gained = |now: u64, then: u64| now.saturating_sub(then);
        for ((class, now), then) in CLASSES.iter().zip(now.egress.by_status_class).zip(counted.egress.by_status_class) {
            if now > then {
                self.requests.get_or_create(&ClassLabel { tenant: tenant.to_string(), class: class.to_string() }).inc_by(now - then);
            }
        }
        self.retries.get_or_create(&label).inc_by(gained(now.egress.retries, counted.egress.retries));
        self.rate_limit_waits.get_or_create(&label).inc_by(gained(now.egress.rate_limit_waits, counted.egress.rate_limit_waits));
        self.refused_requests.get_or_create(&label).inc_by(gained(now.egress.refused, counted.egress.refused));
        self.rows_written.get_or_create(&label).inc_by(gained(now.rows, counted.rows));
        let cpu_ticks = gained(now.cpu_ticks, counted.cpu_ticks);
        self.guest_cpu.get_or_create(&label).inc_by((live.tick * cpu_ticks as u32).as_secs_f64());
        self.memory.get_or_create(&label).set(live.memory.load(Ordering::Relaxed) as i64);
        now
    }

    /// One sync more (or less) running.
    pub fn running(&self, delta: i64) {
        self.running.inc_by(delta);
    }

    /// The process-wide numbers, set just before they are read.
    pub fn set_process(&self, instances: usize, compiled: usize, refused: usize) {
        self.instances.set(instances as i64);
        self.compiled.set(compiled as i64);
        self.refused.set(refused as i64);
    }

    /// The exposition text, running syncs counted up to now.
    pub fn render(&self) -> String {
        self.count_running();
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text = "# the metrics could not be encoded\n".into();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(egress: EgressReport, cpu_ticks: u64, rows: u64) -> LiveSync {
        LiveSync {
            egress: Arc::new(move || egress),
            cpu_ticks: Arc::new(AtomicU64::new(cpu_ticks)),
            tick: Duration::from_millis(2),
            memory: Arc::new(AtomicU64::new(3 << 20)),
            rows: Arc::new(AtomicU64::new(rows)),
        }
    }

    /// A running sync's counters move with each scrape, each step counted once, and its memory
    /// shows until it ends.
    #[test]
    fn a_running_sync_shows_as_it_goes() {
        let metrics = Metrics::default();
        let sent = Arc::new(Mutex::new(EgressReport::default()));
        let reported = sent.clone();
        let running = LiveSync { egress: Arc::new(move || *reported.lock().unwrap()), ..live(EgressReport::default(), 0, 0) };
        let (cpu, rows) = (running.cpu_ticks.clone(), running.rows.clone());
        let guard = metrics.live("acme", running);
        *sent.lock().unwrap() = EgressReport { requests: 3, refused: 1, by_status_class: [0, 0, 3, 0, 0, 0], ..Default::default() };
        cpu.store(500, Ordering::Relaxed);
        rows.store(40, Ordering::Relaxed);
        let first = metrics.render();
        for line in [
            "baton_runner_requests_total{tenant=\"acme\",class=\"2xx\"} 3",
            "baton_runner_refused_requests_total{tenant=\"acme\"} 1",
            "baton_runner_rows_written_total{tenant=\"acme\"} 40",
            "baton_runner_guest_cpu_seconds_total{tenant=\"acme\"} 1.0",
            "baton_runner_memory_bytes{tenant=\"acme\"} 3145728",
        ] {
            assert!(first.contains(line), "{line} missing from:\n{first}");
        }
        *sent.lock().unwrap() = EgressReport { requests: 5, refused: 1, by_status_class: [0, 0, 5, 0, 0, 0], ..Default::default() };
        rows.store(90, Ordering::Relaxed);
        drop(guard);
        let after = metrics.render();
        assert!(after.contains("baton_runner_requests_total{tenant=\"acme\",class=\"2xx\"} 5"), "{after}");
        assert!(after.contains("baton_runner_rows_written_total{tenant=\"acme\"} 90"), "{after}");
        assert!(after.contains("baton_runner_refused_requests_total{tenant=\"acme\"} 1"), "counted once: {after}");
        assert!(after.contains("baton_runner_memory_bytes{tenant=\"acme\"} 0"), "{after}");
    }

    #[test]
    fn a_sync_shows_in_the_exposition_with_its_tenant() {
        let metrics = Metrics::default();
        let egress = EgressReport { requests: 7, retries: 2, by_status_class: [1, 0, 5, 0, 1, 0], ..Default::default() };
        drop(metrics.live("acme", live(egress, 0, 0)));
        metrics.record(&SyncRecord { tenant: "acme", succeeded: true, took: Duration::from_secs(3), bytes_written: 4096 });
        metrics.record(&SyncRecord { tenant: "globex", succeeded: false, took: Duration::from_secs(1), bytes_written: 0 });
        metrics.set_process(8, 1, 2);
        let text = metrics.render();
        for line in [
            "baton_runner_syncs_total{tenant=\"acme\",result=\"success\"} 1",
            "baton_runner_syncs_total{tenant=\"globex\",result=\"failure\"} 1",
            "baton_runner_requests_total{tenant=\"acme\",class=\"2xx\"} 5",
            "baton_runner_requests_total{tenant=\"acme\",class=\"none\"} 1",
            "baton_runner_retries_total{tenant=\"acme\"} 2",
            "baton_runner_bytes_written_total{tenant=\"acme\"} 4096",
            "baton_runner_sync_duration_seconds_count{tenant=\"acme\"} 1",
            "baton_runner_instances 8",
            "baton_runner_compiled_components 1",
            "baton_runner_tenants_refused 2",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("baton_runner_last_success_timestamp_seconds{tenant=\"acme\"}"));
        assert!(!text.contains("baton_runner_last_success_timestamp_seconds{tenant=\"globex\"}"), "no success, no timestamp");
        assert!(text.ends_with("# EOF\n"));
    }
}
