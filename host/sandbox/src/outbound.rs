//! The one HTTP client behind the egress hook, shared by every instance of a sync: pooled
//! keep-alive connections (HTTP/2 when the server offers it by ALPN), the trust the operator
//! chose (the platform's certificate store plus extra CA certificates; verification and host
//! name checks are never off), the proxy chosen for the origin, an optional client
//! certificate, and every failure to reach the server explained as a [`Failure`] a person can
//! act on. Admission, credentials and retries stay in [`crate::egress`]: this module only sends.

use crate::origin::{Origin, without_user_info};
use bytes::Bytes;
use http_body_util::BodyExt;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::{Error as WasiError, WasiBody};

/// A PEM file's bytes and how to name it in messages (e.g. `the CA file /etc/ca.pem`).
#[derive(Clone)]
pub struct Pem {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pem({})", self.name)
    }
}

/// Which proxy carries requests to the origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case), as curl reads them.
    #[default]
    Environment,
    /// This proxy URL for every request, whatever the environment says.
    Url(String),
}

/// What the operator chose for connections to the origin.
#[derive(Clone, Debug, Default)]
pub struct OutboundSettings {
    /// CA certificates trusted besides the platform's.
    pub extra_ca: Option<Pem>,
    /// A client certificate (chain) and its private key, for servers that want mutual TLS.
    pub client_identity: Option<(Pem, Pem)>,
    pub proxy: ProxySetting,
    /// Idle connections kept open (the sync's concurrency); 0: a new connection for every
    /// request, HTTP/1.1 only (the behaviour before pooling, for benchmarks).
    pub pool_size: usize,
}

/// The proxy in use, for messages (never with its password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyInUse {
    /// `scheme://host:port` of the proxy.
    pub address: String,
    /// Where it was set: `--proxy` style name or the environment variable.
    pub source: &'static str,
    pub has_credentials: bool,
}

/// The pooled client for one origin.
pub struct Outbound {
    client: reqwest::Client,
    proxy: Option<ProxyInUse>,
    /// What the verifier saw of the last certificate it refused.
    refused_certificate: Arc<Mutex<Option<CertificateSummary>>>,
    /// What the server asked of the client since the last answer.
    client_certificate: Arc<ClientCertificate>,
    host: String,
    port: u16,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("host", &self.host).field("port", &self.port).field("proxy", &self.proxy).finish()
    }
}

/// Why a request never got an answer, in words and as the code the guest sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// One sentence naming what failed, for which host (and proxy), with what the certificate or
    /// proxy said. The remedy, which names settings, is the program's to add.
    pub explanation: String,
}

/// The kinds of failure a person fixes differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The certificate chains to no trusted CA.
    UntrustedCertificate,
    /// The certificate is valid for other names.
    CertificateNameMismatch,
    /// Expired or not yet valid.
    CertificateExpired,
    /// Otherwise unacceptable (revoked, bad signature, malformed).
    CertificateRefused,
    /// The server asked for a client certificate, or refused the one given.
    ClientCertificateRequired,
    /// The TLS handshake failed another way (the server may not speak TLS on that port).
    Handshake,
    /// The proxy wants (other) credentials: 407.
    ProxyAuthentication,
    /// The proxy answered the tunnel request with an error (it may not resolve or reach the host).
    ProxyRefused,
    /// The proxy itself could not be reached.
    ProxyUnreachable,
    /// The host name did not resolve.
    Resolve,
    /// Nothing accepts connections at host and port.
    ConnectionRefused,
    /// Connecting or waiting for the answer took too long.
    Timeout,
    /// The connection broke or the server's answer was not HTTP.
    Connection,
}

impl FailureKind {
    /// Whether trying again could help: a certificate, a handshake or proxy credentials do not
    /// change between attempts, so those fail at once instead of after a storm of retries.
    pub fn is_transient(self) -> bool {
        matches!(self, FailureKind::ProxyUnreachable | FailureKind::Resolve | FailureKind::ConnectionRefused | FailureKind::Timeout | FailureKind::Connection)
    }

    /// The error code the guest receives.
    fn code(self) -> WasiError {
        match self {
            FailureKind::UntrustedCertificate | FailureKind::CertificateNameMismatch | FailureKind::CertificateExpired | FailureKind::CertificateRefused => {
                WasiError::TlsCertificateError
            }
            FailureKind::ClientCertificateRequired | FailureKind::Handshake => WasiError::TlsProtocolError,
            FailureKind::ProxyAuthentication | FailureKind::ProxyRefused | FailureKind::ProxyUnreachable => WasiError::DestinationUnavailable,
            FailureKind::Resolve => WasiError::DnsError { rcode: Some("address not available".into()), info_code: None },
            FailureKind::ConnectionRefused => WasiError::ConnectionRefused,
            FailureKind::Timeout => WasiError::ConnectionTimeout,
            FailureKind::Connection => WasiError::ConnectionTerminated,
        }
    }
}

