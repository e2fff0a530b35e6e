//! The epoch every CPU budget is counted in: how often it advances ([`TICK`]) and the thread
//! that advances it ([`Ticker`]), one per engine.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// How often the epoch advances; CPU budgets are counted in these ticks, and a running guest
/// yields to the others at each one (so a guest that computes delays its neighbours' next
/// step by at most one tick).
pub const TICK: Duration = Duration::from_millis(2);

/// The thread advancing the engine's epoch every [`TICK`]; it stops when the last holder (the
/// sandbox or a runtime it loaded) is dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> Result<Arc<Ticker>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                // Ticks are kept on a fixed schedule, so a sleep that overshoots does not make
                // every budget counted in ticks a little longer than configured.
                let mut next = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    next += TICK;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(Arc::new(Ticker { stop }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
