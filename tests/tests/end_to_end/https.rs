//! HTTPS as real deployments serve it: a certificate from a private CA (trusted through
//! `--ca-file`, `BATON_CA_FILE` or `SSL_CERT_FILE`, refused with a message that says so without
//! it), certificates for the wrong name or expired, a CONNECT proxy that alone can resolve the
//! Confluence name (with and without credentials, which go to the proxy only), `NO_PROXY`, plain
//! http through `HTTP_PROXY`, and mutual TLS. Connections are pooled: a sync makes few handshakes.

use crate::util::run_host;
use baton_c1z::C1zReader;
use confluence_sim::forward_proxy::{ForwardProxy, ProxyConfig};
use confluence_sim::tls::{Issued, TestCa};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, SimTls, Simulator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CA_NAME: &str = "Acme Private Root CA";
const USERS: usize = 12;

/// A simulator serving HTTPS with a certificate of `ca`.
fn https_simulator(certificate: Issued, client_ca_pem: Option<String>, host_name: Option<&str>) -> Simulator {
    Simulator::start_background(SimConfig {
        dataset: Dataset::generate(USERS),
        tls: Some(SimTls { certificate, client_ca_pem, host_name: host_name.map(String::from) }),
        ..SimConfig::default()
    })
    .expect("starting the simulator")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sync(sim: &Simulator, file: &Path, args: &[&str], env: &[(&str, &str)]) -> crate::util::Run {
    let base_url = sim.base_url();
    let mut all_args = vec!["--file", file.to_str().unwrap()];
    all_args.extend_from_slice(args);
    let mut all_env = vec![("BATON_HOSTNAME", base_url.as_str()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)];
    all_env.extend_from_slice(env);
    run_host(&all_args, &all_env)
}

fn synced_users(file: &Path) -> usize {
    C1zReader::open(file).unwrap().resources(Some("user")).unwrap().len()
}

/// The refusal happened once: a certificate does not change between attempts.
fn assert_not_retried(sim: &Simulator, run: &crate::util::Run) {
    assert_eq!(sim.connections().handshakes(), 0, "no handshake may succeed");
    assert!(sim.connections().accepted() <= 2, "not retried: {} connections", sim.connections().accepted());
    assert!(!run.stderr.contains("trying again"), "{}", run.stderr);
}

#[test]
fn a_private_ca_is_trusted_when_given_and_named_when_not() {
    let ca = TestCa::new(CA_NAME).unwrap();
    let sim = https_simulator(ca.server(&["127.0.0.1"]).unwrap(), None, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let ca_file = write(dir.path(), "ca.pem", &ca.certificate_pem());

    let refused = sync(&sim, &file, &[], &[]);
    assert!(!refused.success);
    assert!(refused.stderr.contains(&format!("the certificate of 127.0.0.1 is not trusted (issuer CN={CA_NAME}")), "{}", refused.stderr);
    assert!(refused.stderr.contains("add your CA with --ca-file or BATON_CA_FILE"), "{}", refused.stderr);
    assert!(!file.exists(), "no file from a refused sync");
    assert_not_retried(&sim, &refused);

    let trusted = sync(&sim, &file, &["--ca-file", ca_file.to_str().unwrap()], &[]);
    assert!(trusted.success, "{}", trusted.output());
    assert_eq!(synced_users(&file), USERS);
    let (handshakes, requests) = (sim.connections().handshakes(), sim.request_count());
    assert!(requests > 20, "a real sync: {requests} requests");
    assert!(handshakes <= 4, "pooled connections: {handshakes} handshakes for {requests} requests");

    for (variable, value) in [("BATON_CA_FILE", ca_file.to_str().unwrap()), ("SSL_CERT_FILE", ca_file.to_str().unwrap())] {
        std::fs::remove_file(&file).unwrap();
        let run = sync(&sim, &file, &[], &[(variable, value)]);
        assert!(run.success, "{variable}: {}", run.output());
        assert_eq!(synced_users(&file), USERS);
    }
}

#[test]
fn a_certificate_for_another_name_or_out_of_date_is_named() {
    let ca = TestCa::new(CA_NAME).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.certificate_pem());
    let file = dir.path().join("sync.c1z");

    let other_name = https_simulator(ca.server(&["wiki.example.com"]).unwrap(), None, None);
    let run = sync(&other_name, &file, &["--ca-file", ca_file.to_str().unwrap()], &[]);
    assert!(!run.success);
    assert!(run.stderr.contains("the certificate of 127.0.0.1 is not valid for the name 127.0.0.1: it is for wiki.example.com"), "{}", run.stderr);
    assert!(run.stderr.contains("--hostname"), "{}", run.stderr);
    assert_not_retried(&other_name, &run);

    let expired = https_simulator(ca.expired_server(&["127.0.0.1"]).unwrap(), None, None);
    let run = sync(&expired, &file, &["--ca-file", ca_file.to_str().unwrap()], &[]);
    assert!(!run.success);
    assert!(run.stderr.contains("the certificate of 127.0.0.1 is expired or not yet valid (valid "), "{}", run.stderr);
    assert_not_retried(&expired, &run);
    assert!(!file.exists());
}

#[test]
fn a_name_only_the_proxy_resolves_is_reached_through_https_proxy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = TestCa::new(CA_NAME).unwrap();
    let name = "confluence.corp.invalid";
    let sim = https_simulator(ca.server(&[name]).unwrap(), None, Some(name));
    let sim_address: std::net::SocketAddr = sim.origin().replace(&format!("https://{name}"), "127.0.0.1").parse().unwrap();
    let proxy = runtime.block_on(ForwardProxy::start(ProxyConfig { names: HashMap::from([(name.to_string(), sim_address)]), ..Default::default() })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.certificate_pem());
    let file = dir.path().join("sync.c1z");

    let run = sync(&sim, &file, &["--ca-file", ca_file.to_str().unwrap()], &[("HTTPS_PROXY", &proxy.url(None))]);
    assert!(run.success, "{}", run.output());
    assert_eq!(synced_users(&file), USERS);
    let log = proxy.log();
    assert!(log.tunnels >= 1 && log.tunnels <= 4, "pooled tunnels: {}", log.tunnels);
    assert!(log.requests.iter().all(|r| r == &format!("CONNECT {name}:{}", sim_address.port())), "{:?}", log.requests);
}

