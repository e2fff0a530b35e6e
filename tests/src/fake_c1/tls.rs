//! TLS for the fake, as the real ConductorOne serves: a self-signed certificate for 127.0.0.1
//! made at start (its PEM is what a test hands the host as `--c1-ca-file`), served by the
//! shared accept loop of [`crate::tls`].

use tokio_rustls::TlsAcceptor;

/// The certificate a TLS fake serves, and the acceptor made from it.
pub struct Tls {
    pub certificate_pem: String,
    pub acceptor: TlsAcceptor,
}

/// A fresh self-signed certificate for `127.0.0.1`.
pub fn self_signed() -> anyhow::Result<Tls> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let issued = crate::tls::Issued { certificate_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() };
    Ok(Tls { acceptor: crate::tls::acceptor(&issued, None)?, certificate_pem: issued.certificate_pem })
}
