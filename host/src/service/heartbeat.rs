//! Heartbeats while a long task runs: one before it starts, then one every `next_heartbeat`
//! (0 means 30 s; otherwise clamped to 1 s .. 5 min). ConductorOne answering `cancelled`, or
//! ten failed heartbeats in a row, stops the task: its future is dropped, which also removes
//! its temporary files (docs/c1z-and-c1.md §5.5).

use super::client::C1Client;
use anyhow::{Result, bail};
use std::time::Duration;

/// Consecutive failed heartbeats that abort a task.
const MAX_FAILURES: u32 = 10;

/// The interval to wait, from what the server said.
pub fn interval(asked: Duration) -> Duration {
    if asked.is_zero() { Duration::from_secs(30) } else { asked.clamp(Duration::from_secs(1), Duration::from_secs(300)) }
}

/// A protobuf duration as a std one (negative counts as zero).
pub fn duration(value: Option<&prost_types::Duration>) -> Duration {
    value.filter(|d| d.seconds >= 0 && d.nanos >= 0).map(|d| Duration::new(d.seconds as u64, d.nanos as u32)).unwrap_or_default()
}

/// Runs `work`, heartbeating for `task_id`, until it ends or ConductorOne stops it.
pub async fn while_running(client: &C1Client, task_id: &str, first_interval: Duration, work: impl Future<Output = Result<()>>) -> Result<()> {
    let mut wait = interval(first_interval);
    let mut failures = 0;
    if let Some(next) = beat(client, task_id, &mut failures).await? {
        wait = next;
    }
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tokio::time::sleep(wait) => {
                if let Some(next) = beat(client, task_id, &mut failures).await? {
                    wait = next;
                }
            }
        }
    }
}

/// One heartbeat: the next interval, or an error that stops the task.
async fn beat(client: &C1Client, task_id: &str, failures: &mut u32) -> Result<Option<Duration>> {
    match client.heartbeat(task_id).await {
        Ok(response) if response.cancelled => bail!("ConductorOne cancelled the task"),
        Ok(response) => {
            *failures = 0;
            Ok(Some(interval(duration(response.next_heartbeat.as_ref()))))
        }
        Err(error) => {
            *failures += 1;
            tracing::warn!(task_id, failures = *failures, error = %error, "heartbeat failed");
            if *failures >= MAX_FAILURES {
                bail!("{MAX_FAILURES} heartbeats in a row failed (last: {error}); stopping the task");
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_baton() {
        assert_eq!(interval(Duration::ZERO), Duration::from_secs(30));
        assert_eq!(interval(Duration::from_millis(10)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(3600)), Duration::from_secs(300));
        assert_eq!(interval(Duration::from_secs(7)), Duration::from_secs(7));
        assert_eq!(duration(Some(&prost_types::Duration { seconds: 2, nanos: 500_000_000 })), Duration::from_millis(2500));
        assert_eq!(duration(Some(&prost_types::Duration { seconds: -1, nanos: 0 })), Duration::ZERO);
    }
}