impl Failure {
    pub fn code(&self) -> WasiError {
        self.kind.code()
    }
}

/// What the connection must wait for at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle pooled connections are closed after this long (servers close theirs after about a minute).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

impl Outbound {
    /// A client for `origin` with `settings`, or what to fix in the settings.
    pub fn new(origin: &Origin, settings: &OutboundSettings) -> anyhow::Result<Outbound> {
        let refused_certificate = Arc::new(Mutex::new(None));
        let client_certificate = Arc::new(ClientCertificate::new(settings).map_err(anyhow::Error::msg)?);
        let tls = tls_config(settings, Arc::clone(&refused_certificate), Arc::clone(&client_certificate)).map_err(anyhow::Error::msg)?;
        let (proxy, in_use) = choose_proxy(origin, &settings.proxy).map_err(anyhow::Error::msg)?;
        let builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(BETWEEN_BYTES_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(settings.pool_size)
            .tcp_nodelay(true);
        let builder = match proxy {
            Some(proxy) => builder.proxy(proxy),
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {}", error_chain(&e)))?;
        Ok(Outbound { client, proxy: in_use, refused_certificate, client_certificate, host: origin.host.clone(), port: origin.port })
    }

    /// A client with the platform's trust and the environment's proxy (for tests and tools).
    pub fn with_defaults(origin: &Origin) -> anyhow::Result<Outbound> {
        Outbound::new(origin, &OutboundSettings { pool_size: 1, ..OutboundSettings::default() })
    }

    /// The proxy requests go through, if any.
    pub fn proxy(&self) -> Option<&ProxyInUse> {
        self.proxy.as_ref()
    }

    /// Sends `request` (absolute URI) once; the answer's body streams to the guest.
    pub async fn send(&self, request: http::Request<Bytes>, first_byte_timeout: Duration) -> Result<http::Response<WasiBody>, Failure> {
        // Without the URL: reqwest's messages quote it whole, query (user names, searches) included.
        let request = reqwest::Request::try_from(request).map_err(|e| self.explain(&e.without_url()))?;
        let sent = tokio::time::timeout(first_byte_timeout, self.client.execute(request)).await;
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(self.explain(&error.without_url())),
            Err(_) => return Err(self.failure(FailureKind::Timeout, format!("{} did not answer within {} s", self.target(), first_byte_timeout.as_secs()))),
        };
        self.client_certificate.asked.store(false, Ordering::Relaxed);
        let response: http::Response<reqwest::Body> = response.into();
        Ok(response
            .map(|body| body.map_err(|e| if e.is_timeout() { WasiError::ConnectionReadTimeout } else { WasiError::ConnectionTerminated }).boxed_unsync()))
    }

    fn target(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{host}:{}", self.port)
    }

    fn failure(&self, kind: FailureKind, explanation: String) -> Failure {
        Failure { kind, explanation }
    }

    /// The failure `error` stands for, worded for a person.
    fn explain(&self, error: &reqwest::Error) -> Failure {
        let target = self.target();
        let via = self.proxy.as_ref().map(|p| format!(" through the proxy {}", p.address)).unwrap_or_default();
        let tls = find::<rustls::Error>(error);
        if let Some(certificate @ rustls::Error::InvalidCertificate(_)) = tls {
            return self.explain_tls(certificate);
        }
        if let Some(tls) = tls {
            return self.explain_tls(tls);
        }
        let chain = error_chain(error);
        if let Some(proxy) = &self.proxy {
            if chain.contains("proxy authorization required") {
                let given = if proxy.has_credentials { "refused the user and password given" } else { "wants a user and password" };
                return self.failure(FailureKind::ProxyAuthentication, format!("the proxy {} {given} (407 Proxy Authentication Required)", proxy.address));
            }
            if chain.contains("tunnel error: unsuccessful") || chain.contains("tunnel error: unexpected end of file") {
                return self.failure(
                    FailureKind::ProxyRefused,
                    format!("the proxy {} would not open a tunnel to {target}: it cannot resolve or reach that host, or does not allow it", proxy.address),
                );
            }
            if error.is_connect() {
                return self.failure(
                    FailureKind::ProxyUnreachable,
                    format!("the proxy {} (from {}) cannot be reached: {}", proxy.address, proxy.source, root_cause(error)),
                );
            }
        }
        if error.is_timeout() {
            return self.failure(FailureKind::Timeout, format!("{target} did not answer in time{via}"));
        }
        if chain.contains("dns error") {
            let cause = root_cause(error);
            let cause = cause.trim_start_matches("failed to lookup address information: ");
            return self.failure(FailureKind::Resolve, format!("the host name {} cannot be resolved ({cause})", self.host));
        }
        if find::<std::io::Error>(error).is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return self.failure(FailureKind::ConnectionRefused, format!("nothing accepts connections at {target}{via} (connection refused)"));
        }
        // Under TLS 1.3 the client finishes its half of the handshake before the server refuses
        // it, so the refusal can surface later, as a broken pipe or a closed HTTP/2 connection.
        if self.client_certificate.asked.load(Ordering::Relaxed) && self.client_certificate.key.is_none() {
            return self.failure(FailureKind::ClientCertificateRequired, format!("{target} asks for a client certificate and none is configured"));
        }
        self.failure(FailureKind::Connection, format!("the connection to {target}{via} failed: {chain}"))
    }

