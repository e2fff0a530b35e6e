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
//! `Set-Cookie` or any header that echoes the credential.

use crate::outbound::{Failure, Outbound};
use crate::retry::{self, EgressReport, InFlightLimit, Pacer, RequestRate, RetryPolicy, Stats, Verdict};
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use http::{Method, Uri};
use http_body_util::{BodyExt, Empty};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks};

/// The one origin (and path prefix) requests may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    /// Lowercase host name or address.
    pub host: String,
    /// Effective port (the scheme's default when not given).
    pub port: u16,
    /// Path prefix without trailing slash (`""` or e.g. `/wiki`).
    pub path_prefix: String,
}

/// `raw` with everything between the scheme and the last `@` replaced by `***`, so that a URL
/// can be quoted in an error message without repeating a password someone put into it,
/// whatever characters the password holds (`/`, `?`, `#` and `@` included: a parser would end
/// the authority early, so the whole stretch up to the last `@` is hidden).
pub(crate) fn without_user_info(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => raw.to_string(),
    }
}

impl Origin {
    /// Parses a base URL (`http(s)://host[:port][/prefix]`).
    pub fn parse(raw: &str) -> Result<Origin, String> {
        let shown = without_user_info(raw);
        let base_url = shown.as_str();
        let url = url::Url::parse(raw).map_err(|e| format!("{base_url:?} is not a URL: {e}"))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("{base_url:?} uses {other}: only http and https are supported")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{base_url:?} carries user information; give credentials through their own settings"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{base_url:?} must not have a query or fragment"));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("{base_url:?} has no host"))?;
        // An IPv6 literal comes bracketed; requests carry it the same way, compared bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let path_prefix = canonical_path(url.path()).map_err(|why| format!("{base_url:?} has an unusable path: {why}"))?.trim_end_matches('/').to_string();
        Ok(Origin { https, host: host.to_ascii_lowercase(), port, path_prefix })
    }

    /// The origin as a URL, for messages and for the guest's configuration.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default_port = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let port = if self.port == default_port { String::new() } else { format!(":{}", self.port) };
        format!("{scheme}://{host}{port}{}", self.path_prefix)
    }

    /// Why `uri` is not allowed, or `Ok` when it is.
    pub fn admit(&self, uri: &Uri) -> Result<(), String> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("it has no http or https scheme".into()),
        };
        let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err("its authority carries user information".into());
        }
        if https != self.https || host != self.host || port != self.port {
            return Err("it is not the configured origin".into());
        }
        let path = canonical_path(uri.path()).map_err(|why| format!("its path {why}"))?;
        let prefix = &self.path_prefix;
        if !prefix.is_empty() && path != *prefix && !path.starts_with(&format!("{prefix}/")) {
            return Err(format!("its path is outside {prefix}"));
        }
        Ok(())
    }
}

/// Whether `host` is this machine (`localhost` or a loopback address): plain http to it crosses
/// no network.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `path` in the one form a server compares: percent-encoded unreserved characters decoded,
/// other encodings kept (upper case). Whatever a server behind a context path could read as
/// another path is refused rather than guessed: path parameters (`;`), backslashes, encoded
/// `/`, `\` or `;`, encoded `%` that starts another encoding (double encoding), malformed
/// encodings, and `.` or `..` segments in any spelling.
pub fn canonical_path(path: &str) -> Result<String, String> {
    let segments = path.split('/').map(canonical_segment).collect::<Result<Vec<_>, _>>()?;
    Ok(segments.join("/"))
}

