//! Every limit one connector's work runs under, in one value ([`RunLimits`]): each instance's
//! caps (memory, CPU per call and per run, wall clock, one call's data), the sync's byte and row
//! budgets, how many instances fetch at once, the request rate and the CPU weight. It is built
//! once — from the flags of a one-shot run, or from a tenant's `[tenant.limits]` over the
//! defaults — and handed whole to every kind of work: a sync, a service-mode task, a change.

use baton_sandbox::Limits;
use baton_sandbox::egress::Pacing;
use baton_sandbox::retry::RetryPolicy;
use baton_sync::Budgets;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Each instance's caps.
    pub instance: Limits,
    /// What one sync may hold and write.
    pub budgets: Budgets,
    /// Instances fetching at once during a sync (and requests in flight).
    pub concurrency: usize,
    /// Requests a second, all instances of a run together, when capped.
    pub requests_per_second: Option<f64>,
    /// This connector's share of the process's CPU against others' when they all want it (1 to
    /// 100, the default: a full share; lower it for one that may wait).
    pub cpu_weight: u32,
    /// The most its output folder may hold, scratch files included (a runner's tenant only).
    pub folder_bytes: Option<u64>,
}

/// Connector instances of a sync. Measured (BENCHMARKS.md): against a server answering in
/// 20 ms, 8 instances took 40 s where 4 took 67 s and 16 33 s; on the 100k-membership site at
/// 5 ms, 16 take 1.8-1.9 s where 8 take 2.1-2.3 s and 24 or 32 no less, for about 6 MB more
/// peak RSS. A server that pushes back gets fewer in flight (see `retry::InFlightLimit`).
pub const DEFAULT_CONCURRENCY: u64 = 16;

/// [`RunLimits::cpu_weight`] when none is given: a full share.
pub const DEFAULT_CPU_WEIGHT: u32 = crate::runner::thread::FULL_WEIGHT;

impl Default for RunLimits {
    fn default() -> RunLimits {
        RunLimits {
            instance: Limits::default(),
            budgets: Budgets::default(),
            concurrency: DEFAULT_CONCURRENCY as usize,
            requests_per_second: None,
            cpu_weight: DEFAULT_CPU_WEIGHT,
            folder_bytes: None,
        }
    }
}

impl RunLimits {
    /// How a run with `concurrency` instances sends its requests.
    pub fn pacing(&self, concurrency: usize) -> Pacing {
        Pacing { concurrency, requests_per_second: self.requests_per_second, retry: RetryPolicy::default() }
    }
}
