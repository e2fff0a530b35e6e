//! Retrying and pacing outgoing requests, for every connector, in three separate concerns (as
//! reqwest-retry splits them): [`classify`] says whether an outcome is worth another attempt,
//! [`RetryPolicy`] says how long to wait before it, and the loop in [`crate::policy`] does it.
//! [`Pacer`] slows all instances of a sync down before the server has to refuse them, from the
//! `X-RateLimit-*` headers Confluence sends.
//!
//! Rules: 429, and 503 with `Retry-After`, mean the server did not do the work, so any method
//! is retried after the time it asked for. Other 5xx, connection failures and timeouts are
//! retried only for idempotent methods (GET, HEAD, PUT, DELETE) or requests the guest marks
//! safe to repeat ([`RETRY_SAFE_HEADER`]), with jittered exponential backoff. Everything else (401, 403, 404, 4xx) is final at once.

use http::{HeaderMap, Method, StatusCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the outcome to the connector.
    Done,
    /// Try again after at least this long (the server said so).
    RetryAfter(Duration),
    /// Try again after the policy's backoff.
    Backoff,
}

/// Header a guest sets on a request that is safe to send again although its method is not
/// idempotent (a read over POST, such as a JSON-RPC getter). The host removes it before sending.
pub const RETRY_SAFE_HEADER: &str = "x-baton-retry-safe";

/// Whether a request may be sent again after a failure without a response.
pub fn is_retry_safe(method: &Method, headers: &HeaderMap) -> bool {
    is_idempotent(method) || headers.contains_key(RETRY_SAFE_HEADER)
}

/// Classifies a response status for a method.
pub fn classify(method: &Method, status: StatusCode, headers: &HeaderMap) -> Verdict {
    let retry_after = retry_after(headers);
    match status {
        StatusCode::TOO_MANY_REQUESTS => retry_after.map(Verdict::RetryAfter).unwrap_or(Verdict::Backoff),
        StatusCode::SERVICE_UNAVAILABLE if retry_after.is_some() => Verdict::RetryAfter(retry_after.unwrap_or_default()),
        s if s.is_server_error() && is_idempotent(method) && s != StatusCode::NOT_IMPLEMENTED => Verdict::Backoff,
        _ => Verdict::Done,
    }
}

/// Classifies a transport failure (no response): only requests safe to repeat are sent again.
pub fn classify_failure(retry_safe: bool) -> Verdict {
    if retry_safe { Verdict::Backoff } else { Verdict::Done }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS)
}

/// `Retry-After` in seconds (fractions allowed); HTTP dates are treated as "soon".
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Some(Duration::from_secs_f64(seconds.min(3600.0))),
        _ => Some(Duration::from_secs(1)),
    }
}

/// How many attempts and how long between them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt.
    pub base: Duration,
    /// Largest single wait.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { max_attempts: 6, base: Duration::from_millis(250), max_wait: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), or none when attempts are
    /// used up. Server-given waits are honoured (capped) with a little jitter on top.
    pub fn wait(&self, verdict: Verdict, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        match verdict {
            Verdict::Done => None,
            Verdict::RetryAfter(asked) => Some(asked.min(self.max_wait) + jitter(Duration::from_millis(100))),
            Verdict::Backoff => {
                let exponential = self.base.saturating_mul(1 << (attempt - 1).min(16)).min(self.max_wait);
                Some(exponential / 2 + jitter(exponential / 2))
            }
        }
    }
}

/// A random duration in `[0, up_to)`.
fn jitter(up_to: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let nanos = up_to.as_nanos().max(1) as u64;
    Duration::from_nanos(RandomState::new().hash_one(Instant::now()) % nanos)
}

/// Spaces requests out when the server says its bucket is nearly empty. Shared by every
/// instance of a sync.
#[derive(Debug, Default)]
pub struct Pacer {
    next_allowed: Mutex<Option<Instant>>,
}

impl Pacer {
    /// How long the next request must wait (and reserves its slot).
    pub fn reserve(&self) -> Duration {
        let Ok(next) = self.next_allowed.lock() else { return Duration::ZERO };
        let now = Instant::now();
        match *next {
            Some(at) if at > now => at - now,
            _ => Duration::ZERO,
        }
    }

