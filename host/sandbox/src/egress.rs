//! Egress policy, in one place: the outgoing-request hook every guest HTTP call passes through.
//! The component and the servers it talks to are untrusted.
//!
//! A request is sent only when its scheme, host and port equal the configured origin, its
//! authority carries no user information, its path *after canonicalisation* stays under the
//! configured path prefix (a context path such as `/wiki`: `..;`, encoded `/`, `\` or `;`,
//! double encodings and dot segments are refused, since the servers behind a context path
//! normalise them away), its method is one of GET, HEAD, POST, PUT, PATCH, DELETE, and its
//! headers are on an allow-list. Only then is the `Authorization` header attached, by the
//! host; a guest can neither set that header (it is forbidden, so `fields` refuses it) nor reach
//! any other destination (refused with `HttpRequestDenied`, and logged with the setting that
//! would allow it). A request body is capped while it is read. Answers reach the guest without
//! `Set-Cookie` or any header that echoes the credential. What an origin is and how a path is
//! judged is [`crate::origin`]'s; sending, and sending again, is [`crate::retry`]'s.

use crate::declared::{Allowance, Declared};
use crate::origin::Origin;
use crate::outbound::{Failure, Outbound};
use crate::retry::{self, EgressReport, InFlightLimit, RequestRate, RetryPolicy, Retrying, Stats};
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use http::{Method, Uri};
use http_body_util::{BodyExt, Empty};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

/// Methods a request may use: the ones connectors need; `TRACE`, `CONNECT`, `OPTIONS` and
/// the rest are refused.
fn check_method(method: &Method) -> Result<(), String> {
    match *method {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::PATCH | Method::DELETE => Ok(()),
        ref other => Err(format!("its method {other} is not allowed")),
    }
}

/// Request headers a guest may send. Anything else (`Host`, `Forwarded`, `X-Forwarded-*`,
/// `X-Original-URL`, hop-by-hop headers, ...) could make a proxy or server in front of the
/// origin route or trust the request differently, so it is refused.
const ALLOWED_REQUEST_HEADERS: [&str; 14] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "pragma",
    "user-agent",
    "x-atlassian-token",
    retry::RETRY_SAFE_HEADER,
];

/// The headers must be on [`ALLOWED_REQUEST_HEADERS`]; `Host` is there only as wasi-http
/// derives it from the request's authority, never another value.
fn check_headers(headers: &http::HeaderMap, uri: &Uri) -> Result<(), String> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let own_host = |name: &HeaderName| {
        name == http::header::HOST && headers.get_all(http::header::HOST).iter().all(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case(authority)))
    };
    match headers.keys().find(|name| !ALLOWED_REQUEST_HEADERS.contains(&name.as_str()) && !own_host(name)) {
        Some(name) => Err(format!("it sets the header {name}, which connectors may not send")),
        None => Ok(()),
    }
}

/// The most a guest may send as one request body.
pub const MAX_REQUEST_BODY: usize = 4 << 20;

/// Response headers the guest never sees: cookies (a session the host did not ask for) and
/// anything naming or echoing the credential.
fn strip_response_headers(headers: &mut http::HeaderMap, credential: Option<&HeaderValue>) {
    for name in ["set-cookie", "set-cookie2", "authorization", "proxy-authorization", "proxy-authenticate"] {
        headers.remove(name);
    }
    let Some(credential) = credential.and_then(|c| c.to_str().ok()) else { return };
    let secret = credential.split_once(' ').map(|(_, s)| s).unwrap_or(credential);
    if secret.len() < 4 {
        return;
    }
    let echoing: Vec<HeaderName> =
        headers.iter().filter(|(_, value)| value.to_str().is_ok_and(|v| v.contains(secret) || v.contains(credential))).map(|(name, _)| name.clone()).collect();
    for name in echoing {
        headers.remove(name);
    }
}

/// How the requests of one run (all its instances together) are sent.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// At most this many in flight at once (lowered while the server refuses requests for
    /// load, see [`InFlightLimit`]).
    pub concurrency: usize,
    /// At most this many a second, when set.
    pub requests_per_second: Option<f64>,
    pub retry: RetryPolicy,
}