fn canonical_segment(raw: &str) -> Result<String, String> {
    if raw.contains(';') {
        return Err("has a path parameter (;)".into());
    }
    if raw.contains('\\') {
        return Err("has a backslash".into());
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i] as char);
            i += 1;
            continue;
        }
        let decoded = bytes.get(i + 1..i + 3).and_then(|hex| std::str::from_utf8(hex).ok()).and_then(|hex| u8::from_str_radix(hex, 16).ok());
        let Some(byte) = decoded else { return Err("has a malformed percent-encoding".into()) };
        match byte {
            b'/' | b'\\' | b';' => return Err("has an encoded separator (/, \\ or ;)".into()),
            b'%' if bytes.get(i + 3..i + 5).is_some_and(|n| n.iter().all(u8::is_ascii_hexdigit)) => {
                return Err("is percent-encoded twice".into());
            }
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
        i += 3;
    }
    if out == "." || out == ".." {
        return Err("has . or .. segments".into());
    }
    Ok(out)
}

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
        }
    }

    /// The same hooks with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> EgressHooks {
        let in_flight = InFlightLimit::new(self.retry.in_flight.levels().2);
        self.retry = Arc::new(Retrying { policy, in_flight, ..Default::default() });
        self
    }

    /// The same hooks allowing at most `max` requests in flight at once (lowered while the
    /// server refuses requests for load, see [`InFlightLimit`]).
    pub fn with_concurrency(mut self, max: usize) -> EgressHooks {
        self.retry = Arc::new(Retrying { policy: self.retry.policy.clone(), in_flight: InFlightLimit::new(max), ..Default::default() });
        self
    }

    /// The same hooks sending at most `per_second` requests a second, all instances together
    /// (call after [`Self::with_concurrency`]).
    pub fn with_request_rate(mut self, per_second: f64) -> EgressHooks {
        let in_flight = InFlightLimit::new(self.retry.in_flight.levels().2);
        self.retry = Arc::new(Retrying { policy: self.retry.policy.clone(), in_flight, rate: Some(RequestRate::per_second(per_second)), ..Default::default() });
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
        EgressHooks { origin: None, authorization: None, origin_setting: "".into(), retry: Default::default(), outbound: None }
    }

    /// Why `request` may not leave, or `Ok` when it may.
    fn admit<B>(&self, request: &http::Request<B>) -> Result<(), String> {
        let Some(origin) = &self.origin else { return Err("no destination is allowed before configuration is complete".into()) };
        origin.admit(request.uri())?;
        check_method(request.method())?;
        check_headers(request.headers(), request.uri())
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
                tracing::warn!(
                    destination = %redacted_uri(request.uri()),
                    allowed = %self.allowed(),
                    "refused an outgoing request because {why}; only the base URL set by --{} may be reached",
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
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = if parts.method == Method::GET || parts.method == Method::HEAD {
                // Hand hyper an explicit empty body and drain the guest's (empty) one ourselves,
                // so a late write from the guest never races the connection
                // (docs/wasm-notes.md §3.3).
                drain_in_background(body);
                Bytes::new()
            } else {
                match http_body_util::Limited::new(body, MAX_REQUEST_BODY).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(error) => match error.downcast::<wasmtime_wasi_http::Error>() {
                        Ok(from_guest) => return Err(*from_guest),
                        Err(_) => {
                            tracing::warn!(request = %redacted_uri(&parts.uri), limit_bytes = MAX_REQUEST_BODY, "refused an outgoing request: its body is larger than the limit");
                            return Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY as u64)));
                        }
                    },
                }
            };
            let mut response = send_with_retries(&parts, body, first_byte_timeout, &retry, &outbound).await?;
            strip_response_headers(response.headers_mut(), credential.as_ref());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// Sends a request, again and again while [`retry::classify`] and the policy allow, pacing by