#[test]
fn proxy_credentials_go_to_the_proxy_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = TestCa::new(CA_NAME).unwrap();
    let sim = https_simulator(ca.server(&["127.0.0.1"]).unwrap(), None, None);
    let password = "pr0xy-pa55word";
    let proxy = runtime.block_on(ForwardProxy::start(ProxyConfig { credentials: Some(("svc-baton".into(), password.into())), ..Default::default() })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.certificate_pem());
    let file = dir.path().join("sync.c1z");

    let refused = sync(&sim, &file, &["--ca-file", ca_file.to_str().unwrap()], &[("HTTPS_PROXY", &proxy.url(None))]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains(&format!("the proxy http://{} wants a user and password (407 Proxy Authentication Required)", proxy.address)),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("trying again"), "{}", refused.stderr);
    let wrong = sync(&sim, &file, &["--ca-file", ca_file.to_str().unwrap(), "--proxy", &proxy.url(Some(("svc-baton", "wrong-one")))], &[]);
    assert!(wrong.stderr.contains("refused the user and password given"), "{}", wrong.stderr);
    assert!(!wrong.output().contains("wrong-one"), "the password is never repeated");

    // --proxy wins over the environment (which names a proxy that is not there).
    let run = sync(
        &sim,
        &file,
        &["--ca-file", ca_file.to_str().unwrap(), "--proxy", &proxy.url(Some(("svc-baton", password)))],
        &[("HTTPS_PROXY", "http://127.0.0.1:9")],
    );
    assert!(run.success, "{}", run.output());
    assert_eq!(synced_users(&file), USERS);
    assert!(!run.output().contains(password), "the proxy password is never logged");
    let to_confluence = sim.requests();
    assert!(!to_confluence.is_empty());
    assert!(to_confluence.iter().all(|r| r.headers.iter().all(|(name, _)| name != "proxy-authorization")), "Confluence never sees the proxy's credentials");
}

