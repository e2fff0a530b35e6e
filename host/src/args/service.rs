//! The service-mode flags (`--client-id` and the rest: baton's names and variables where
//! baton has them) and the [`ServiceOptions`] they make.

use super::switch;
use crate::service::ServiceOptions;
use clap::{Arg, ArgMatches};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The service-mode flags (baton's names and variables where baton has them).
pub(super) fn service_args() -> Vec<Arg> {
    let heading = "Service mode (ConductorOne)";
    let text = |name: &'static str, env: &'static str, help: &'static str| Arg::new(name).long(name).env(env).help_heading(heading).help(help);
    vec![
        text("client-id", "BATON_CLIENT_ID", "ConductorOne client id: runs the connector in service mode").value_name("ID").requires("client-secret"),
        text("client-secret", "BATON_CLIENT_SECRET", "ConductorOne client secret").value_name("SECRET").hide_env_values(true).requires("client-id"),
        text("task-concurrency", "BATON_TASK_CONCURRENCY", "Tasks run at once in service mode")
            .value_name("N")
            .default_value("3")
            .value_parser(clap::value_parser!(u64).range(1..=32)),
        switch("health-check", "BATON_HEALTH_CHECK").help_heading(heading).help("Serve /healthz and /readyz for liveness and readiness probes"),
        text("health-check-port", "BATON_HEALTH_CHECK_PORT", "Port of the health check")
            .value_name("PORT")
            .default_value("8081")
            .value_parser(clap::value_parser!(u16)),
        text("health-check-bind-address", "BATON_HEALTH_CHECK_BIND_ADDRESS", "Address the health check listens on")
            .value_name("IP")
            .default_value("127.0.0.1")
            .value_parser(clap::value_parser!(std::net::IpAddr)),
        text("shutdown-grace-seconds", "BATON_SHUTDOWN_GRACE_SECONDS", "On SIGTERM, how long running tasks may go on before they are stopped")
            .value_name("SECONDS")
            .default_value("30")
            .value_parser(clap::value_parser!(u64).range(0..=3600)),
        text("c1-ca-file", "BATON_C1_CA_FILE", "Extra CA certificates (PEM) to trust for ConductorOne, besides the system's and SSL_CERT_FILE")
            .value_name("PEM"),
        text("c1-api-host", "BATON_C1_API_HOST", "ConductorOne host[:port] to use instead of the one in the client id").value_name("HOST").hide(true),
        text("host-id", "BATON_HOST_ID", "Name this connector host reports to ConductorOne [default: the host name]").value_name("ID").hide(true),
        switch("c1-plaintext-loopback", "BATON_C1_PLAINTEXT_LOOPBACK")
            .help_heading(heading)
            .help("Talk to a ConductorOne on 127.0.0.1 without TLS (tests only)")
            .hide(true),
    ]
}

/// The service options, if `--client-id` was given; `program` is `name/version` of this program.
pub(super) fn service_requested(matches: &ArgMatches, program: &str) -> Option<ServiceOptions> {
    let text = |name: &str| matches.get_one::<String>(name).cloned().filter(|v| !v.trim().is_empty());
    let client_id = text("client-id")?;
    let health_check = matches.get_flag("health-check").then(|| {
        let ip = matches.get_one::<std::net::IpAddr>("health-check-bind-address").copied().unwrap_or([127, 0, 0, 1].into());
        SocketAddr::new(ip, matches.get_one::<u16>("health-check-port").copied().unwrap_or(8081))
    });
    Some(ServiceOptions {
        client_id,
        client_secret: text("client-secret").unwrap_or_default(),
        api_host: text("c1-api-host"),
        ca_file: text("c1-ca-file").map(PathBuf::from),
        plaintext_loopback: matches.get_flag("c1-plaintext-loopback"),
        host_id: text("host-id"),
        health_check,
        task_concurrency: matches.get_one::<u64>("task-concurrency").copied().unwrap_or(3) as usize,
        grace: Duration::from_secs(matches.get_one::<u64>("shutdown-grace-seconds").copied().unwrap_or(30)),
        provisioning: matches.get_flag("provisioning"),
        program: program.to_string(),
    })
}
