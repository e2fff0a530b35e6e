//! The program's side of connections to the source: reads the files `--ca-file`,
//! `--client-cert` and `--client-key` name (the key is a secret: it stays in this process and
//! is never quoted), turns `--proxy` or the environment into the sandbox's
//! [`OutboundSettings`], and adds to a failure to reach the server the remedy, in this
//! program's flag names.

use anyhow::{Context, Result, anyhow};
use baton_sandbox::egress::EgressHooks;
use baton_sandbox::origin::Origin;
use baton_sandbox::outbound::{Failure, FailureKind, Outbound, OutboundSettings, Pem, ProxySetting};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--ca-file`, `--proxy`, `--client-cert` and `--client-key` as given. Its `Debug` never
/// shows the proxy URL (it may carry a password).
#[derive(Clone, Default)]
pub struct ConnectionFlags {
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Hidden `--no-connection-reuse`: a new connection for every request (benchmarks).
    pub no_reuse: bool,
}

impl std::fmt::Debug for ConnectionFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionFlags")
            .field("ca_file", &self.ca_file)
            .field("proxy", &self.proxy.as_ref().map(|_| "(given)"))
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("no_reuse", &self.no_reuse)
            .finish()
    }
}

/// The pooled client for `origin` with what the operator gave, or what to fix.
pub fn client(origin: &Origin, flags: &ConnectionFlags, pool_size: usize) -> Result<Arc<Outbound>> {
    let settings = settings(flags, pool_size)?;
    let outbound = Outbound::new(origin, &settings)?;
    if let Some(proxy) = outbound.proxy() {
        tracing::info!(proxy = %proxy.address, from = proxy.source, "requests go through a proxy");
    }
    Ok(Arc::new(outbound))
}

fn settings(flags: &ConnectionFlags, pool_size: usize) -> Result<OutboundSettings> {
    let extra_ca = flags.ca_file.as_deref().map(|path| read_pem(path, "the CA file", "--ca-file")).transpose()?;
    let client_identity = match (&flags.client_cert, &flags.client_key) {
        (Some(cert), Some(key)) => Some((read_pem(cert, "the client certificate", "--client-cert")?, read_pem(key, "the client key", "--client-key")?)),
        (None, None) => None,
        _ => return Err(anyhow!("--client-cert and --client-key go together: give both or neither")),
    };
    if let Some(url) = &flags.proxy {
        crate::secrets::note_url_password(url);
    }
    if let Some((_, key)) = &client_identity {
        crate::secrets::note(&String::from_utf8_lossy(&key.bytes));
    }
    let proxy = flags.proxy.clone().map(ProxySetting::Url).unwrap_or_default();
    let pool_size = if flags.no_reuse { 0 } else { pool_size.max(1) };
    Ok(OutboundSettings { extra_ca, client_identity, proxy, pool_size })
}

fn read_pem(path: &Path, what: &str, flag: &str) -> Result<Pem> {
    let name = format!("{what} {} ({flag})", path.display());
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    Ok(Pem { name, bytes })
}

/// `error` with the latest failure to reach the server, explained and with its remedy, when
/// there was one; `origin_flag` names the setting of the base URL.
pub fn explained(error: anyhow::Error, hooks: &EgressHooks, origin_flag: &str) -> anyhow::Error {
    match hooks.last_failure() {
        Some(failure) => error.context(format!("{}: {}", failure.explanation, remedy(&failure, origin_flag))),
        None => error,
    }
}

/// What to do about `failure`, in this program's flags.
pub fn remedy(failure: &Failure, origin_flag: &str) -> String {
    match failure.kind {
        FailureKind::UntrustedCertificate => "add your CA with --ca-file or BATON_CA_FILE".into(),
        FailureKind::CertificateNameMismatch => {
            format!("use the name the certificate is for in --{origin_flag}, or have the certificate reissued for this name")
        }
        FailureKind::CertificateExpired => "renew the server's certificate (or correct this machine's clock)".into(),
        FailureKind::CertificateRefused => "have the server's certificate replaced".into(),
        FailureKind::ClientCertificateRequired => "give a client certificate the server trusts with --client-cert and --client-key".into(),
        FailureKind::Handshake => format!("check the scheme and port in --{origin_flag}"),
        FailureKind::ProxyAuthentication => "put the proxy's user and password into its URL (http://user:password@proxy:port) in HTTPS_PROXY or --proxy".into(),
        FailureKind::ProxyRefused => format!("check that the proxy may reach the host of --{origin_flag}, or exempt it with NO_PROXY"),
        FailureKind::ProxyUnreachable => "check the proxy's address in HTTPS_PROXY, HTTP_PROXY or --proxy (or exempt the host with NO_PROXY)".into(),
        FailureKind::Resolve => format!("check the host name in --{origin_flag}; if only a proxy can resolve it, set HTTPS_PROXY or --proxy"),
        FailureKind::ConnectionRefused => format!("check the host and port in --{origin_flag} and that the server is running"),
        FailureKind::Timeout => format!("check that the server in --{origin_flag} is reachable from this machine (firewall, proxy)"),
        FailureKind::Connection => "check the network between this machine and the server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_its_flag() {
        let flags = ConnectionFlags { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let error = format!("{:#}", settings(&flags, 4).unwrap_err());
        assert!(error.contains("the CA file /nonexistent/ca.pem (--ca-file)"), "{error}");
    }

    #[test]
    fn every_failure_has_a_remedy_naming_what_to_change() {
        let failure = |kind| Failure { kind, explanation: String::new() };
        assert!(remedy(&failure(FailureKind::UntrustedCertificate), "hostname").contains("--ca-file"));
        assert!(remedy(&failure(FailureKind::CertificateNameMismatch), "hostname").contains("--hostname"));
        assert!(remedy(&failure(FailureKind::ProxyAuthentication), "hostname").contains("--proxy"));
    }
}