    fn explain_tls(&self, error: &rustls::Error) -> Failure {
        let host = &self.host;
        let seen = self.refused_certificate.lock().ok().and_then(|mut slot| slot.take());
        let issuer = seen.as_ref().map(|c| format!(" (issuer {})", c.issuer)).unwrap_or_default();
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                self.failure(FailureKind::UntrustedCertificate, format!("the certificate of {host} is not trusted{issuer}"))
            }
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
                let names = seen.as_ref().map(|c| format!(": it is for {}", c.names.join(", "))).unwrap_or_default();
                self.failure(FailureKind::CertificateNameMismatch, format!("the certificate of {host} is not valid for the name {host}{names}"))
            }
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => {
                let window = seen.as_ref().map(|c| format!(" (valid {} to {})", c.not_before, c.not_after)).unwrap_or_default();
                self.failure(FailureKind::CertificateExpired, format!("the certificate of {host} is expired or not yet valid{window}"))
            }
            rustls::Error::InvalidCertificate(other) => {
                self.failure(FailureKind::CertificateRefused, format!("the certificate of {host} is refused ({other:?}){issuer}"))
            }
            rustls::Error::AlertReceived(alert) if is_client_certificate_alert(*alert, self.client_certificate.asked.load(Ordering::Relaxed)) => self.failure(
                FailureKind::ClientCertificateRequired,
                format!("{} refused the TLS handshake ({alert:?}): it wants a client certificate it trusts", self.target()),
            ),
            rustls::Error::InvalidMessage(_) => {
                self.failure(FailureKind::Handshake, format!("{} does not answer TLS: it may serve plain http on that port", self.target()))
            }
            other => self.failure(FailureKind::Handshake, format!("the TLS handshake with {} failed: {other}", self.target())),
        }
    }
}

/// Whether the server's `alert` refuses our client certificate (or its absence). A generic
/// handshake failure or access denial counts only when the server `asked` for a certificate:
/// otherwise it more likely means no common TLS version or cipher.
fn is_client_certificate_alert(alert: rustls::AlertDescription, asked: bool) -> bool {
    use rustls::AlertDescription as A;
    matches!(alert, A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown)
        || (asked && matches!(alert, A::HandshakeFailure | A::AccessDenied))
}

/// The first error of type `T` in `error`'s chain, including the ones `io::Error` wraps (its
/// `source` skips the wrapped error itself, and connectors wrap TLS errors twice).
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = match current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    None
}

/// Every message in the chain, joined (reqwest's own message names only the outermost layer).
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

/// The innermost message (the operating system's words for a refused or failed connection).
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

// ---- trust ----

/// The client's TLS: platform roots plus extra CAs, a verifier that remembers what it refused,
/// HTTP/2 and HTTP/1.1 offered by ALPN, the client certificate if any.
fn tls_config(
    settings: &OutboundSettings,
    refused: Arc<Mutex<Option<CertificateSummary>>>,
    client_certificate: Arc<ClientCertificate>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = root_store(settings.extra_ca.as_ref())?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|e| format!("cannot use the trusted certificates: {e}"))?;
    let verifier = Arc::new(NotingVerifier { inner, refused });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = builder.with_client_cert_resolver(client_certificate);
    config.alpn_protocols = if settings.pool_size == 0 { vec![b"http/1.1".to_vec()] } else { vec![b"h2".to_vec(), b"http/1.1".to_vec()] };
    Ok(config)
}

