//! What the runner tells Prometheus on `/metrics` (OpenMetrics text, which Prometheus reads):
//! per tenant, syncs by result, the last success, sync durations, requests by status class,
//! retries, rate-limit waits and bytes written; for the process, instances alive, components
//! compiled and tenants refused. Every series carries the tenant's name, nothing else of it.

use baton_sandbox::retry::EgressReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
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
    instances: Gauge,
    compiled: Gauge,
    refused: Gauge,
    running: Gauge,
}

/// What one sync of a tenant did.
pub struct SyncRecord<'a> {
    pub tenant: &'a str,
    pub succeeded: bool,
    pub took: Duration,
    pub egress: &'a EgressReport,
    pub bytes_written: u64,
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
        for (class, count) in CLASSES.iter().zip(sync.egress.by_status_class) {
            if count > 0 {
                self.requests.get_or_create(&ClassLabel { tenant: sync.tenant.to_string(), class: class.to_string() }).inc_by(count);
            }
        }
        self.retries.get_or_create(&tenant()).inc_by(sync.egress.retries);
        self.rate_limit_waits.get_or_create(&tenant()).inc_by(sync.egress.rate_limit_waits);
        self.bytes_written.get_or_create(&tenant()).inc_by(sync.bytes_written);
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

    /// The exposition text.
    pub fn render(&self) -> String {
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

    #[test]
    fn a_sync_shows_in_the_exposition_with_its_tenant() {
        let metrics = Metrics::default();
        let egress = EgressReport { requests: 7, retries: 2, by_status_class: [1, 0, 5, 0, 1, 0], ..Default::default() };
        metrics.record(&SyncRecord { tenant: "acme", succeeded: true, took: Duration::from_secs(3), egress: &egress, bytes_written: 4096 });
        metrics.record(&SyncRecord { tenant: "globex", succeeded: false, took: Duration::from_secs(1), egress: &egress, bytes_written: 0 });
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