#[test]
fn no_proxy_exempts_the_origin_and_plain_http_goes_through_http_proxy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(ForwardProxy::start(ProxyConfig::default())).unwrap();
    let sim = Simulator::start_background(SimConfig { dataset: Dataset::generate(USERS), ..SimConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");

    let exempt = sync(&sim, &file, &[], &[("HTTP_PROXY", "http://127.0.0.1:9"), ("NO_PROXY", "localhost,127.0.0.1")]);
    assert!(exempt.success, "{}", exempt.output());

    std::fs::remove_file(&file).unwrap();
    let proxied = sync(&sim, &file, &[], &[("http_proxy", &proxy.url(None))]);
    assert!(proxied.success, "{}", proxied.output());
    assert_eq!(synced_users(&file), USERS);
    let log = proxy.log();
    assert!(log.requests.iter().any(|r| r.starts_with(&format!("GET {}/rest/api/", sim.origin()))), "{:?}", &log.requests[..3.min(log.requests.len())]);
    assert_eq!(log.tunnels, 0);

    let unreachable = sync(&sim, &file, &[], &[("HTTP_PROXY", "http://127.0.0.1:9")]);
    assert!(!unreachable.success);
    assert!(unreachable.stderr.contains("the proxy http://127.0.0.1:9 (from HTTP_PROXY) cannot be reached"), "{}", unreachable.stderr);
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let ca = TestCa::new(CA_NAME).unwrap();
    let sim = https_simulator(ca.server(&["127.0.0.1"]).unwrap(), Some(ca.certificate_pem()), None);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.certificate_pem());
    let client = ca.client("baton-connector").unwrap();
    let cert_file = write(dir.path(), "client.pem", &client.certificate_pem);
    let key_file = write(dir.path(), "client-key.pem", &client.key_pem);
    let file = dir.path().join("sync.c1z");

    let refused = sync(&sim, &file, &["--ca-file", ca_file.to_str().unwrap()], &[]);
    assert!(!refused.success);
    assert!(refused.stderr.contains("--client-cert and --client-key"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("trying again"), "{}", refused.stderr);

    let run = sync(
        &sim,
        &file,
        &["--ca-file", ca_file.to_str().unwrap(), "--client-cert", cert_file.to_str().unwrap(), "--client-key", key_file.to_str().unwrap()],
        &[],
    );
    assert!(run.success, "{}", run.output());
    assert_eq!(synced_users(&file), USERS);
    let key_body: String = client.key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!run.output().contains(&key_body[..24]), "the key is never logged");
}

#[test]
fn unusable_connection_files_are_refused_before_any_request() {
    let ca = TestCa::new(CA_NAME).unwrap();
    let sim = https_simulator(ca.server(&["127.0.0.1"]).unwrap(), None, None);
    let dir = tempfile::tempdir().unwrap();
    let not_pem = write(dir.path(), "notes.txt", "this is not a certificate\n");
    let file = dir.path().join("sync.c1z");
    let cases: [(&[&str], &str); 3] = [
        (&["--ca-file", not_pem.to_str().unwrap()], "holds no PEM certificate"),
        (&["--ca-file", "/nonexistent/ca.pem"], "cannot read the CA file /nonexistent/ca.pem (--ca-file)"),
        (&["--client-cert", not_pem.to_str().unwrap(), "--client-key", not_pem.to_str().unwrap()], "holds no"),
    ];
    for (args, expected) in cases {
        let run = sync(&sim, &file, args, &[]);
        assert!(!run.success);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(sim.connections().accepted(), 0, "nothing was sent");
    let insecure = sync(&sim, &file, &["--insecure-skip-tls-verify"], &[]);
    assert!(!insecure.success && insecure.stderr.contains("--insecure-skip-tls-verify"), "there is no way to turn verification off");
}
