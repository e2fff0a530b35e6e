//! A forwarding proxy, as companies put between their servers and the outside: `CONNECT
//! host:port` opens a tunnel (for https), an absolute-form request is forwarded (for plain
//! http). It resolves some names itself that the client cannot (the Confluence host name known
//! only inside the network), may demand Basic credentials (407 otherwise), and records what it
//! saw, so tests can show the proxy was used and its credentials went to it alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy does.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// `user:password` that `Proxy-Authorization: Basic` must carry; `None`: no credentials asked.
    pub credentials: Option<(String, String)>,
    /// Names only the proxy resolves, to the address they stand for.
    pub names: HashMap<String, SocketAddr>,
}

/// What the proxy saw.
#[derive(Debug, Default)]
pub struct ProxyLog {
    /// Each request's method and target (`CONNECT host:port`, `GET http://...`), in order.
    pub requests: Vec<String>,
    /// Answers the proxy gave itself (407, 502), by target.
    pub refusals: Vec<(String, u16)>,
    /// Tunnels opened.
    pub tunnels: u64,
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A running proxy; it stops when dropped.
pub struct ForwardProxy {
    pub address: SocketAddr,
    log: Arc<Mutex<ProxyLog>>,
    _shutdown: oneshot::Sender<()>,
}

impl ForwardProxy {
    /// Starts on 127.0.0.1 with an ephemeral port, on the current tokio runtime.
    pub async fn start(config: ProxyConfig) -> anyhow::Result<ForwardProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let (shutdown, stopped) = oneshot::channel();
        tokio::spawn(serve(listener, Arc::new(config), Arc::clone(&log), stopped));
        Ok(ForwardProxy { address, log, _shutdown: shutdown })
    }

    /// `http://127.0.0.1:PORT`, or with `user:password@` in it.
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("http://{user}:{password}@{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    /// What it saw so far.
    pub fn log(&self) -> std::sync::MutexGuard<'_, ProxyLog> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn serve(listener: TcpListener, config: Arc<ProxyConfig>, log: Arc<Mutex<ProxyLog>>, stopped: oneshot::Receiver<()>) {
    let accept = async {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (config, log) = (Arc::clone(&config), Arc::clone(&log));
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(request, Arc::clone(&config), Arc::clone(&log)));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades().await;
            });
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = stopped => {}
    }
}

async fn answer(request: Request<Incoming>, config: Arc<ProxyConfig>, log: Arc<Mutex<ProxyLog>>) -> Result<Response<ProxyBody>, hyper::Error> {
    let target = request.uri().to_string();
    let note = |entry: &dyn Fn(&mut ProxyLog)| entry(&mut log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    note(&|log| log.requests.push(format!("{} {target}", request.method())));
    if !authorized(&config, &request) {
        note(&|log| log.refusals.push((target.clone(), 407)));
        let mut response = status(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        response.headers_mut().insert("proxy-authenticate", "Basic realm=\"forward-proxy\"".parse().expect("a valid header"));
        return Ok(response);
    }
    let Some((host, port)) = destination(&request) else {
        note(&|log| log.refusals.push((target.clone(), 400)));
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let Some(upstream) = connect(&config, &host, port).await else {
        note(&|log| log.refusals.push((target.clone(), 502)));
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    if request.method() == Method::CONNECT {
        note(&|log| log.tunnels += 1);
        tokio::spawn(tunnel(request, upstream));
        return Ok(status(StatusCode::OK));
    }
    forward(request, upstream).await
}

fn authorized(config: &ProxyConfig, request: &Request<Incoming>) -> bool {
    let Some((user, password)) = &config.credentials else { return true };
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    request.headers().get("proxy-authorization").is_some_and(|given| given.as_bytes() == expected.as_bytes())
}

/// `host:port` of a CONNECT, or of an absolute-form URI.
fn destination(request: &Request<Incoming>) -> Option<(String, u16)> {
    let authority = request.uri().authority()?;
    let default_port = if request.uri().scheme_str() == Some("https") { 443 } else { 80 };
    Some((authority.host().trim_start_matches('[').trim_end_matches(']').to_string(), authority.port_u16().unwrap_or(default_port)))
}

/// A connection to `host:port`: the proxy's own names first, then the system's resolver.
async fn connect(config: &ProxyConfig, host: &str, port: u16) -> Option<TcpStream> {
    let address = match config.names.get(host) {
        Some(known) => SocketAddr::new(known.ip(), port),
        None => tokio::net::lookup_host((host, port)).await.ok()?.next()?,
    };
    TcpStream::connect(address).await.ok()
}

async fn tunnel(request: Request<Incoming>, mut upstream: TcpStream) {
    if let Ok(upgraded) = hyper::upgrade::on(request).await {
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
    }
}

/// Sends an absolute-form request on to its server (origin form, without the proxy's headers).
async fn forward(request: Request<Incoming>, upstream: TcpStream) -> Result<Response<ProxyBody>, hyper::Error> {
    let (mut parts, body) = request.into_parts();
    parts.uri = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/").parse().expect("a path is a URI");
    parts.headers.remove("proxy-authorization");
    parts.headers.remove("proxy-connection");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(Request::from_parts(parts, body)).await?;
    Ok(response.map(BodyExt::boxed))
}

fn status(code: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = code;
    response
}
