//! Where ConductorOne is and how to reach it: the tenant host from the client id (or
//! `BATON_C1_API_HOST`), TLS with the system roots (which honour `SSL_CERT_FILE`) plus an
//! extra CA the operator names, or plaintext to a loopback address when explicitly asked (for
//! tests). Both the token request and the gRPC channel are built here, so they agree.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// How long to wait for a connection (baton dials with 30 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one RPC or token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The address of ConductorOne and the transport settings.
#[derive(Debug, Clone)]
pub struct C1Address {
    /// `host` or `host:port`.
    authority: String,
    host: String,
    plaintext: bool,
    extra_ca: Option<Vec<u8>>,
    user_agent: String,
}

impl C1Address {
    /// `token_host` from the client id, replaced by `api_host` when set; port 443 unless given.
    /// `plaintext` is refused for anything but a loopback address.
    pub fn new(token_host: &str, api_host: Option<&str>, plaintext: bool, extra_ca_file: Option<&PathBuf>, user_agent: &str) -> Result<C1Address> {
        let authority = api_host.map(str::trim).filter(|h| !h.is_empty()).unwrap_or(token_host).to_string();
        let url = url::Url::parse(&format!("https://{authority}"))
            .ok()
            .filter(|u| u.path() == "/" && u.username().is_empty())
            .with_context(|| format!("{authority:?} is not a host[:port] (from BATON_C1_API_HOST or the client id)"))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        if plaintext && !baton_sandbox::origin::is_loopback(&host) {
            bail!("--c1-plaintext-loopback is only for a ConductorOne on this machine (127.0.0.1, ::1 or localhost), not {host}");
        }
        let extra_ca = match extra_ca_file {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read the CA file {} (--c1-ca-file)", path.display()))?),
            None => None,
        };
        let authority = if url.port().is_some() { authority } else { format!("{authority}:443") };
        Ok(C1Address { authority, host, plaintext, extra_ca, user_agent: user_agent.to_string() })
    }

    /// `https://host:port` (or `http://` to a loopback test server).
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.plaintext { "http" } else { "https" }, self.authority)
    }

    /// An HTTP client for the token request, trusting the same roots as the gRPC channel.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(&self.user_agent)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .https_only(!self.plaintext)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.extra_ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem).context("the --c1-ca-file is not PEM certificates")? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().context("cannot set up HTTPS for ConductorOne")
    }

    /// A gRPC channel (connected lazily; it reconnects by itself).
    pub fn grpc_channel(&self) -> Result<Channel> {
        let mut endpoint = Endpoint::from_shared(self.base_url())
            .context("not a usable ConductorOne address")?
            .user_agent(self.user_agent.clone())
            .context("not a usable user agent")?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        if !self.plaintext {
            let mut tls = ClientTlsConfig::new().with_native_roots().domain_name(self.host.clone());
            if let Some(pem) = &self.extra_ca {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).context("cannot set up TLS for ConductorOne")?;
        }
        Ok(endpoint.connect_lazy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_host_overrides_the_tenant_and_443_is_the_default_port() {
        let tenant = C1Address::new("acme.conductor.one", None, false, None, "c").unwrap();
        assert_eq!(tenant.base_url(), "https://acme.conductor.one:443");
        let local = C1Address::new("acme.conductor.one", Some("127.0.0.1:9443"), true, None, "c").unwrap();
        assert_eq!(local.base_url(), "http://127.0.0.1:9443");
    }

    #[test]
    fn plaintext_only_to_loopback() {
        let err = C1Address::new("acme.conductor.one", None, true, None, "c").unwrap_err();
        assert!(err.to_string().contains("only for a ConductorOne on this machine"), "{err}");
        assert!(C1Address::new("x", Some("[::1]:1"), true, None, "c").is_ok());
        assert!(C1Address::new("x", Some("localhost:1"), true, None, "c").is_ok());
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = C1Address::new("h", None, false, Some(&PathBuf::from("/nonexistent/ca.pem")), "c").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
