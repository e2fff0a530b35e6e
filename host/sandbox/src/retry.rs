//! Retrying and pacing outgoing requests, for every connector, in three separate concerns (as
//! reqwest-retry splits them): [`classify`] says whether an outcome is worth another attempt,
//! [`RetryPolicy`] says how long to wait before it, and [`send_with_retries`], the loop the egress hook sends through, does it.
//! [`Pacer`] slows all instances of a sync down before the server has to refuse them, from the
//! `X-RateLimit-*` headers servers send.
//!
//! Rules: 429, and 503 with `Retry-After`, mean the server did not do the work, so any method
//! is retried after the time it asked for. Other 5xx, connection failures and timeouts are
//! retried only for idempotent methods (GET, HEAD, PUT, DELETE) or requests the guest marks
//! safe to repeat ([`RETRY_SAFE_HEADER`]), with jittered exponential backoff. Everything else (401, 403, 404, 4xx) is final at once.

use crate::outbound::{Failure, Outbound};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::WasiBody;

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

/// The longest wait a server can impose through `Retry-After`. The pacer it feeds is shared by
/// every instance of a sync, so an untrusted server asking for an hour would stall them all.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// `Retry-After` in seconds (fractions allowed), at most [`MAX_RETRY_AFTER`]; HTTP dates are
/// treated as "soon".
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Some(Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64()))),
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

/// The operator's cap on the request rate of one sync, all its instances together: each
/// request takes the next free slot, one every `1 / per_second` seconds.
#[derive(Debug)]
pub struct RequestRate {
    spacing: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl RequestRate {
    /// At most `per_second` requests a second (a positive number; fractions allowed).
    pub fn per_second(per_second: f64) -> RequestRate {
        let spacing = if per_second.is_finite() && per_second > 0.0 { Duration::from_secs_f64(1.0 / per_second) } else { Duration::ZERO };
        RequestRate { spacing, next_free: Mutex::new(None) }
    }

    /// How long the next request must wait for its slot (and takes it).
    pub fn reserve(&self) -> Duration {
        let Ok(mut next) = self.next_free.lock() else { return Duration::ZERO };
        let now = Instant::now();
        let slot = next.filter(|at| *at > now).unwrap_or(now);
        *next = Some(slot + self.spacing);
        slot - now
    }
}

/// Bounds how many requests of one sync are in flight, and adapts it (additive increase,
/// multiplicative decrease): a refusal (429, or 503 with `Retry-After`) halves the number
/// allowed, at most once per [`CUT_SPACING`] so that one burst of refusals counts once; each
/// run of successes as long as the limit raises it by one, back up to the configured maximum.
/// Together with [`Pacer`] (which pauses everyone for the time the server asked), a sync that
/// keeps hitting the server's limit settles just below it instead of bouncing off it.
#[derive(Debug)]
pub struct InFlightLimit {
    state: Mutex<LimitState>,
    released: tokio::sync::Notify,
}

#[derive(Debug)]
struct LimitState {
    max: usize,
    limit: usize,
    in_flight: usize,
    successes: usize,
    last_cut: Option<Instant>,
    lowest: usize,
}

/// Least time between two cuts of the in-flight limit.
pub const CUT_SPACING: Duration = Duration::from_secs(1);

impl Default for InFlightLimit {
    fn default() -> InFlightLimit {
        InFlightLimit::new(usize::MAX)
    }
}

/// One request's place in flight; gives it back when dropped.
pub struct InFlight<'a>(&'a InFlightLimit);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        self.0.released.notify_waiters();
    }
}

impl InFlightLimit {
    /// At most `max` requests in flight (at least one).
    pub fn new(max: usize) -> InFlightLimit {
        let max = max.max(1);
        InFlightLimit {
            state: Mutex::new(LimitState { max, limit: max, in_flight: 0, successes: 0, last_cut: None, lowest: max }),
            released: tokio::sync::Notify::new(),
        }
    }

    /// Waits for a place in flight.
    pub async fn acquire(&self) -> InFlight<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.try_acquire() {
                return InFlight(self);
            }
            released.await;
        }
    }

    fn try_acquire(&self) -> bool {
        let Ok(mut state) = self.state.lock() else { return true };
        if state.in_flight < state.limit {
            state.in_flight += 1;
            true
        } else {
            false
        }
    }

    /// The server refused a request for load: halve what is allowed (once per burst).
    pub fn refused(&self) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.last_cut.is_some_and(|at| at.elapsed() < CUT_SPACING) {
            return;
        }
        // Count from what is really in flight, so an unreachable maximum does not delay the cut.
        let busy = state.limit.min(state.in_flight.max(1));
        state.limit = (busy / 2).max(1);
        state.lowest = state.lowest.min(state.limit);
        state.successes = 0;
        state.last_cut = Some(Instant::now());
    }

    /// A request got an answer the server did not refuse: after as many as are allowed, allow
    /// one more.
    pub fn succeeded(&self) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.limit >= state.max {
            return;
        }
        state.successes += 1;
        if state.successes >= state.limit {
            state.limit += 1;
            state.successes = 0;
            drop(state);
            self.released.notify_waiters();
        }
    }

    /// (allowed now, the lowest it has been, the configured maximum).
    pub fn levels(&self) -> (usize, usize, usize) {
        self.state.lock().map(|s| (s.limit, s.lowest, s.max)).unwrap_or((1, 1, 1))
    }
}

