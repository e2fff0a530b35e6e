//! A tenant's work on an OS thread of its own, with an async runtime of its own (threads are
//! kept for the next sync at the same priority, and one that was lowered ends): the kernel's
//! scheduler then shares the CPU between tenants as it does between programs, and a tenant that
//! mostly waits on the network gets the CPU the moment its answer arrives (the scheduler favours
//! a thread that slept). A tenant's `cpu_weight` becomes its thread's nice value, so that it
//! weighs that much against the others. A thread found with work to do without pause (its
//! runtime idle less than `1 - HUNGRY` of the time over [`WATCH_WINDOW`]: a component that
//! computes yields at every epoch tick but is at once ready again, whatever else the machine is
//! doing) is lowered to the lowest priority for the rest of its work: it then runs only when
//! nothing else on the machine wants the CPU, and has all of it when nothing does; its own CPU budget still stops it. (Measured in BENCHMARKS.md against one
//! task per tenant and against threads without the watch; ARCHITECTURE.md says why this one.)

use anyhow::{Result, anyhow};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// The CPU weight every tenant has unless its limits say otherwise (the highest).
pub const FULL_WEIGHT: u32 = 100;

/// Whether a job's thread is lowered when found with work to do without pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Lowered for the rest of the job (a sync: the next one starts at its weight again).
    LowerWhenHungry,
    /// Never (a job that lasts, such as service mode: a lowered thread cannot be raised again).
    WeightOnly,
}

/// Runs the future `work` makes for tenant `name` on a thread of its own at `weight` (1 to
/// [`FULL_WEIGHT`]), watched as `watch` says; its output, once it is done.
pub async fn run_on_own_thread<T, Fut>(name: &str, weight: u32, watch: Watch, work: impl FnOnce() -> Fut + Send + 'static) -> Result<T>
where
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let _ = done.send(work().await);
        })
    });
    let worker = idle_worker(nice_for(weight))?;
    worker.jobs.send((name.to_string(), watch, job)).map_err(|_| anyhow!("the thread for tenant {name} is gone"))?;
    result.await.map_err(|_| anyhow!("the thread of tenant {name} ended without a result (it could not start an async runtime)"))
}

/// What a worker runs: makes the future on the worker's own thread.
type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A worker thread waiting for a job, at its nice value.
struct Worker {
    nice: i32,
    jobs: Sender<(String, Watch, Job)>,
}

/// Workers kept between syncs, at most [`MOST_IDLE`]: a thread's allocator keeps memory of its
/// own, so a new thread per sync would grow the process with every sync.
static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
const MOST_IDLE: usize = 64;

/// An idle worker at `nice`, or a new one.
fn idle_worker(nice: i32) -> Result<Worker> {
    let mut idle = IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(at) = idle.iter().position(|w| w.nice == nice) {
        return Ok(idle.swap_remove(at));
    }
    drop(idle);
    let (jobs, inbox) = channel();
    let own = jobs.clone();
    std::thread::Builder::new()
        .name("tenant worker".into())
        .spawn(move || serve_jobs(nice, inbox, own))
        .map_err(|e| anyhow!("cannot start a thread for a tenant: {e}"))?;
    Ok(Worker { nice, jobs })
}

/// A worker's life: each job on its runtime, watched; then back among the idle, unless it was
/// lowered (a priority cannot be raised again) or enough are idle.
fn serve_jobs(nice: i32, inbox: Receiver<(String, Watch, Job)>, own: Sender<(String, Watch, Job)>) {
    set_nice(nice);
    while let Ok((tenant, watch, job)) = inbox.recv() {
        // A runtime per job: what a job leaves spawned (a connection closing) ends with it.
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().on_thread_park(going_idle).on_thread_unpark(waking).build() else {
            return;
        };
        let lowered = runtime.block_on(async {
            if watch == Watch::WeightOnly {
                job().await;
                return false;
            }
            let watch = tokio::spawn(lower_when_hungry(tenant));
            job().await;
            let lowered = watch.is_finished();
            watch.abort();
            lowered
        });
        drop(runtime);
        let mut idle = IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if lowered || idle.len() >= MOST_IDLE {
            return;
        }
        idle.push(Worker { nice, jobs: own.clone() });
    }
}

/// The nice value that gives a thread `weight` of a full weight's CPU when both want it: the
/// kernel weighs each nice step about 1.25 times the next.
pub fn nice_for(weight: u32) -> i32 {
    let share = f64::from(weight.clamp(1, FULL_WEIGHT)) / f64::from(FULL_WEIGHT);
    ((1.0 / share).ln() / 1.25f64.ln()).round().clamp(0.0, 19.0) as i32
}

/// A thread busy more than this share of the time over [`WATCH_WINDOW`] has work without pause;
/// one whose components wait on the network stays far below it.
pub const HUNGRY: f64 = 0.9;
/// How long a thread is watched before it counts as computing without pause.
pub const WATCH_WINDOW: Duration = Duration::from_millis(200);
/// How often the thread's CPU time is read.
const WATCH_EVERY: Duration = Duration::from_millis(40);
/// The lowest priority there is.
const LOWEST: i32 = 19;

thread_local! {
    /// How long this thread's runtime sat idle so far, and since when it has been, if it is.
    static IDLE_TIME: std::cell::Cell<(Duration, Option<Instant>)> = const { std::cell::Cell::new((Duration::ZERO, None)) };
}

/// Called by the runtime as it goes idle (nothing to run until I/O or a timer wakes it).
fn going_idle() {
    IDLE_TIME.with(|idle| idle.set((idle.get().0, Some(Instant::now()))));
}

