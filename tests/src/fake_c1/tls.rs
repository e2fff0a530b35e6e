//! TLS for the fake, as the real ConductorOne serves: a self-signed certificate for 127.0.0.1
//! made at start (its PEM is what a test hands the host as `--c1-ca-file`), and an accept loop
//! that speaks HTTP/1.1 or HTTP/2 by ALPN. Uses rustls with the ring provider only, like the
//! host, so the workspace never carries two crypto providers.

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The certificate a TLS fake serves, and the acceptor made from it.
pub struct Tls {
    pub certificate_pem: String,
    pub acceptor: TlsAcceptor,
}

/// A fresh self-signed certificate for `127.0.0.1`.
pub fn self_signed() -> anyhow::Result<Tls> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let certificate_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls { certificate_pem, acceptor: TlsAcceptor::from(Arc::new(config)) })
}

/// Accepts TLS connections on `listener` and serves `router` on each, forever.
pub async fn serve(listener: TcpListener, router: axum::Router, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            // A client that does not trust our certificate ends here, as it should.
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = TowerToHyperService::new(router);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
