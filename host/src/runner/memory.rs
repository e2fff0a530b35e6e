//! The process's memory budget, so that no tenant can take the process down: a sync is admitted
//! only while what every running sync may claim fits. A sync claims, per instance, its memory
//! cap, one call's data and one resource's held entitlements and grants (its limits' worst
//! case); a sync that would not fit waits, and the wait is counted. A sync whose claim is larger
//! than the whole budget runs with fewer instances, as many as fit (said once in the log). The
//! budget is `max_memory_mb` of the tenants file, else what the process's cgroup allows less a
//! sixth for the process itself, else three quarters of the machine's memory. What a finished
//! sync freed is given back to the system ([`give_back_freed_memory`]).

use crate::limits::RunLimits;
use anyhow::{Result, anyhow};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Gives the memory a finished sync freed back to the system. glibc's malloc keeps freed heap
/// pages for reuse, so without this the process's resident size drifts with how the last syncs'
/// allocations happened to interleave (measured in the soak test: idle between rounds, 99 to
/// 108 MiB and back over 600 syncs of 20 tenants), which hides a real leak and misleads
/// whoever watches the process's memory.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's heaps; it takes the allocator's
    // locks itself and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Budgets are counted in MiB.
const MIB: u64 = 1 << 20;

/// The process's memory budget, shared by every sync.
#[derive(Debug)]
pub struct MemoryBudget {
    mib: u32,
    free: Arc<Semaphore>,
}

/// What a sync was admitted with: how many instances it may run, and its place in the budget
/// (given back when dropped).
pub struct Admitted {
    pub instances: usize,
    _claim: OwnedSemaphorePermit,
}

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn of(bytes: u64) -> MemoryBudget {
        let mib = (bytes / MIB).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        MemoryBudget { mib, free: Arc::new(Semaphore::new(mib as usize)) }
    }

    /// The budget the tenants file sets, or what the machine allows.
    pub fn for_process(max_memory_mb: Option<u64>) -> MemoryBudget {
        MemoryBudget::of(max_memory_mb.map(|mb| mb * MIB).unwrap_or_else(detected_budget))
    }

    /// The budget, in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.mib) * MIB
    }

    /// What one instance of a sync under `limits` may claim, in MiB (rounded up).
    pub fn claim_per_instance(limits: &RunLimits) -> u32 {
        let bytes = limits.instance.memory_bytes as u64 + limits.instance.call_bytes as u64 + limits.budgets.resource_bytes;
        bytes.div_ceil(MIB).clamp(1, u64::from(u32::MAX >> 3)) as u32
    }

    /// Waits until a sync under `limits` fits: its instances (as many as the whole budget
    /// holds, if not all) and their claim.
    pub async fn admit(&self, limits: &RunLimits) -> Result<Admitted> {
        let per_instance = Self::claim_per_instance(limits);
        let instances = (self.mib / per_instance).min(limits.concurrency as u32);
        if instances == 0 {
            return Err(anyhow!(
                "one connector instance of this tenant may claim {per_instance} MiB (memory_mb, max_call_mb and max_resource_mb of its limits), more than the process's memory budget of {} MiB: lower them, or raise max_memory_mb of the tenants file",
                self.mib
            ));
        }
        if (instances as usize) < limits.concurrency {
            tracing::warn!(
                concurrency = limits.concurrency,
                instances,
                claim_mib = per_instance,
                budget_mib = self.mib,
                "this tenant's instances would claim more than the process's memory budget together; its sync runs with fewer"
            );
        }
        let claim = self.free.clone().acquire_many_owned(instances * per_instance).await.map_err(|_| anyhow!("the runner is stopping"))?;
        Ok(Admitted { instances: instances as usize, _claim: claim })
    }

    /// MiB claimed by running syncs now.
    pub fn claimed_mib(&self) -> u32 {
        self.mib - self.free.available_permits() as u32
    }
}

/// What the process may use when the tenants file does not say: its cgroup's limit less a sixth
/// (for the process's own memory: the runtime, the files being written), else three quarters of
/// the machine's memory.
fn detected_budget() -> u64 {
    match cgroup_limit(Path::new("/sys/fs/cgroup")) {
        Some(limit) => limit - limit / 6,
        None => machine_memory() / 4 * 3,
    }
}

/// The memory limit of the process's cgroup (v2 `memory.max`, or v1 `memory.limit_in_bytes`),
/// when one is set.
fn cgroup_limit(root: &Path) -> Option<u64> {
    let read = |file: &str| std::fs::read_to_string(root.join(file)).ok()?.trim().parse::<u64>().ok();
    // v1 reports "no limit" as a huge number near the largest page-aligned value.
    read("memory.max").or_else(|| read("memory/memory.limit_in_bytes")).filter(|limit| *limit < 1 << 60)
}

/// The machine's physical memory.
fn machine_memory() -> u64 {
    // SAFETY: sysconf takes no pointers.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGE_SIZE)) };
    if pages > 0 && size > 0 { pages as u64 * size as u64 } else { 4 << 30 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory_mb: usize, concurrency: usize) -> RunLimits {
        let mut limits = RunLimits { concurrency, ..RunLimits::default() };
        limits.instance.memory_bytes = memory_mb << 20;
        limits.instance.call_bytes = 8 << 20;
        limits.budgets.resource_bytes = 8 << 20;
        limits
    }

    #[tokio::test]
    async fn a_sync_waits_until_its_claim_fits_and_gives_it_back_when_done() {
        let budget = MemoryBudget::of(200 << 20);
        let first = budget.admit(&limits(64, 2)).await.unwrap();
        assert_eq!((first.instances, budget.claimed_mib()), (2, 160));
        let one = limits(64, 1);
        let waiting = budget.admit(&one);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), &mut waiting).await.is_err(), "80 MiB do not fit in the 40 left");
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!((second.instances, budget.claimed_mib()), (1, 80));
    }

    #[tokio::test]
    async fn a_sync_larger_than_the_budget_runs_with_the_instances_that_fit() {
        let budget = MemoryBudget::of(200 << 20);
        assert_eq!(budget.admit(&limits(64, 16)).await.unwrap().instances, 2);
        let refused = budget.admit(&limits(256, 1)).await.err().unwrap().to_string();
        assert!(refused.contains("272 MiB") && refused.contains("max_memory_mb"), "{refused}");
    }

    #[test]
    fn the_cgroup_limit_is_read_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_limit(dir.path()), None);
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit(dir.path()), None, "v2 without a limit");
        std::fs::write(dir.path().join("memory.max"), "2147483648\n").unwrap();
        assert_eq!(cgroup_limit(dir.path()), Some(2 << 30));
        assert!(machine_memory() > 0);
    }
}