/// Called by the runtime as it wakes.
fn waking() {
    IDLE_TIME.with(|idle| {
        let (total, since) = idle.get();
        idle.set((total + since.map(|at| at.elapsed()).unwrap_or_default(), None));
    });
}

/// How long the calling thread's runtime has sat idle so far.
fn idle_so_far() -> Duration {
    IDLE_TIME.with(|idle| idle.get().0)
}

/// Watches how busy the calling thread is (a task on its own runtime, so it runs whenever a
/// component yields) and lowers it to [`LOWEST`] once it was busy more than [`HUNGRY`] of the
/// time over [`WATCH_WINDOW`].
async fn lower_when_hungry(tenant: String) {
    let (started, idle_before) = (Instant::now(), idle_so_far());
    let window = lower_when_running_more_than(HUNGRY, move || started.elapsed().saturating_sub(idle_so_far() - idle_before)).await;
    tracing::info!(
        %tenant,
        window_ms = window.as_millis() as u64,
        "this tenant had work to do without pause; it runs at the lowest priority for the rest of this sync, when nothing else wants the CPU"
    );
}

/// [`lower_when_hungry`], with how long the thread was busy so far read by `computed`; the
/// window it was found busy over, once lowered.
async fn lower_when_running_more_than(hungry: f64, computed: impl Fn() -> Duration) -> Duration {
    let mut seen: VecDeque<(Instant, Duration)> = VecDeque::new();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let cpu = computed();
        let now = Instant::now();
        seen.push_back((now, cpu));
        while seen.front().is_some_and(|(at, _)| now.duration_since(*at) > WATCH_WINDOW) {
            seen.pop_front();
        }
        let (since, cpu_then) = seen[0];
        let wall = now.duration_since(since);
        if wall >= WATCH_WINDOW.mul_f64(0.8) && cpu.saturating_sub(cpu_then).as_secs_f64() > hungry * wall.as_secs_f64() {
            set_nice(LOWEST);
            return wall;
        }
    }
}

/// Sets the calling thread's nice value (a lower priority only: raising one needs privileges,
/// so no tenant ever gets more than a full weight).
fn set_nice(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers; on Linux, PRIO_PROCESS with a thread
        // id sets that thread's nice value.
        let changed = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
        if changed != 0 {
            tracing::warn!(nice, "cannot lower this tenant's CPU priority: {}", std::io::Error::last_os_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_become_nice_values_that_weigh_as_much() {
        assert_eq!(nice_for(FULL_WEIGHT), 0);
        assert_eq!(nice_for(50), 3, "1.25^3 = 1.95: about half");
        assert_eq!(nice_for(10), 10, "1.25^10 = 9.3: about a tenth");
        assert_eq!(nice_for(1), 19, "as low as the kernel goes");
        assert_eq!(nice_for(0), 19);
    }

    /// A thread whose work computed all the time is lowered to the lowest priority within the
    /// watch window; one that computed half the time is not. (The computing is counted, not
    /// done, so a loaded machine cannot change the outcome.)
    #[test]
    fn a_thread_that_computes_without_pause_is_lowered_and_one_that_waits_is_not() {
        let nice_after = |share: f64| {
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let started = Instant::now();
                let watched = lower_when_running_more_than(HUNGRY, move || started.elapsed().mul_f64(share));
                runtime.block_on(async { tokio::time::timeout(WATCH_WINDOW * 4, watched).await.ok() });
                // SAFETY: getpriority and gettid take no pointers.
                unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
            })
            .join()
            .unwrap()
        };
        assert_eq!(nice_after(1.0), LOWEST);
        assert_eq!(nice_after(0.5), 0);
    }

    /// A worker that was not lowered serves the next job at its priority: threads are not made
    /// anew for every sync. (Weight 37 is this test's own, so no other test takes its worker.)
    #[tokio::test]
    async fn a_worker_serves_one_job_after_another() {
        let thread_of = || run_on_own_thread("again", 37, Watch::LowerWhenHungry, || async { std::thread::current().id() });
        let first = thread_of().await.unwrap();
        // The worker goes back among the idle just after it delivered the output.
        let back = Instant::now() + Duration::from_secs(5);
        while !IDLE.lock().unwrap().iter().any(|w| w.nice == nice_for(37)) && Instant::now() < back {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(thread_of().await.unwrap(), first);
    }

    /// Work that lasts (service mode) is stopped from the caller's side through an abort
    /// handle, and its thread is free again.
    #[tokio::test]
    async fn lasting_work_stops_when_its_caller_says_so() {
        use futures_util::future::{AbortHandle, Abortable};
        let (stop, registration) = AbortHandle::new_pair();
        let running =
            run_on_own_thread(
                "lasting",
                41,
                Watch::WeightOnly,
                move || async move { Abortable::new(std::future::pending::<()>(), registration).await.is_err() },
            );
        let stopper = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.abort();
        };
        let (aborted, ()) = tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(running, stopper) }).await.expect("stopped within 5 s");
        assert!(aborted.unwrap(), "the work saw the abort");
    }

    #[tokio::test]
    async fn the_work_runs_on_a_thread_of_its_own_and_its_output_comes_back() {
        let caller = std::thread::current().id();
        let (name, other) = run_on_own_thread("acme", FULL_WEIGHT, Watch::WeightOnly, move || async move {
            tokio::task::yield_now().await;
            (std::thread::current().name().map(str::to_string), std::thread::current().id() != caller)
        })
        .await
        .unwrap();
        assert_eq!((name.as_deref(), other), (Some("tenant worker"), true));
    }
}