/// the server's rate-limit headers. The last response (or error) goes to the guest. A failure
/// that no attempt can change (a certificate, a handshake, proxy credentials) is final at once.
async fn send_with_retries(
    parts: &http::request::Parts,
    body: Bytes,
    first_byte_timeout: Duration,
    retry: &Retrying,
    outbound: &Outbound,
) -> Result<http::Response<WasiBody>, wasmtime_wasi_http::Error> {
    let target = format!("{} {}", parts.method, parts.uri.path());
    let retry_safe = retry::is_retry_safe(&parts.method, &parts.headers);
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
                let verdict = retry::classify(&parts.method, response.status(), response.headers());
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
                let verdict = if failure.kind.is_transient() { retry::classify_failure(retry_safe) } else { Verdict::Done };
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
    request.headers_mut().remove(retry::RETRY_SAFE_HEADER);
    // The client derives `Host` (HTTP/1.1) or `:authority` (HTTP/2) from the URI itself.
    request.headers_mut().remove(http::header::HOST);
    request
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

    fn origin(base: &str) -> Origin {
        Origin::parse(base).unwrap()
    }

    #[test]
    fn admits_only_the_configured_origin_and_prefix() {
        let o = origin("http://127.0.0.1:8090/wiki/");
        assert_eq!(o.path_prefix, "/wiki");
        let ok = |u: &str| o.admit(&u.parse().unwrap()).is_ok();
        assert!(ok("http://127.0.0.1:8090/wiki/rest/api/user/current"));
        assert!(!ok("http://127.0.0.1:8091/wiki/rest/api/user/current"), "other port");
        assert!(!ok("https://127.0.0.1:8090/wiki/rest/api/user/current"), "other scheme");
        assert!(!ok("http://localhost:8090/wiki/rest"), "other host name");
        assert!(!ok("http://127.0.0.1:8090/wikix/rest"), "prefix must end at a segment");
        assert!(!ok("http://127.0.0.1:8090/rest/api"), "outside the prefix");
        assert!(!ok("http://127.0.0.1:8090/wiki/../admin"), "dot segments");
        assert!(!ok("http://127.0.0.1:8090/wiki/%2E%2E/admin"), "encoded dot segments");
    }

    #[test]
    fn default_ports_match_explicit_ones() {
        let o = origin("https://Wiki.Example.com");
        assert!(o.admit(&"https://wiki.example.com:443/rest/api".parse().unwrap()).is_ok());
        assert_eq!(o.base_url(), "https://wiki.example.com");
    }

    #[test]
    fn a_password_in_the_base_url_is_never_repeated() {
        for password in ["pw", "p/w", "p?w", "p#w", "p@w", "p:w", "p%2Fw", "p w"] {
            // (settings give a scheme to a value without one before it gets here)
            for raw in [format!("https://ada:{password}@wiki.example.com/wiki"), format!("wiki://ada:{password}@x"), format!("http://ada:{password}@[::1]:8/")]
            {
                let error = Origin::parse(&raw).unwrap_err();
                assert!(!error.contains(password), "{password:?} repeated in {error:?}");
                assert!(!error.contains("ada:"), "{error:?}");
            }
        }
    }

    #[test]
    fn refuses_bad_base_urls() {
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("https://user:pw@x").is_err());
        assert!(Origin::parse("https://x/?q=1").is_err());
    }

    /// The spellings a server behind a context path would normalise out of it (or onto another
    /// resource) never leave; what the connector sends does.
    #[test]
    fn paths_are_judged_in_canonical_form() {
        let o = origin("http://127.0.0.1:8090/confluence");
        let ok = |path: &str| o.admit(&format!("http://127.0.0.1:8090{path}").parse().unwrap());
        for escape in [
            "/confluence/..;/x",
            "/confluence/%2e%2e;/x",
            "/confluence/..%2f..%2fx",
            "/confluence/..%2F..%2Fx",
            "/confluence/..%5cadmin",
            "/confluence/%252e%252e/x",
            "/confluence/%252f",
            "/confluence/.%2e/x",
            "/confluence;jsessionid=1/x",
            "/confluence/rest/%zz",
            "/confluence/rest/%2",
            "/confluence/%2e",
        ] {
            assert!(ok(escape).is_err(), "{escape} is refused");
        }
        for fine in [
            "/confluence/rest/api/group/100%25%20%231/member",
            "/confluence/rest/api/group/r%26d%20%2B%20ops/member",
            "/confluence/rest/api/space/%7Ezoe.angstrom",
            "/confluence/rest/api/user?username=a%2Fb",
            "/confluence/rest/api/group/%D7%A9%D7%9C%D7%95%D7%9D",
        ] {
            assert!(ok(fine).is_ok(), "{fine} is admitted: {:?}", ok(fine));
        }
        assert_eq!(canonical_path("/a/%7e%41b/%2b").unwrap(), "/a/~Ab/%2B", "unreserved decoded, others kept in upper case");
        assert!(o.admit(&"http://u:p@127.0.0.1:8090/confluence/rest".parse().unwrap()).is_err(), "user information in the authority");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Path-like strings, heavy on the characters that matter.
        fn path() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("/".to_string()),
                    Just(".".to_string()),
                    Just("..".to_string()),
                    Just(";".to_string()),
                    Just("\\".to_string()),
                    Just("%".to_string()),
                    Just("%2e".to_string()),
                    Just("%2F".to_string()),
                    Just("%25".to_string()),
                    Just("%5c".to_string()),
                    Just("wiki".to_string()),
                    "[a-zA-Z0-9~_-]{1,4}",
                    "%[0-9a-fA-F]{2}",
                ],
                0..12,
            )
            .prop_map(|parts| format!("/{}", parts.concat()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever the guest or a server makes of a path, what is admitted is canonical:
            /// no parameter, backslash, encoded separator or dot segment, and canonical again.
            #[test]
            fn admitted_paths_are_canonical(raw in path()) {
                if let Ok(canonical) = canonical_path(&raw) {
                    let lower = canonical.to_ascii_lowercase();
                    prop_assert!(!canonical.contains(';') && !canonical.contains('\\'));
                    prop_assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%3b") && !lower.contains("%2e"));
                    prop_assert!(!canonical.split('/').any(|s| s == "." || s == ".."));
                    prop_assert_eq!(canonical_path(&canonical), Ok(canonical.clone()));
                }
            }

            /// Only paths under the prefix are admitted, judged on the canonical path.
            #[test]
            fn nothing_outside_the_prefix_is_admitted(raw in path()) {
                let o = Origin::parse("http://127.0.0.1:8090/wiki").unwrap();
                let Ok(uri) = format!("http://127.0.0.1:8090{raw}").parse::<Uri>() else { return Ok(()) };
                if o.admit(&uri).is_ok() {
                    let canonical = canonical_path(uri.path()).unwrap();
                    prop_assert!(canonical == "/wiki" || canonical.starts_with("/wiki/"), "{} admitted as {}", raw, canonical);
                }
            }

            /// Any base URL either parses or is refused, and a refusal never repeats a password.
            #[test]
            fn base_urls_never_leak_their_password(user in "[a-z]{1,6}", password in "[ -~]{4,12}", host in "[a-z]{1,8}(\\.[a-z]{2,3})?") {
                let raw = format!("https://{user}:{password}@{host}/wiki");
                if let Err(error) = Origin::parse(&raw) {
                    prop_assert!(!error.contains(&password), "{error}");
                }
            }
        }
    }

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for host in ["localhost", "127.0.0.1", "127.8.9.1", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["wiki.example.com", "10.0.0.1", "fd00::1", "localhost.example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn ipv6_literal_origins_match_their_requests() {
        let o = origin("https://[FD00::1]:8443/confluence");
        assert_eq!(o.host, "fd00::1");
        assert_eq!(o.base_url(), "https://[fd00::1]:8443/confluence");
        assert!(o.admit(&"https://[fd00::1]:8443/confluence/rest/api".parse().unwrap()).is_ok());
        assert!(o.admit(&"https://[fd00::2]:8443/confluence/rest/api".parse().unwrap()).is_err());
    }

    #[test]
    fn only_the_methods_and_headers_connectors_need_leave() {
        let o = origin("http://127.0.0.1:8090");
        let hooks = EgressHooks::new(o.clone(), None, "hostname", Arc::new(Outbound::with_defaults(&o).unwrap()));
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