/// The client certificate (if one is configured), which also notes that a server asked for one.
#[derive(Debug)]
struct ClientCertificate {
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    asked: AtomicBool,
}

impl ClientCertificate {
    fn new(settings: &OutboundSettings) -> Result<ClientCertificate, String> {
        let key = match &settings.client_identity {
            Some((certificate, key)) => {
                let chain = certificates(certificate)?;
                let provider = rustls::crypto::ring::default_provider();
                let certified = rustls::sign::CertifiedKey::from_der(chain, private_key(key)?, &provider)
                    .map_err(|e| format!("{} and {} do not make a usable client certificate: {e}", certificate.name, key.name))?;
                Some(Arc::new(certified))
            }
            None => None,
        };
        Ok(ClientCertificate { key, asked: AtomicBool::new(false) })
    }
}

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// The platform's certificate store (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured; the built-in
/// Mozilla roots where the platform has none), plus `extra`.
fn root_store(extra: Option<&Pem>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let platform = rustls_native_certs::load_native_certs();
    for error in &platform.errors {
        tracing::debug!(%error, "a certificate of the platform's store could not be read");
    }
    let (added, _ignored) = roots.add_parsable_certificates(platform.certs);
    if added == 0 {
        tracing::debug!("the platform has no certificate store; trusting the built-in Mozilla roots");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(pem) = extra {
        for (index, certificate) in certificates(pem)?.into_iter().enumerate() {
            roots.add(certificate).map_err(|e| format!("certificate {} of {} is not a usable CA certificate: {e}", index + 1, pem.name))?;
        }
    }
    Ok(roots)
}

/// The certificates of a PEM file (at least one).
fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, String> {
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem.bytes).collect();
    match parsed {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", pem.name)),
        Err(error) => Err(format!("{} is not readable as PEM certificates: {}", pem.name, pem_problem(&error))),
    }
}

/// The private key of a PEM file. The message never quotes the file.
fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(&pem.bytes)
        .map_err(|error| format!("{} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {}", pem.name, pem_problem(&error)))
}

/// A PEM error without the file's contents (some variants carry a line of it).
fn pem_problem(error: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error as E;
    match error {
        E::MissingSectionEnd { .. } => "a section has no END line",
        E::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        E::Base64Decode(_) => "a section is not valid base64",
        E::NoItemsFound => "no section of the expected kind",
        _ => "malformed PEM",
    }
}

/// What a refused certificate said of itself, for the message.
#[derive(Clone, Debug)]
struct CertificateSummary {
    issuer: String,
    names: Vec<String>,
    not_before: String,
    not_after: String,
}

impl CertificateSummary {
    fn of(der: &CertificateDer<'_>) -> Option<CertificateSummary> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let mut names: Vec<String> = match certificate.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => ip_text(bytes),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if names.is_empty() {
            names.push(certificate.subject().to_string());
        }
        let validity = certificate.validity();
        Some(CertificateSummary {
            issuer: certificate.issuer().to_string(),
            names,
            not_before: validity.not_before.to_datetime().date().to_string(),
            not_after: validity.not_after.to_datetime().date().to_string(),
        })
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// The standard verifier, which also notes what the certificate it refuses says of itself.
#[derive(Debug)]
struct NotingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    refused: Arc<Mutex<Option<CertificateSummary>>>,
}

impl ServerCertVerifier for NotingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now).inspect_err(|_| {
            if let Ok(mut slot) = self.refused.lock() {
                *slot = CertificateSummary::of(end_entity);
            }
        })
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

// ---- proxies ----

/// The proxy for `origin` (none when `NO_PROXY` exempts it), as reqwest takes it and as
/// messages name it.
fn choose_proxy(origin: &Origin, setting: &ProxySetting) -> Result<(Option<reqwest::Proxy>, Option<ProxyInUse>), String> {
    use hyper_util::client::proxy::matcher::Matcher;
    let (matcher, source) = match setting {
        ProxySetting::Environment => (Matcher::from_env(), environment_source(origin.https)),
        ProxySetting::Url(url) => {
            check_proxy_url(url)?;
            (Matcher::builder().all(url.clone()).build(), "--proxy")
        }
    };
    let destination: http::Uri = origin.base_url().parse().map_err(|e| format!("the base URL is not a URI: {e}"))?;
    let Some(intercept) = matcher.intercept(&destination) else {
        if let ProxySetting::Url(url) = setting {
            // The matcher drops a proxy it cannot parse as a URI; the operator asked for it.
            return Err(format!(
                "the proxy {} cannot be used as written: percent-encode special characters (such as ^ {{ }} | \") in its user and password",
                without_user_info(url)
            ));
        }
        return Ok((None, None));
    };
    let uri = intercept.uri();
    let address = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.host().to_string() + &a.port().map(|p| format!(":{p}")).unwrap_or_default()).unwrap_or_default()
    );
    let mut proxy = reqwest::Proxy::all(address.as_str()).map_err(|e| format!("the proxy {address} from {source} is not usable: {e}"))?;
    let has_credentials = intercept.basic_auth().is_some();
    if let Some(credentials) = intercept.basic_auth() {
        let mut credentials = credentials.clone();
        credentials.set_sensitive(true);
        proxy = proxy.custom_http_auth(credentials);
    }
    Ok((Some(proxy), Some(ProxyInUse { address, source, has_credentials })))
}