/// The hook state of one instance: where requests may go and what credential they carry.
#[derive(Clone)]
pub struct EgressHooks {
    origin: Option<Arc<Origin>>,
    authorization: Option<HeaderValue>,
    /// Which setting names the origin, for the denial message.
    origin_setting: Arc<str>,
    /// Retry policy, pacing and counters, shared by every instance of one sync.
    retry: Arc<Retrying>,
    /// The pooled client that sends, shared the same way (`None` when nothing may leave).
    outbound: Option<Arc<Outbound>>,
    /// The requests beyond GET and HEAD the component declares.
    declared: Declared,
    /// What the call under way may send (set by the instance before each call).
    allowance: Allowance,
    /// The request bodies this instance's requests hold while they are read and sent.
    bodies: Arc<HeldBodies>,
}

/// Bytes of request bodies one instance's requests hold at once: a body is read whole before
/// its request takes an in-flight slot, so without this a component could start many requests
/// and hold the host at up to [`MAX_REQUEST_BODY`] each, from a small buffer of its own. They
/// count against the instance's memory cap.
#[derive(Debug, Default)]
struct HeldBodies {
    held: std::sync::atomic::AtomicUsize,
    limit: usize,
}

/// A part of [`HeldBodies`] one request holds, given back when it is dropped.
struct BodyHold {
    bodies: Arc<HeldBodies>,
    bytes: usize,
}

impl BodyHold {
    /// Holds `more` bytes, unless that takes the instance's bodies past their limit.
    fn grow(&mut self, more: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let before = self.bodies.held.fetch_add(more, Relaxed);
        if before.saturating_add(more) > self.bodies.limit {
            self.bodies.held.fetch_sub(more, Relaxed);
            return false;
        }
        self.bytes += more;
        true
    }
}

impl Drop for BodyHold {
    fn drop(&mut self) {
        self.bodies.held.fetch_sub(self.bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Why a request body was not read to its end.
enum BodyRefused {
    /// The guest's own stream failed.
    Guest(wasmtime_wasi_http::Error),
    /// Over [`MAX_REQUEST_BODY`].
    TooLarge,
    /// Over what the instance's bodies may hold together.
    OverMemory(usize),
}

/// Reads a request body whole, each frame counted into `hold` as it arrives.
async fn read_body(mut body: WasiBody, hold: &mut BodyHold) -> Result<Bytes, BodyRefused> {
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyRefused::Guest)?;
        let Ok(data) = frame.into_data() else { continue };
        if read.len() + data.len() > MAX_REQUEST_BODY {
            return Err(BodyRefused::TooLarge);
        }
        if !hold.grow(data.len()) {
            return Err(BodyRefused::OverMemory(hold.bodies.limit));
        }
        read.extend_from_slice(&data);
    }
    Ok(read.freeze())
}

impl EgressHooks {
    /// Hooks for `origin`, sending through `outbound` (a client for the same origin);
    /// `authorization` is attached to every admitted request.
    pub fn new(origin: Origin, authorization: Option<HeaderValue>, origin_setting: &str, outbound: Arc<Outbound>) -> EgressHooks {
        let authorization = authorization.map(|mut value| {
            value.set_sensitive(true);
            value
        });
        EgressHooks {
            origin: Some(Arc::new(origin)),
            authorization,
            origin_setting: origin_setting.into(),
            retry: Default::default(),
            outbound: Some(outbound),
            declared: Declared::default(),
            allowance: Allowance::Read,
            bodies: Arc::default(),
        }
    }

    /// The same hooks for one instance whose request bodies may hold `limit` bytes together
    /// (its memory cap).
    pub(crate) fn holding_bodies_within(mut self, limit: usize) -> EgressHooks {
        self.bodies = Arc::new(HeldBodies { held: Default::default(), limit });
        self
    }

    /// The same hooks letting out, beyond GET and HEAD, what the component declares.
    pub fn with_declared(mut self, declared: Declared) -> EgressHooks {
        self.declared = declared;
        self
    }

    /// What the call about to run may send.
    pub(crate) fn allow(&mut self, allowance: Allowance) {
        self.allowance = allowance;
    }

    /// The same hooks paced as `pacing` says, with fresh counters: the whole of how one run's
    /// requests are sent, set at once (no setter can undo another).
    pub fn with_pacing(mut self, pacing: Pacing) -> EgressHooks {
        self.retry = Arc::new(Retrying {
            policy: pacing.retry,
            in_flight: InFlightLimit::new(pacing.concurrency),
            rate: pacing.requests_per_second.map(RequestRate::per_second),
            ..Default::default()
        });
        self
    }

