//! A deterministic, configurable fault plan ([`FaultPlan`], set with `SimConfig::faults` or
//! `Simulator::set_faults`): extra latency, every-Nth 429/503, a 429 burst, dropped
//! connections, truncated and malformed JSON bodies, slow requests and a real token bucket
//! (docs/confluence-dc.md §10). The one-shot [`crate::Fault`] queue takes precedence over the plan.
//!
//! Requests are numbered 1, 2, 3… from the moment the plan was installed (server start or
//! the last `set_faults`), counting every request that reaches the router, whatever it is
//! answered with. For a request numbered `n`, the first matching rule wins, in this order:
//! drop, burst (429), `rate_limit_every` (429), `unavailable_every` (503), token bucket
//! (429 when empty), `malformed_every`, then normal routing, after which `truncate_every`
//! may cut a JSON answer in half. `latency_ms` and `slow_every` delay every response
//! (including faults and dropped connections).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};

use crate::recording::Fault;
use crate::responses::{HttpResponse, JSON_CONTENT_TYPE, with_body};

/// A real token bucket (docs/confluence-dc.md §10): `capacity` tokens, `fill_rate` tokens added
/// every `interval_seconds` (0 is treated as 1). Each request takes one token; an empty bucket
/// answers 429 with `Retry-After` = seconds until the next token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    pub capacity: u64,
    pub fill_rate: u64,
    pub interval_seconds: u64,
}

/// Faults applied to every routed request; the default injects nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Added to every response (tokio sleep).
    pub latency_ms: u64,
    /// Every Nth request answers 429 with `Retry-After` and `X-RateLimit-*` headers.
    pub rate_limit_every: Option<u64>,
    /// Every Nth request answers 503 with `Retry-After`.
    pub unavailable_every: Option<u64>,
    /// The `Retry-After` value of the every-Nth and burst faults.
    pub retry_after_seconds: u64,
    /// `(start, len)`: requests `start..start+len` (1-based) all answer 429.
    pub burst: Option<(u64, u64)>,
    /// Every Nth request: the connection is closed without any response.
    pub drop_every: Option<u64>,
    /// Every Nth request whose answer is JSON: 200 with the real body cut in half (invalid
    /// JSON) and a Content-Length matching the cut body. Non-JSON answers pass unchanged.
    pub truncate_every: Option<u64>,
    /// Every Nth request: 200 with body `{"results": [` (not JSON).
    pub malformed_every: Option<u64>,
    /// `(n, ms)`: every Nth request is delayed by `ms` more.
    pub slow_every: Option<(u64, u64)>,
    /// A token bucket; every response that passes through it carries the rate-limit headers.
    pub token_bucket: Option<TokenBucket>,
    /// `(n, ms)`: from request `n` on, the server is gone for `ms`: every connection is closed
    /// without an answer until then (longer than a client's retries last, if it likes).
    pub outage: Option<(u64, u64)>,
}

/// The body of a `malformed_every` answer.
pub const MALFORMED_BODY: &str = r#"{"results": ["#;

impl FaultPlan {
    /// True when the plan injects nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == FaultPlan::default()
    }

    /// The extra delay for request `n` (latency plus `slow_every`).
    pub fn delay_for(&self, n: u64) -> Duration {
        let slow = match self.slow_every {
            Some((every, ms)) if is_nth(n, Some(every)) => ms,
            _ => 0,
        };
        Duration::from_millis(self.latency_ms.saturating_add(slow))
    }

    fn in_burst(&self, n: u64) -> bool {
        self.burst.is_some_and(|(start, len)| n >= start && n < start.saturating_add(len))
    }
}

/// `n` (1-based) is a multiple of `every` (never for `None`, 0 or `n == 0`).
fn is_nth(n: u64, every: Option<u64>) -> bool {
    matches!(every, Some(k) if k > 0 && n > 0 && n.is_multiple_of(k))
}

/// What the plan decided for one request (before routing).
#[derive(Debug)]
pub(crate) enum PlanAction {
    /// Close the connection without answering.
    Drop,
    /// Answer with this fault instead of routing.
    Fault(Fault),
    /// Answer `MALFORMED_BODY`.
    Malformed,
    /// Route normally; `truncate` cuts a JSON answer in half.
    Route { truncate: bool },
}

