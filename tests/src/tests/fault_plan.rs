//! The fault plan: every-Nth faults, bursts, broken bodies, latency, the token bucket,
//! dropped connections and switching plans at runtime; plus large-dataset timings.

use std::time::{Duration, Instant};

use super::*;
use crate::{FaultPlan, MALFORMED_BODY, TokenBucket};

fn faulty(plan: FaultPlan) -> Arc<SimState> {
    state_with(SimConfig { faults: plan, ..config(6) })
}

const CURRENT: &str = "/rest/api/user/current";

#[tokio::test]
async fn every_nth_request_gets_429_or_503_with_headers() {
    let state = faulty(FaultPlan { rate_limit_every: Some(3), unavailable_every: Some(4), retry_after_seconds: 0, ..FaultPlan::default() });
    let mut statuses = Vec::new();
    for n in 1..=8u64 {
        let reply = admin_get(&state, CURRENT).await;
        statuses.push(reply.status);
        match reply.status {
            429 => {
                assert_eq!(reply.header("retry-after"), Some("0"), "request {n}");
                for name in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-interval-seconds", "x-ratelimit-fillrate"] {
                    assert!(reply.header(name).is_some(), "{name} on request {n}");
                }
            }
            503 => assert_eq!(reply.header("retry-after"), Some("0"), "request {n}"),
            _ => {}
        }
    }
    assert_eq!(statuses, [200, 200, 429, 503, 200, 429, 200, 503]);
    assert_eq!(state.recorded_requests().iter().map(|r| r.status).collect::<Vec<_>>(), statuses);
    assert_eq!(state.request_count(), 8);
}

#[tokio::test]
async fn a_burst_answers_429_for_its_whole_range() {
    let state = faulty(FaultPlan { burst: Some((2, 3)), retry_after_seconds: 7, ..FaultPlan::default() });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = admin_get(&state, CURRENT).await;
        if reply.status == 429 {
            assert_eq!(reply.header("retry-after"), Some("7"));
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [200, 429, 429, 429, 200, 200]);
}

#[tokio::test]
async fn malformed_and_truncated_bodies_are_not_json() {
    let state = faulty(FaultPlan { malformed_every: Some(2), truncate_every: Some(3), ..FaultPlan::default() });
    let whole = admin_get(&state, "/rest/api/user/list?limit=5").await;
    assert_eq!(whole.status, 200);
    whole.json();
    let malformed = admin_get(&state, "/rest/api/user/list?limit=5").await;
    assert_eq!(malformed.status, 200);
    assert_eq!(malformed.body, MALFORMED_BODY);
    assert!(serde_json::from_str::<Value>(&malformed.body).is_err());
    let cut = admin_get(&state, "/rest/api/user/list?limit=5").await;
    assert_eq!(cut.status, 200);
    assert!(serde_json::from_str::<Value>(&cut.body).is_err());
    assert_eq!(cut.body.len(), whole.body.len() / 2, "same page, cut in half");
    assert!(whole.body.starts_with(&cut.body));
    assert_eq!(cut.header("content-length"), Some(cut.body.len().to_string().as_str()));
    // Request 4 is malformed again, 5 is clean.
    assert_eq!(admin_get(&state, CURRENT).await.body, MALFORMED_BODY);
    admin_get(&state, CURRENT).await.json();
}

#[tokio::test]
async fn latency_and_slow_requests_delay_answers() {
    let state = faulty(FaultPlan { latency_ms: 60, slow_every: Some((2, 150)), ..FaultPlan::default() });
    let clock = Instant::now();
    assert_eq!(admin_get(&state, CURRENT).await.status, 200);
    let first = clock.elapsed();
    assert!(first >= Duration::from_millis(60), "{first:?}");
    let clock = Instant::now();
    assert_eq!(admin_get(&state, CURRENT).await.status, 200);
    let second = clock.elapsed();
    assert!(second >= Duration::from_millis(210), "{second:?}");
}

#[tokio::test]
async fn token_bucket_refuses_when_empty_and_refills() {
    let state = faulty(FaultPlan { token_bucket: Some(TokenBucket { capacity: 2, fill_rate: 1, interval_seconds: 1 }), ..FaultPlan::default() });
    let first = admin_get(&state, CURRENT).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("x-ratelimit-interval-seconds"), Some("1"));
    assert_eq!(first.header("x-ratelimit-fillrate"), Some("1"));
    assert_eq!(first.header("retry-after"), Some("0"));
    let second = admin_get(&state, CURRENT).await;
    assert_eq!((second.status, second.header("x-ratelimit-remaining")), (200, Some("0")));
    let refused = admin_get(&state, CURRENT).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    refused.json();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refilled = admin_get(&state, CURRENT).await;
    assert_eq!(refilled.status, 200, "{}", refilled.body);
    assert_eq!(refilled.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(admin_get(&state, CURRENT).await.status, 429);
}