    /// What the requests of these hooks (and all their clones) did so far.
    pub fn report(&self) -> EgressReport {
        self.retry.stats.report(&self.retry.in_flight)
    }

    /// The latest failure to reach the server (no answer at all), explained.
    pub fn last_failure(&self) -> Option<Failure> {
        self.retry.last_failure.lock().ok().and_then(|slot| slot.clone())
    }

    /// Hooks that refuse every request (for calls that must not touch the network, such as
    /// reading the component's metadata before configuration is known).
    pub fn deny_all() -> EgressHooks {
        EgressHooks {
            origin: None,
            authorization: None,
            origin_setting: "".into(),
            retry: Default::default(),
            outbound: None,
            declared: Declared::default(),
            allowance: Allowance::Read,
            bodies: Arc::default(),
        }
    }

    /// Why `request` may not leave, or `Ok` when it may.
    fn admit<B>(&self, request: &http::Request<B>) -> Result<(), String> {
        let Some(origin) = &self.origin else { return Err("no destination is allowed before configuration is complete".into()) };
        let path = origin.admit(request.uri())?;
        check_method(request.method())?;
        check_headers(request.headers(), request.uri())?;
        self.declared.permits(request.method(), &path, self.allowance)
    }

    fn allowed(&self) -> String {
        self.origin.as_ref().map(|o| o.base_url()).unwrap_or_else(|| "nothing".into())
    }
}

/// Headers a guest may never set: the defaults plus anything that carries credentials.
fn is_forbidden(name: &HeaderName) -> bool {
    DEFAULT_FORBIDDEN_HEADERS.contains(name) || name == AUTHORIZATION || name == PROXY_AUTHORIZATION || name == COOKIE
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for EgressHooks {
    fn is_forbidden_header(&mut self, name: &HeaderName) -> bool {
        is_forbidden(name)
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(is_forbidden)
    }

    fn send_request(&mut self, mut request: http::Request<WasiBody>, options: Option<RequestOptions>, _io: IoFuture) -> SendFuture {
        let admitted = self.admit(&request).and_then(|()| self.outbound.clone().ok_or_else(|| "nothing may be sent".to_string()));
        let outbound = match admitted {
            Ok(outbound) => outbound,
            Err(why) => {
                Stats::add(&self.retry.stats.refused, 1);
                tracing::warn!(
                    destination = %redacted_uri(request.uri()),
                    method = %request.method(),
                    allowed = %self.allowed(),
                    "refused an outgoing request because {why}; only the base URL set by --{} may be reached, with what the component declares",
                    self.origin_setting
                );
                drain_in_background(std::mem::replace(request.body_mut(), empty_body()));
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
        };
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(AUTHORIZATION, value.clone());
        }
        let first_byte_timeout = first_byte_timeout(options);
        let retry = self.retry.clone();
        let credential = self.authorization.clone();
        let mut hold = BodyHold { bodies: self.bodies.clone(), bytes: 0 };
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = if parts.method == Method::GET || parts.method == Method::HEAD {
                // Hand hyper an explicit empty body and drain the guest's (empty) one ourselves,
                // so a late write from the guest never races the connection
                // (docs/wasm-notes.md §3.3).
                drain_in_background(body);
                Bytes::new()
            } else {
                match read_body(body, &mut hold).await {
                    Ok(read) => read,
                    Err(BodyRefused::Guest(error)) => return Err(error),
                    Err(BodyRefused::TooLarge) => {
                        tracing::warn!(request = %redacted_uri(&parts.uri), limit_bytes = MAX_REQUEST_BODY, "refused an outgoing request: its body is larger than the limit");
                        return Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY as u64)));
                    }
                    Err(BodyRefused::OverMemory(limit)) => {
                        Stats::add(&retry.stats.refused, 1);
                        tracing::warn!(
                            request = %redacted_uri(&parts.uri),
                            limit_mib = limit >> 20,
                            "refused an outgoing request: the request bodies this connector instance is sending would hold more than its memory cap (--max-memory-mb)"
                        );
                        return Err(wasmtime_wasi_http::Error::HttpRequestBodySize(None));
                    }
                }
            };
            let mut response = retry::send_with_retries(&parts, body, first_byte_timeout, &retry, &outbound).await?;
            strip_response_headers(response.headers_mut(), credential.as_ref());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// The URI without its query, for logs.
fn redacted_uri(uri: &Uri) -> String {
    format!("{}://{}{}", uri.scheme_str().unwrap_or("?"), uri.authority().map(|a| a.as_str()).unwrap_or("?"), uri.path())
}

/// How long to wait for the first byte of an answer: the guest's choice, else 5 minutes.
/// Connecting and the wait between bytes are bounded by the client ([`crate::outbound`]).
fn first_byte_timeout(options: Option<RequestOptions>) -> Duration {
    options.and_then(|o| o.first_byte_timeout).unwrap_or(Duration::from_secs(300))
}

fn empty_body() -> WasiBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
}

