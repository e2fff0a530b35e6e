//! TLS for the fakes, as real deployments serve it: a private certificate authority made at
//! start ([`TestCa`]: server certificates for names and addresses, expired ones, client
//! certificates for mutual TLS), acceptors made from them, and the accept loop that speaks
//! HTTP/1.1 or HTTP/2 by ALPN and counts connections and completed handshakes. Uses rustls with
//! the ring provider only, like the host, so the workspace never carries two crypto providers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A private certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its common name (what the host's message quotes as the issuer).
    pub common_name: String,
}

/// A certificate with its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A fresh CA called `common_name`.
    pub fn new(common_name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Confluence simulator");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(TestCa { issuer, common_name: common_name.to_string() })
    }

    /// The CA certificate, PEM: what an operator gives as `--ca-file`.
    pub fn certificate_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (host names or IP addresses), valid now.
    pub fn server(&self, names: &[&str]) -> anyhow::Result<Issued> {
        self.issue(names.first().copied().unwrap_or("server"), names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate for `names` that expired yesterday.
    pub fn expired_server(&self, names: &[&str]) -> anyhow::Result<Issued> {
        self.issue(names.first().copied().unwrap_or("server"), names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (for mutual TLS) named `common_name`.
    pub fn client(&self, common_name: &str) -> anyhow::Result<Issued> {
        self.issue(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn issue(&self, common_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        if expired {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        }
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(Issued { certificate_pem: certificate.pem(), key_pem: key.serialize_pem() })
    }
}

/// Connections accepted and TLS handshakes completed by one server.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub accepted: AtomicU64,
    pub handshakes: AtomicU64,
    pub failed_handshakes: AtomicU64,
}

impl ConnectionCounts {
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    pub fn failed_handshakes(&self) -> u64 {
        self.failed_handshakes.load(Ordering::Relaxed)
    }
}

/// An acceptor serving `issued`, offering HTTP/2 and HTTP/1.1; with `client_ca_pem`, clients
/// must present a certificate issued by that CA.
pub fn acceptor(issued: &Issued, client_ca_pem: Option<&str>) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(issued.certificate_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(certificate?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections on `listener` and serves `router` on each, forever, counting into
/// `counts`.
pub async fn serve(listener: TcpListener, router: axum::Router, acceptor: TlsAcceptor, counts: Arc<ConnectionCounts>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        counts.accepted.fetch_add(1, Ordering::Relaxed);
        let (acceptor, router, counts) = (acceptor.clone(), router.clone(), Arc::clone(&counts));
        tokio::spawn(async move {
            // A client that does not trust our certificate ends here, as it should.
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(_) => {
                    counts.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            counts.handshakes.fetch_add(1, Ordering::Relaxed);
            let service = TowerToHyperService::new(router);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