/// What the egress of one sync did so far, in one report: its counters and the in-flight limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressReport {
    /// Requests sent (each attempt counts).
    pub requests: u64,
    /// Attempts that were sent again.
    pub retries: u64,
    /// Requests refused before they were sent.
    pub refused: u64,
    /// Waits because the server asked for them (429, 503, rate-limit headers).
    pub rate_limit_waits: u64,
    /// Time spent in those waits and backoffs.
    pub waited: Duration,
    /// Requests allowed in flight now, the lowest it has been, and the configured maximum.
    pub in_flight: (usize, usize, usize),
    /// Attempts by how they ended: `[no answer, 1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub by_status_class: [u64; 6],
}

/// The counters behind [`EgressReport`].
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Requests refused before they were sent (outside the origin or the declaration).
    pub refused: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limit_waits: AtomicU64,
    pub waited_ms: AtomicU64,
    pub by_status_class: [AtomicU64; 6],
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one attempt by its answer's status class (`None`: no answer at all).
    pub fn answered(&self, status: Option<http::StatusCode>) {
        let class = status.map(|s| usize::from(s.as_u16() / 100)).filter(|c| (1..=5).contains(c)).unwrap_or(0);
        Stats::add(&self.by_status_class[class], 1);
    }

    /// The counters with `in_flight`'s levels, as one report.
    pub fn report(&self, in_flight: &InFlightLimit) -> EgressReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EgressReport {
            requests: get(&self.requests),
            retries: get(&self.retries),
            refused: get(&self.refused),
            rate_limit_waits: get(&self.rate_limit_waits),
            waited: Duration::from_millis(get(&self.waited_ms)),
            in_flight: in_flight.levels(),
            by_status_class: self.by_status_class.each_ref().map(get),
        }
    }
}

/// The retry side of the hooks.
#[derive(Debug, Default)]
pub struct Retrying {
    pub policy: RetryPolicy,
    pub pacer: Pacer,
    pub in_flight: InFlightLimit,
    pub stats: Stats,
    /// The operator's cap on requests per second, if any.
    pub rate: Option<RequestRate>,
    /// The latest failure to reach the server, explained.
    pub last_failure: Mutex<Option<Failure>>,
}

/// Sends a request, again and again while [`classify`] and the policy allow, pacing by
/// the server's rate-limit headers. The last response (or error) goes to the guest. A failure
/// that no attempt can change (a certificate, a handshake, proxy credentials) is final at once.
pub async fn send_with_retries(
    parts: &http::request::Parts,
    body: Bytes,
    first_byte_timeout: Duration,
    retry: &Retrying,
    outbound: &Outbound,
) -> Result<http::Response<WasiBody>, wasmtime_wasi_http::Error> {
    let target = format!("{} {}", parts.method, parts.uri.path());
    let retry_safe = is_retry_safe(&parts.method, &parts.headers);
    let mut attempt = 1;
    loop {
        if let Some(rate) = &retry.rate {
            tokio::time::sleep(rate.reserve()).await;
        }
        let paced = retry.pacer.reserve();
        if !paced.is_zero() {
            Stats::add(&retry.stats.rate_limit_waits, 1);
            Stats::add(&retry.stats.waited_ms, paced.as_millis() as u64);
            tokio::time::sleep(paced).await;
        }
        let place = retry.in_flight.acquire().await;
        Stats::add(&retry.stats.requests, 1);
        let sent = outbound.send(rebuild(parts, body.clone()), first_byte_timeout).await;
        drop(place);
        retry.stats.answered(sent.as_ref().ok().map(|response| response.status()));
        let verdict = match sent {
            Ok(response) => {
                let verdict = classify(&parts.method, response.status(), response.headers());
                let refused_for = match verdict {
                    Verdict::RetryAfter(wait) => Some(wait),
                    _ => None,
                };
                if is_refused_for_load(response.status(), verdict) {
                    retry.in_flight.refused();
                } else {
                    retry.in_flight.succeeded();
                }
                retry.pacer.observe(response.headers(), refused_for);
                let Some(wait) = retry.policy.wait(verdict, attempt) else {
                    if verdict != Verdict::Done {
                        tracing::warn!(request = %target, attempts = attempt, status = response.status().as_u16(), "giving up after the last attempt");
                    }
                    return Ok(response);
                };
                tracing::debug!(request = %target, attempt, status = response.status().as_u16(), wait_ms = wait.as_millis() as u64, "retrying");
                if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                    Stats::add(&retry.stats.rate_limit_waits, 1);
                }
                wait
            }
            Err(failure) => {
                let verdict = if failure.kind.is_transient() { classify_failure(retry_safe) } else { Verdict::Done };
                let code = failure.code();
                let explanation = failure.explanation.clone();
                let Some(wait) = retry.policy.wait(verdict, attempt) else {
                    // The error that ends the call carries the explanation: no second line for it.
                    tracing::debug!(request = %target, attempts = attempt, "giving up: {explanation}");
                    // Kept only when it ended a request: one a retry got past explains nothing.
                    if let Ok(mut slot) = retry.last_failure.lock() {
                        *slot = Some(failure);
                    }
                    return Err(code);
                };
                tracing::info!(request = %target, attempt, wait_ms = wait.as_millis() as u64, "{explanation}; trying again");
                wait
            }
        };
        Stats::add(&retry.stats.retries, 1);
        Stats::add(&retry.stats.waited_ms, verdict.as_millis() as u64);
        tokio::time::sleep(verdict).await;
        attempt += 1;
    }
}