/// The variable a proxy for this scheme comes from, for messages.
fn environment_source(https: bool) -> &'static str {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let candidates: &[&'static str] = if https { &["HTTPS_PROXY", "https_proxy"] } else { &["HTTP_PROXY", "http_proxy"] };
    candidates.iter().chain(&["ALL_PROXY", "all_proxy"]).copied().find(|name| set(name)).unwrap_or("the environment")
}

/// A proxy URL must be `http(s)://host[:port]` (user and password allowed).
fn check_proxy_url(raw: &str) -> Result<(), String> {
    let shown = without_user_info(raw);
    let url = url::Url::parse(raw).map_err(|e| format!("the proxy {shown} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the proxy {shown} uses {}: only http:// and https:// proxies are supported", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the proxy {shown} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(name: &str, text: &str) -> Pem {
        Pem { name: name.into(), bytes: text.as_bytes().to_vec() }
    }

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let error = root_store(Some(&pem("the CA file x.pem", "hello\n"))).unwrap_err();
        assert!(error.contains("the CA file x.pem holds no PEM certificate"), "{error}");
    }

    #[test]
    fn a_broken_key_file_is_never_quoted() {
        let text = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==AAAA!!\n-----END PRIVATE KEY-----\n";
        let error = private_key(&pem("the key k.pem", text)).unwrap_err();
        assert!(error.contains("the key k.pem holds no usable PEM private key"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
    }

    #[test]
    fn an_explicit_proxy_is_used_with_its_credentials_hidden() {
        let origin = Origin::parse("https://wiki.example.com/confluence").unwrap();
        let (proxy, in_use) = choose_proxy(&origin, &ProxySetting::Url("http://ada:s3cret@proxy.example:3128".into())).unwrap();
        assert!(proxy.is_some());
        let in_use = in_use.unwrap();
        assert_eq!(in_use.address, "http://proxy.example:3128");
        assert!(in_use.has_credentials);
        assert!(!format!("{in_use:?}").contains("s3cret"));
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_their_password() {
        let origin = Origin::parse("https://wiki.example.com").unwrap();
        for bad in ["socks5://ada:s3cret@proxy:1080", "ada:s3cret@proxy:3128", "http://ada:s3cret@"] {
            let error = choose_proxy(&origin, &ProxySetting::Url(bad.into())).unwrap_err();
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn a_proxy_the_matcher_cannot_read_is_refused_not_skipped() {
        let origin = Origin::parse("https://wiki.example.com").unwrap();
        let error = choose_proxy(&origin, &ProxySetting::Url("http://ada:s3^cret@proxy.example:3128".into())).unwrap_err();
        assert!(error.contains("percent-encode") && !error.contains("s3^cret"), "{error}");
    }

    #[test]
    fn a_generic_handshake_alert_means_a_client_certificate_only_when_one_was_asked_for() {
        use rustls::AlertDescription as A;
        assert!(is_client_certificate_alert(A::CertificateRequired, false));
        assert!(!is_client_certificate_alert(A::HandshakeFailure, false));
        assert!(is_client_certificate_alert(A::HandshakeFailure, true));
    }

    #[test]
    fn tls_errors_are_found_inside_twice_wrapped_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let outer = std::io::Error::other(inner);
        assert_eq!(find::<rustls::Error>(&outer), Some(&tls));
        assert_eq!(find::<rustls::Error>(&std::io::Error::other("plain")), None);
    }

    #[test]
    fn only_changeless_failures_are_final() {
        assert!(!FailureKind::UntrustedCertificate.is_transient());
        assert!(!FailureKind::ProxyAuthentication.is_transient());
        assert!(!FailureKind::ClientCertificateRequired.is_transient());
        assert!(FailureKind::ConnectionRefused.is_transient());
        assert!(FailureKind::Timeout.is_transient());
    }
}