#[derive(Debug)]
pub(crate) struct PlanDecision {
    pub delay: Duration,
    pub action: PlanAction,
    /// Rate-limit headers to add to the answer (token bucket configured).
    pub bucket_headers: Vec<(&'static str, String)>,
}

/// The mutable side of the plan: the plan in force, where its numbering starts, the bucket.
#[derive(Debug)]
pub(crate) struct FaultRuntime {
    plan: FaultPlan,
    /// Requests numbered up to `base` (global count) belong to an earlier plan.
    base: u64,
    tokens: u64,
    last_refill: Instant,
    /// Until when the outage of the plan lasts, once it began.
    down_until: Option<Instant>,
}

impl FaultRuntime {
    pub fn new(plan: FaultPlan, base: u64) -> FaultRuntime {
        let tokens = plan.token_bucket.as_ref().map_or(0, |b| b.capacity);
        FaultRuntime { plan, base, tokens, last_refill: Instant::now(), down_until: None }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Decides the fate of the request with global number `global` (1-based).
    pub fn decide(&mut self, global: u64) -> PlanDecision {
        let n = global.saturating_sub(self.base);
        let plan = self.plan.clone();
        let delay = plan.delay_for(n);
        let retry = plan.retry_after_seconds;
        let decision = |action| PlanDecision { delay, action, bucket_headers: Vec::new() };
        if n == 0 {
            return decision(PlanAction::Route { truncate: false });
        }
        if let Some((from, ms)) = plan.outage
            && n == from
        {
            self.down_until = Some(Instant::now() + Duration::from_millis(ms));
        }
        if is_nth(n, plan.drop_every) || self.down_until.is_some_and(|until| Instant::now() < until) {
            return decision(PlanAction::Drop);
        }
        if plan.in_burst(n) || is_nth(n, plan.rate_limit_every) {
            return decision(PlanAction::Fault(Fault::rate_limited(retry)));
        }
        if is_nth(n, plan.unavailable_every) {
            return decision(PlanAction::Fault(Fault::unavailable(retry)));
        }
        let mut bucket_headers = Vec::new();
        if let Some(bucket) = &plan.token_bucket {
            let (allowed, headers) = self.take_token(bucket);
            bucket_headers = headers;
            if !allowed {
                let mut fault = Fault::rate_limited(0);
                fault.headers.retain(|(name, _)| name == "Content-Type");
                return PlanDecision { delay, action: PlanAction::Fault(fault), bucket_headers };
            }
        }
        let action = if is_nth(n, plan.malformed_every) { PlanAction::Malformed } else { PlanAction::Route { truncate: is_nth(n, plan.truncate_every) } };
        PlanDecision { delay, action, bucket_headers }
    }

    /// Refills, then takes one token if any; returns whether it succeeded and the headers.
    fn take_token(&mut self, bucket: &TokenBucket) -> (bool, Vec<(&'static str, String)>) {
        let interval = Duration::from_secs(bucket.interval_seconds.max(1));
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last_refill);
        let intervals = (elapsed.as_nanos() / interval.as_nanos()) as u64;
        if intervals > 0 {
            self.tokens = self.tokens.saturating_add(intervals.saturating_mul(bucket.fill_rate)).min(bucket.capacity);
            self.last_refill += interval * u32::try_from(intervals).unwrap_or(u32::MAX);
        }
        if self.tokens >= bucket.capacity {
            // A full bucket does not accumulate time towards the next refill.
            self.last_refill = now;
        }
        let allowed = self.tokens > 0;
        let retry_after = if allowed {
            self.tokens -= 1;
            0
        } else if bucket.fill_rate == 0 {
            interval.as_secs()
        } else {
            let next = (self.last_refill + interval).saturating_duration_since(now);
            next.as_secs() + u64::from(next.subsec_nanos() > 0)
        }
        .max(u64::from(!allowed));
        let headers = vec![
            ("x-ratelimit-limit", bucket.capacity.to_string()),
            ("x-ratelimit-remaining", self.tokens.to_string()),
            ("x-ratelimit-interval-seconds", bucket.interval_seconds.max(1).to_string()),
            ("x-ratelimit-fillrate", bucket.fill_rate.to_string()),
            ("retry-after", retry_after.to_string()),
        ];
        (allowed, headers)
    }
}

/// 200 with [`MALFORMED_BODY`] as JSON.
pub(crate) fn malformed_response() -> HttpResponse {
    with_body(StatusCode::OK, JSON_CONTENT_TYPE, MALFORMED_BODY.to_string())
}

/// The answer for a dropped request when the connection cannot be cut (the router used
/// without the simulator's listener, e.g. through `oneshot`): an empty body announced as
/// 1 MiB, so a real server aborts the message after the head and no client sees a complete
/// response. The simulator's own listener cuts the connection before any byte is written.
pub(crate) fn dropped_response() -> HttpResponse {
    let mut response = HttpResponse::new(Body::empty());
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("1048576"));
    response
}

/// True when the response declares a JSON content type.
pub(crate) fn is_json(response: &HttpResponse) -> bool {
    response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// Cuts a (JSON) response body in half: status 200, Content-Length of the cut body.
pub(crate) async fn truncated(response: HttpResponse) -> HttpResponse {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts.status = StatusCode::OK;
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
    HttpResponse::from_parts(parts, Body::from(cut))
}

/// Adds `headers` where the response does not carry them yet.
pub(crate) fn add_missing_headers(response: &mut HttpResponse, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if !response.headers().contains_key(*name)
            && let Ok(value) = HeaderValue::from_str(value)
        {
            response.headers_mut().insert(*name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(action: &PlanAction) -> String {
        match action {
            PlanAction::Drop => "drop".into(),
            PlanAction::Fault(f) => f.status.to_string(),
            PlanAction::Malformed => "malformed".into(),
            PlanAction::Route { truncate: true } => "truncate".into(),
            PlanAction::Route { truncate: false } => "ok".into(),
        }
    }

    #[test]
    fn rules_apply_in_order_and_relative_to_the_base() {
        let plan = FaultPlan {
            drop_every: Some(6),
            rate_limit_every: Some(3),
            unavailable_every: Some(4),
            malformed_every: Some(5),
            truncate_every: Some(7),
            burst: Some((9, 2)),
            ..FaultPlan::default()
        };
        let mut runtime = FaultRuntime::new(plan, 100);
        let kinds: Vec<String> = (100..=112).map(|g| kind(&runtime.decide(g).action)).collect();
        assert_eq!(kinds, ["ok", "ok", "ok", "429", "503", "malformed", "drop", "truncate", "503", "429", "429", "ok", "drop"]);
    }

    #[test]
    fn empty_bucket_without_fill_rate_still_has_a_retry_after() {
        let bucket = TokenBucket { capacity: 1, fill_rate: 0, interval_seconds: 5 };
        let mut runtime = FaultRuntime::new(FaultPlan { token_bucket: Some(bucket), ..FaultPlan::default() }, 0);
        assert!(matches!(runtime.decide(1).action, PlanAction::Route { .. }));
        let refused = runtime.decide(2);
        assert!(matches!(refused.action, PlanAction::Fault(ref f) if f.status == 429));
        assert!(refused.bucket_headers.contains(&("retry-after", "5".into())));
    }
}