/// A 429, or a 503 that says when to come back: the server is shedding load.
fn is_refused_for_load(status: http::StatusCode, verdict: Verdict) -> bool {
    status == http::StatusCode::TOO_MANY_REQUESTS || matches!(verdict, Verdict::RetryAfter(_))
}

/// A fresh request with the same method, URI, version and headers, and `body`.
fn rebuild(parts: &http::request::Parts, body: Bytes) -> http::Request<Bytes> {
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.headers_mut().remove(RETRY_SAFE_HEADER);
    // The client derives `Host` (HTTP/1.1) or `:authority` (HTTP/2) from the URI itself.
    request.headers_mut().remove(http::header::HOST);
    request
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

    /// A server cannot stall every instance of a sync for an hour: what it asks is clamped.
    #[test]
    fn a_servers_retry_after_is_clamped() {
        assert_eq!(retry_after(&headers(&[("retry-after", "3600")])), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers(&[("retry-after", "1e9")])), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers(&[("retry-after", "2.5")])), Some(Duration::from_millis(2500)));
        let pacer = Pacer::default();
        pacer.observe(&HeaderMap::new(), retry_after(&headers(&[("retry-after", "86400")])));
        assert!(pacer.reserve() <= MAX_RETRY_AFTER, "the shared pacer waits at most the clamp");
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
    fn refusals_halve_the_limit_once_per_burst_and_successes_grow_it_back() {
        let limit = InFlightLimit::new(8);
        let places: Vec<_> = (0..8).map(|_| limit.try_acquire()).collect();
        assert!(places.iter().all(|p| *p) && !limit.try_acquire(), "eight at most");
        limit.refused();
        limit.refused();
        assert_eq!(limit.levels(), (4, 4, 8), "a burst of refusals cuts once");
        limit.state.lock().unwrap().last_cut = Some(Instant::now() - CUT_SPACING);
        limit.refused();
        assert_eq!(limit.levels().0, 2);
        (0..2).for_each(|_| limit.succeeded());
        assert_eq!(limit.levels().0, 3, "after `limit` successes, one more");
        (0..100).for_each(|_| limit.succeeded());
        assert_eq!(limit.levels(), (8, 2, 8), "never above the maximum; the lowest is remembered");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_in_flight_than_allowed() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        let limit = Arc::new(InFlightLimit::new(2));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (limit, now, peak) = (limit.clone(), now.clone(), peak.clone());
                tokio::spawn(async move {
                    let _place = limit.acquire().await;
                    let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(current, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(limit.state.lock().unwrap().in_flight, 0, "every place was given back");
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

    #[test]
    fn the_request_rate_gives_each_request_its_own_slot() {
        let rate = RequestRate::per_second(10.0);
        let waits: Vec<Duration> = (0..4).map(|_| rate.reserve()).collect();
        assert_eq!(waits[0], Duration::ZERO, "the first request goes at once");
        for (n, wait) in waits.iter().enumerate().skip(1) {
            let expected = Duration::from_millis(100 * n as u64);
            assert!(*wait <= expected && *wait + Duration::from_millis(20) >= expected, "request {n} waits {wait:?}, not about {expected:?}");
        }
    }
}