fn drain_in_background(mut body: WasiBody) {
    tokio::spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wit;

    fn origin(base: &str) -> Origin {
        Origin::parse(base).unwrap()
    }

    #[test]
    fn only_the_methods_and_headers_connectors_need_leave() {
        let o = origin("http://127.0.0.1:8090");
        let change = |method: &str| wit::EgressRule { method: method.into(), path: "/rest/api".into(), access: wit::EgressAccess::Change };
        let declared = Declared::from_metadata(&["POST", "PUT", "PATCH", "DELETE"].map(change)).unwrap();
        let mut hooks = EgressHooks::new(o.clone(), None, "hostname", Arc::new(Outbound::with_defaults(&o).unwrap())).with_declared(declared);
        hooks.allow(Allowance::Change);
        let request = |method: &str, header: Option<&str>| {
            let mut builder = http::Request::builder().method(method).uri("http://127.0.0.1:8090/rest/api").header("accept", "application/json");
            if let Some(name) = header {
                builder = builder.header(name, "x");
            }
            builder.body(()).unwrap()
        };
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(hooks.admit(&request(method, None)).is_ok(), "{method}");
        }
        for method in ["TRACE", "CONNECT", "OPTIONS", "PROPFIND"] {
            assert!(hooks.admit(&request(method, None)).is_err(), "{method}");
        }
        for header in ["x-forwarded-for", "x-forwarded-host", "forwarded", "x-original-url", "x-rewrite-url", "host", "te", "x-anything"] {
            assert!(hooks.admit(&request("GET", Some(header))).is_err(), "{header}");
        }
        let own_host = http::Request::builder().uri("http://127.0.0.1:8090/rest/api").header("host", "127.0.0.1:8090").body(()).unwrap();
        assert!(hooks.admit(&own_host).is_ok(), "the Host wasi-http derives from the authority");
        assert!(hooks.admit(&request("POST", Some("x-atlassian-token"))).is_ok());
        // A call that only reads sends no declared change; nothing undeclared leaves at all.
        hooks.allow(Allowance::Read);
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(hooks.admit(&request(method, None)).unwrap_err().contains("changes the target system"), "{method}");
        }
        assert!(hooks.admit(&request("GET", None)).is_ok());
        let elsewhere = http::Request::builder().method("POST").uri("http://127.0.0.1:8090/rest/api/other").body(()).unwrap();
        hooks.allow(Allowance::Change);
        assert!(hooks.admit(&elsewhere).unwrap_err().contains("did not declare POST /rest/api/other"));
    }

    #[test]
    fn cookies_and_credential_echoes_never_reach_the_guest() {
        let mut headers = http::HeaderMap::new();
        headers.insert("set-cookie", "JSESSIONID=abc".parse().unwrap());
        headers.insert("x-echo", "Bearer s3cr3t-token".parse().unwrap());
        headers.insert("x-debug", "token=s3cr3t-token".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        strip_response_headers(&mut headers, Some(&"Bearer s3cr3t-token".parse().unwrap()));
        assert_eq!(headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["content-type"]);
    }

    #[test]
    fn credential_headers_are_forbidden_to_guests() {
        assert!(is_forbidden(&AUTHORIZATION));
        assert!(is_forbidden(&PROXY_AUTHORIZATION));
        assert!(is_forbidden(&HeaderName::from_static("host")));
        assert!(!is_forbidden(&HeaderName::from_static("accept")));
    }
}