    /// Learns from a response: with few tokens left, space requests at the refill rate; after a
    /// refusal, wait what the server asked.
    pub fn observe(&self, headers: &HeaderMap, refused_for: Option<Duration>) {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
        let spacing = match (number("x-ratelimit-remaining"), number("x-ratelimit-fillrate"), number("x-ratelimit-interval-seconds")) {
            (Some(remaining), Some(fill), Some(interval)) if remaining <= 1.0 && fill > 0.0 && interval > 0.0 => {
                Some(Duration::from_secs_f64((interval / fill).min(60.0)))
            }
            _ => None,
        };
        let wait = match (spacing, refused_for) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => match a.or(b) {
                Some(wait) => wait,
                None => return,
            },
        };
        if let Ok(mut next) = self.next_allowed.lock() {
            let candidate = Instant::now() + wait;
            if next.is_none_or(|at| at < candidate) {
                *next = Some(candidate);
            }
        }
    }
}

/// Counts for the end-of-sync summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limit_waits: AtomicU64,
    pub waited_ms: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// requests, retries, rate-limit waits, milliseconds waited.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (get(&self.requests), get(&self.retries), get(&self.rate_limit_waits), get(&self.waited_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn rate_limits_are_retried_for_any_method_after_the_asked_time() {
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(classify(&Method::POST, StatusCode::TOO_MANY_REQUESTS, &h), Verdict::RetryAfter(Duration::from_secs(2)));
        assert_eq!(classify(&Method::GET, StatusCode::SERVICE_UNAVAILABLE, &h), Verdict::RetryAfter(Duration::from_secs(2)));
        assert_eq!(classify(&Method::GET, StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new()), Verdict::Backoff);
    }

    #[test]
    fn other_server_errors_only_for_idempotent_methods_and_client_errors_never() {
        let none = HeaderMap::new();
        assert_eq!(classify(&Method::GET, StatusCode::BAD_GATEWAY, &none), Verdict::Backoff);
        assert_eq!(classify(&Method::POST, StatusCode::BAD_GATEWAY, &none), Verdict::Done);
        assert_eq!(classify(&Method::POST, StatusCode::SERVICE_UNAVAILABLE, &none), Verdict::Done);
        for status in [401, 403, 404, 400, 409] {
            assert_eq!(classify(&Method::GET, StatusCode::from_u16(status).unwrap(), &none), Verdict::Done, "{status}");
        }
        assert!(is_retry_safe(&Method::PUT, &none));
        assert!(!is_retry_safe(&Method::POST, &none));
        assert!(is_retry_safe(&Method::POST, &headers(&[(RETRY_SAFE_HEADER, "1")])));
        assert_eq!(classify_failure(true), Verdict::Backoff);
        assert_eq!(classify_failure(false), Verdict::Done);
    }

    #[test]
    fn attempts_are_bounded_and_backoff_grows() {
        let policy = RetryPolicy { max_attempts: 4, base: Duration::from_millis(100), max_wait: Duration::from_secs(1) };
        let first = policy.wait(Verdict::Backoff, 1).unwrap();
        let third = policy.wait(Verdict::Backoff, 3).unwrap();
        assert!(first <= Duration::from_millis(100) && third >= Duration::from_millis(200), "{first:?} {third:?}");
        assert!(policy.wait(Verdict::Backoff, 4).is_none(), "bounded");
        assert!(policy.wait(Verdict::Done, 1).is_none());
        let asked = policy.wait(Verdict::RetryAfter(Duration::from_secs(30)), 1).unwrap();
        assert!(asked >= Duration::from_secs(1) && asked < Duration::from_millis(1100), "capped at max_wait: {asked:?}");
    }

    #[test]
    fn pacing_follows_the_bucket() {
        let pacer = Pacer::default();
        assert_eq!(pacer.reserve(), Duration::ZERO);
        pacer.observe(&headers(&[("x-ratelimit-remaining", "50"), ("x-ratelimit-fillrate", "2"), ("x-ratelimit-interval-seconds", "1")]), None);
        assert_eq!(pacer.reserve(), Duration::ZERO, "plenty left");
        pacer.observe(&headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-fillrate", "2"), ("x-ratelimit-interval-seconds", "1")]), None);
        let wait = pacer.reserve();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
    }
}