#[tokio::test]
async fn one_shot_faults_take_precedence_over_the_plan() {
    let state = faulty(FaultPlan { unavailable_every: Some(1), ..FaultPlan::default() });
    state.queue_faults(vec![Fault::rate_limited(2)]);
    assert_eq!(admin_get(&state, CURRENT).await.status, 429);
    assert_eq!(admin_get(&state, CURRENT).await.status, 503);
}

/// Sends a raw GET and reads until EOF: (bytes received, read error if any).
fn raw_exchange(origin: &str, path: &str) -> (Vec<u8>, Option<std::io::Error>) {
    use std::io::{Read, Write};
    let address = origin.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n", bearer(ADMIN_TOKEN));
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let error = stream.read_to_end(&mut received).err();
    (received, error)
}

#[test]
fn dropped_connections_send_nothing_and_set_faults_switches_plans() {
    let sim = Simulator::start_background(config(6)).unwrap();
    let origin = sim.origin();
    // Clean first.
    let (status, _) = raw_get(&origin, CURRENT, &bearer(ADMIN_TOKEN));
    assert_eq!(status, 200);
    sim.set_faults(FaultPlan { drop_every: Some(2), rate_limit_every: Some(3), ..FaultPlan::default() });
    assert_eq!(sim.faults().drop_every, Some(2));
    // Plan request 1: fine; 2: dropped; 3: 429; 4: dropped.
    assert_eq!(raw_get(&origin, CURRENT, &bearer(ADMIN_TOKEN)).0, 200);
    let (received, _error) = raw_exchange(&origin, CURRENT);
    assert!(received.is_empty(), "a dropped connection sends nothing, got {:?}", String::from_utf8_lossy(&received));
    assert_eq!(raw_get(&origin, CURRENT, &bearer(ADMIN_TOKEN)).0, 429);
    assert!(raw_exchange(&origin, CURRENT).0.is_empty());
    // Back to clean.
    sim.set_faults(FaultPlan::default());
    assert_eq!(raw_get(&origin, CURRENT, &bearer(ADMIN_TOKEN)).0, 200);
    assert_eq!(sim.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 0, 429, 0, 200]);
    assert_eq!(sim.request_count(), 6);
    sim.clear_requests();
    assert_eq!(sim.request_count(), 6);
}

/// Timings for large datasets (debug build unless run with --release):
/// `cargo test -p confluence-tests --lib large_dataset_timings -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "timing report; slow in debug builds"]
async fn large_dataset_timings() {
    let clock = Instant::now();
    let dataset = Dataset::generate(50_000);
    let generated = clock.elapsed();
    let clock = Instant::now();
    let expected = dataset.expected();
    let expected_time = clock.elapsed();
    let clock = Instant::now();
    let state = state_with(SimConfig { max_limit: 1000, dataset, ..SimConfig::default() });
    let started = clock.elapsed();
    let clock = Instant::now();
    let mut start = 0;
    let mut users = 0;
    loop {
        let page = admin_get(&state, &format!("/rest/api/user/list?limit=1000&start={start}")).await.json();
        let size = page["size"].as_u64().unwrap() as usize;
        users += size;
        if page["_links"]["next"].is_null() {
            break;
        }
        start += size;
    }
    let user_pass = clock.elapsed();
    assert_eq!(users, 50_000);
    let big = state.group_members("big-group").len();
    let clock = Instant::now();
    let mut start = 0;
    let mut members = 0;
    loop {
        let page = admin_get(&state, &format!("/rest/api/group/big-group/member?limit=1000&start={start}")).await.json();
        let size = page["size"].as_u64().unwrap() as usize;
        members += size;
        if size == 0 || page["_links"]["next"].is_null() {
            break;
        }
        start += size;
    }
    let member_pass = clock.elapsed();
    assert_eq!(members, big);
    println!(
        "generate(50_000): {generated:?}; expected(): {expected_time:?} ({} memberships); \
         SimState::new: {started:?}; /user/list pass (limit 1000): {user_pass:?}; \
         big-group members pass ({big} members, limit 1000): {member_pass:?}",
        expected.memberships
    );
}
