//! Behavioural tests of the simulator through its axum router (no socket) and, for the
//! lifecycle, through a real socket with a tiny raw HTTP/1.1 client.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;

use crate::{ADMIN_TOKEN, Dataset, FOREIGN_ORIGIN, Fault, LinkStyle, SimConfig, SimState, Simulator, router, token_for};

const ORIGIN: &str = "http://127.0.0.1:8090";
const JSON: &str = "application/json";

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn state_with(cfg: SimConfig) -> Arc<SimState> {
    Arc::new(SimState::new(cfg, ORIGIN.to_string()).expect("valid config"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn get(state: &Arc<SimState>, uri: &str, authorization: Option<&str>, accept: Option<&str>) -> Reply {
    let mut builder = Request::builder().method("GET").uri(uri);
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    if let Some(accept) = accept {
        builder = builder.header("accept", accept);
    }
    exchange(state, builder.body(Body::empty()).unwrap()).await
}

/// Sends one request through a fresh router (no socket) and collects the whole reply.
async fn exchange(state: &Arc<SimState>, request: Request<Body>) -> Reply {
    let response = router(Arc::clone(state)).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn admin_get(state: &Arc<SimState>, uri: &str) -> Reply {
    get(state, uri, Some(&bearer(ADMIN_TOKEN)), Some(JSON)).await
}

/// Turns a `_links.next` into a request URI the way a correct client does: keep our own
/// origin and context path, take only the path (minus any context prefix) and query.
fn next_uri(next: &str, context_path: &str) -> String {
    let without_origin = [ORIGIN, FOREIGN_ORIGIN].iter().find_map(|o| next.strip_prefix(o)).unwrap_or(next);
    let below_context = without_origin.strip_prefix(context_path).filter(|r| r.starts_with('/')).unwrap_or(without_origin);
    format!("{context_path}{below_context}")
}

/// Follows `next` links from `first_uri`; returns (usernames, pages, raw next links).
async fn list_all_users(state: &Arc<SimState>, first_uri: &str, context_path: &str) -> (Vec<String>, Vec<Value>, Vec<String>) {
    let (mut usernames, mut pages, mut nexts) = (Vec::new(), Vec::new(), Vec::new());
    let mut uri = first_uri.to_string();
    for _ in 0..100 {
        let reply = admin_get(state, &uri).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
        let page = reply.json();
        let results = page["results"].as_array().unwrap().clone();
        usernames.extend(results.iter().map(|u| u["username"].as_str().unwrap().to_string()));
        pages.push(page.clone());
        match page["_links"]["next"].as_str() {
            Some(next) if !results.is_empty() => {
                nexts.push(next.to_string());
                uri = next_uri(next, context_path);
            }
            _ => return (usernames, pages, nexts),
        }
    }
    panic!("pagination did not terminate");
}

fn assert_each_user_once(usernames: &[String], dataset: &Dataset) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    usernames.iter().for_each(|u| *counts.entry(u.as_str()).or_default() += 1);
    assert_eq!(usernames.len(), dataset.users.len());
    assert!(dataset.users.iter().all(|u| counts.get(u.username.as_str()) == Some(&1)));
}

fn config(users: usize) -> SimConfig {
    SimConfig { dataset: Dataset::generate(users), ..SimConfig::default() }
}

#[tokio::test]
async fn clamped_pages_under_a_context_path_return_every_user_once_with_relative_next() {
    let cfg = SimConfig { context_path: "/confluence/".into(), max_limit: 200, ..config(450) };
    let dataset = cfg.dataset.clone();
    let state = state_with(cfg);
    let (usernames, pages, nexts) = list_all_users(&state, "/confluence/rest/api/user/list?limit=1000&expand=status", "/confluence").await;
    assert_each_user_once(&usernames, &dataset);
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|p| p["limit"] == 200));
    assert_eq!(pages.iter().map(|p| p["size"].as_u64().unwrap()).collect::<Vec<_>>(), vec![200, 200, 50]);
    assert_eq!(pages[0]["_links"]["base"], format!("{ORIGIN}/confluence"));
    assert_eq!(pages[0]["_links"]["context"], "/confluence");
    assert_eq!(nexts, vec!["/rest/api/user/list?expand=status&limit=200&start=200", "/rest/api/user/list?expand=status&limit=200&start=400"]);
    assert!(pages[2]["_links"].get("next").is_none());
}

#[tokio::test]
async fn default_limit_applies_when_limit_is_absent() {
    let state = state_with(SimConfig { default_limit: 10, ..config(25) });
    let page = admin_get(&state, "/rest/api/user/list").await.json();
    assert_eq!((page["limit"].as_u64(), page["size"].as_u64()), (Some(10), Some(10)));
    assert_eq!(page["_links"]["next"], "/rest/api/user/list?limit=10&start=10");
}

#[tokio::test]
async fn absolute_and_foreign_link_styles_page_through_every_user() {
    for style in [LinkStyle::Absolute, LinkStyle::ForeignBase] {
        let cfg = SimConfig { context_path: "/wiki".into(), max_limit: 7, link_style: style, ..config(30) };
        let dataset = cfg.dataset.clone();
        let state = state_with(cfg);
        let (usernames, _, nexts) = list_all_users(&state, "/wiki/rest/api/user/list", "/wiki").await;
        assert_each_user_once(&usernames, &dataset);
        let expected_prefix = if style == LinkStyle::Absolute { format!("{ORIGIN}/wiki/rest/") } else { format!("{FOREIGN_ORIGIN}/wiki/rest/") };
        assert!(nexts.iter().all(|n| n.starts_with(&expected_prefix)), "{style:?}: {nexts:?}");
    }
}

#[tokio::test]
async fn empty_page_oddity_keeps_next_links_on_last_and_empty_pages() {
    let state = state_with(SimConfig { empty_page_next_oddity: true, ..config(10) });
    let last = admin_get(&state, "/rest/api/user/list?start=5&limit=5").await.json();
    assert_eq!(last["size"], 5);
    assert_eq!(last["_links"]["next"], "/rest/api/user/list?limit=5&start=10");
    let empty = admin_get(&state, "/rest/api/user/list?start=10&limit=5").await.json();
    assert_eq!(empty["size"], 0);
    assert!(empty["_links"]["next"].is_string());
    let zero = admin_get(&state, "/rest/api/user/list?limit=0").await.json();
    assert_eq!(zero["_links"]["next"], "/rest/api/user/list?limit=0&start=0");
    let (usernames, _, _) = list_all_users(&state, "/rest/api/user/list?limit=3", "").await;
    assert_eq!(usernames.len(), 10);
}

#[tokio::test]
async fn bad_token_gets_seraph_401_in_json_or_html() {
    let state = state_with(config(6));
    let reply = get(&state, "/rest/api/user/current", Some("Bearer not-a-token"), Some(JSON)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("x-seraph-loginreason"), Some("AUTHENTICATED_FAILED"));
    assert!(reply.header("www-authenticate").is_some_and(|v| v.starts_with("OAuth realm=\"")));
    let body = reply.json();
    assert_eq!((body["statusCode"].as_u64(), body["reason"].as_str()), (Some(401), Some("Unauthorized")));
    assert!(body["data"].is_object() && body["message"].is_string());

    let html = get(&state, "/rest/api/user/current", Some("Bearer not-a-token"), None).await;
    assert_eq!(html.status, 401);
    assert!(html.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(html.header("x-seraph-loginreason"), Some("AUTHENTICATED_FAILED"));
}

#[tokio::test]
async fn basic_auth_and_user_tokens_identify_the_caller() {
    let state = state_with(config(6));
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:admin"));
    let me = get(&state, "/rest/api/user/current", Some(&basic), Some(JSON)).await;
    assert_eq!(me.json()["username"], "admin");
    assert_eq!(me.header("x-ausername"), Some("admin"));
    let zoe = get(&state, "/rest/api/user/current", Some(&bearer(&token_for("zoe.angstrom"))), Some(JSON)).await.json();
    assert_eq!((zoe["type"].as_str(), zoe["displayName"].as_str()), (Some("known"), Some("Zoë Ångström")));
    assert_eq!(zoe["userKey"].as_str().map(str::len), Some(32));
    let non_admin_list = get(&state, "/rest/api/user/list", Some(&bearer(&token_for("zoe.angstrom"))), Some(JSON)).await;
    assert_eq!(non_admin_list.status, 200);
}

#[tokio::test]
async fn anonymous_callers_see_the_anonymous_user_and_cannot_list() {
    let state = state_with(config(6));
    let me = get(&state, "/rest/api/user/current", None, Some(JSON)).await;
    assert_eq!(me.status, 200);
    let body = me.json();
    assert_eq!(body["type"], "anonymous");
    assert!(body.get("userKey").is_none());
    assert_eq!(get(&state, "/rest/api/user/list", None, Some(JSON)).await.status, 403);

    let closed = state_with(SimConfig { anonymous_access: false, ..config(6) });
    let reply = get(&closed, "/rest/api/user/current", None, None).await;
    assert_eq!(reply.status, 401);
    assert!(reply.body.contains("<status-code>401</status-code>"), "{}", reply.body);
}

#[tokio::test]
async fn unlicensed_callers_cannot_list_users() {
    let state = state_with(config(6));
    let reply = get(&state, "/rest/api/user/list", Some(&bearer(&token_for("unlicensed.user"))), Some(JSON)).await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn user_list_and_server_information_are_version_gated() {
    let cases = [("7.19.0", 404, 404), ("8.4.0", 200, 404), ("8.9.0", 200, 404), ("9.2.3", 200, 200), ("10.2.0", 200, 200)];
    for (version, list_status, info_status) in cases {
        let state = state_with(SimConfig { version: version.into(), ..config(5) });
        assert_eq!(admin_get(&state, "/rest/api/user/list").await.status, list_status, "{version} list");
        let info = admin_get(&state, "/rest/api/server-information").await;
        assert_eq!(info.status, info_status, "{version} info");
        if info_status == 200 {
            assert_eq!(info.json()["version"], version);
        }
        assert_eq!(admin_get(&state, "/rest/applinks/1.0/manifest").await.json()["version"], version);
    }
}

#[tokio::test]
async fn manifest_is_xml_unless_json_is_accepted() {
    let state = state_with(SimConfig { version: "7.19.0".into(), ..config(5) });
    let xml = get(&state, "/rest/applinks/1.0/manifest", None, None).await;
    assert_eq!(xml.status, 200);
    assert!(xml.body.contains("<version>7.19.0</version>") && xml.body.contains("<typeId>confluence</typeId>"));
}

#[tokio::test]
async fn status_is_present_only_with_expand_status() {
    let state = state_with(config(10));
    let plain = admin_get(&state, "/rest/api/user/list").await.json();
    for user in plain["results"].as_array().unwrap() {
        assert!(user.get("status").is_none());
        assert_eq!(user["_expandable"]["status"], "");
    }
    let expanded = admin_get(&state, "/rest/api/user/list?expand=status").await.json();
    let status_of = |name: &str| {
        let users = expanded["results"].as_array().unwrap();
        users.iter().find(|u| u["username"] == name).and_then(|u| u.get("status").cloned())
    };
    assert_eq!(status_of("admin"), Some(Value::from("current")));
    assert_eq!(status_of("shalom-cohen"), Some(Value::from("deactivated")));
    assert_eq!(status_of("status-absent"), None);
    let no_name = expanded["results"].as_array().unwrap().iter().find(|u| u["username"] == "no_display.name").unwrap().clone();
    assert!(no_name.get("displayName").is_none());
}

#[tokio::test]
async fn single_user_lookup_by_username_and_key() {
    let state = state_with(config(6));
    let by_name = admin_get(&state, "/rest/api/user?username=zoe.angstrom").await.json();
    let key = by_name["userKey"].as_str().unwrap().to_string();
    let by_key = admin_get(&state, &format!("/rest/api/user?key={key}&expand=status")).await.json();
    assert_eq!(by_key["username"], "zoe.angstrom");
    assert_eq!(by_key["status"], "current");
    assert_eq!(by_key["_links"]["base"], ORIGIN);
    let missing = admin_get(&state, "/rest/api/user?username=nobody").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["statusCode"], 404);
    assert_eq!(admin_get(&state, "/rest/api/user").await.status, 400);
}

#[tokio::test]
async fn malformed_paging_parameters_get_400() {
    let state = state_with(config(6));
    for uri in ["/rest/api/user/list?limit=abc", "/rest/api/user/list?start=-1", "/rest/api/user/list?limit=99999999999999999999999"] {
        let reply = admin_get(&state, uri).await;
        assert_eq!(reply.status, 400, "{uri}");
        assert_eq!(reply.json()["statusCode"], 400);
    }
}

#[tokio::test]
async fn unknown_paths_and_paths_outside_the_context_get_404() {
    let state = state_with(SimConfig { context_path: "/confluence".into(), ..config(5) });
    let unknown = admin_get(&state, "/confluence/rest/api/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["statusCode"], 404);
    assert_eq!(admin_get(&state, "/rest/api/user/current").await.status, 404);
    assert_eq!(admin_get(&state, "/confluencex/rest/api/user/current").await.status, 404);
    assert_eq!(admin_get(&state, "/confluence/rest/api/user/current").await.status, 200);
}

#[tokio::test]
async fn faults_answer_one_request_each_and_everything_is_recorded() {
    let state = state_with(config(5));
    state.queue_faults(vec![Fault::rate_limited(3), Fault { status: 503, headers: vec![], body: "down".into() }]);
    let first = admin_get(&state, "/rest/api/user/current").await;
    assert_eq!((first.status, first.header("retry-after")), (429, Some("3")));
    assert_eq!(admin_get(&state, "/rest/api/user/current").await.status, 503);
    assert_eq!(admin_get(&state, "/rest/api/user/current?x=1").await.status, 200);
    let log = state.recorded_requests();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 503, 200]);
    assert_eq!(log[2].path_and_query, "/rest/api/user/current?x=1");
    assert_eq!(log[0].authorization.as_deref(), Some(bearer(ADMIN_TOKEN).as_str()));
    assert_eq!(log[0].header("accept"), Some(JSON));
}

/// Minimal HTTP/1.1 GET over a blocking socket; returns (status, body).
fn raw_get(origin: &str, path: &str, authorization: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let address = origin.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {authorization}\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn background_simulator_serves_over_tcp_and_records() {
    let sim = Simulator::start_background(SimConfig { context_path: "/confluence".into(), ..config(5) }).unwrap();
    assert!(sim.base_url().starts_with("http://127.0.0.1:") && sim.base_url().ends_with("/confluence"));
    let (status, body) = raw_get(&sim.origin(), "/confluence/rest/api/user/current", &bearer(ADMIN_TOKEN));
    assert_eq!(status, 200);
    assert!(body.contains("\"username\":\"admin\""), "{body}");
    let log = sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, 200);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_simulator_serves_over_tcp() {
    let sim = Simulator::start(config(5)).await.unwrap();
    let origin = sim.origin();
    let (status, _) = tokio::task::spawn_blocking(move || raw_get(&origin, "/rest/api/user/current", "Bearer wrong")).await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(sim.requests()[0].status, 401);
}

mod directory;
mod fake_c1;
mod fault_plan;
mod global_permissions;
mod writes;
