//! `confluence-sim`: runs the Confluence DC simulator as a standalone server until killed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Parser;
use confluence_sim::tls::TestCa;
use confluence_sim::{ADMIN_TOKEN, Dataset, FaultPlan, SimConfig, SimTls, Simulator};

#[derive(Debug, Parser)]
#[command(name = "confluence-sim", about = "Confluence Data Center REST API simulator")]
struct Args {
    /// TCP port to listen on.
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Number of generated users (at least 4; 12+ for every edge case). Groups and spaces
    /// grow with it (10 + users/50 groups, 9 + users/50 spaces).
    #[arg(long, default_value_t = 25)]
    users: usize,
    /// Context path, e.g. /confluence.
    #[arg(long, default_value = "")]
    context_path: String,
    /// Emulated Confluence version (e.g. 7.19.0, 8.5.0, 9.2.0, 10.2.0).
    #[arg(long, default_value = "8.9.0")]
    version: String,
    /// Server-side clamp of `limit`.
    #[arg(long, default_value_t = 200)]
    max_limit: usize,
    /// Milliseconds added to every response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Every Nth request answers 429 with Retry-After and X-RateLimit-* headers.
    #[arg(long)]
    rate_limit_every: Option<u64>,
    /// Every Nth request answers 503 with Retry-After.
    #[arg(long)]
    unavailable_every: Option<u64>,
    /// Retry-After seconds of the injected 429/503 answers.
    #[arg(long = "retry-after", default_value_t = 0)]
    retry_after: u64,
    /// Every Nth request: the connection is closed without any response.
    #[arg(long)]
    drop_every: Option<u64>,
    /// Every Nth JSON answer is cut in half (200, invalid JSON).
    #[arg(long)]
    truncate_every: Option<u64>,
    /// Every Nth request answers 200 with a malformed body.
    #[arg(long)]
    malformed_every: Option<u64>,
    /// JSON-RPC `getActiveUsers(true)` leaves deactivated users out (its real behaviour is
    /// unconfirmed; by default they are included).
    #[arg(long)]
    view_all_excludes_deactivated: bool,
    /// Serve the plain benchmark dataset instead: USERS,GROUPS,MEMBERSHIPS,SPACES
    /// (e.g. 50000,5000,1000000,2000); --users is then ignored.
    #[arg(long, value_name = "USERS,GROUPS,MEMBERSHIPS,SPACES", value_parser = parse_bench, help_heading = "Benchmark")]
    bench: Option<(usize, usize, usize, usize)>,
    /// Serve HTTPS with a certificate from a private CA made at start; its certificate is
    /// written to DIR/ca.pem (what a client gives as --ca-file). Connections and handshakes
    /// are printed when the simulator stops.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<std::path::PathBuf>,
}

fn parse_bench(text: &str) -> Result<(usize, usize, usize, usize), String> {
    let numbers: Vec<usize> = text.split(',').map(|n| n.trim().parse::<usize>().map_err(|_| format!("{n:?} is not a number"))).collect::<Result<_, _>>()?;
    match numbers.as_slice() {
        [users, groups, memberships, spaces] => Ok((*users, *groups, *memberships, *spaces)),
        _ => Err("expected four numbers: USERS,GROUPS,MEMBERSHIPS,SPACES".into()),
    }
}

/// A private CA, its certificate in `dir/ca.pem`, and the server certificate for `host` it issued.
fn private_tls(dir: &std::path::Path, host: IpAddr) -> anyhow::Result<SimTls> {
    let ca = TestCa::new("confluence-sim private CA")?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), ca.certificate_pem())?;
    Ok(SimTls { certificate: ca.server(&[&host.to_string(), "localhost"])?, client_ca_pem: None, host_name: None })
}

fn config_from(args: &Args) -> SimConfig {
    SimConfig {
        version: args.version.clone(),
        context_path: args.context_path.clone(),
        max_limit: args.max_limit,
        dataset: match args.bench {
            Some((users, groups, memberships, spaces)) => Dataset::bench(users, groups, memberships, spaces),
            None => Dataset::generate(args.users),
        },
        faults: FaultPlan {
            latency_ms: args.latency_ms,
            rate_limit_every: args.rate_limit_every,
            unavailable_every: args.unavailable_every,
            retry_after_seconds: args.retry_after,
            drop_every: args.drop_every,
            truncate_every: args.truncate_every,
            malformed_every: args.malformed_every,
            ..FaultPlan::default()
        },
        view_all_includes_deactivated: !args.view_all_excludes_deactivated,
        ..SimConfig::default()
    }
}

async fn wait_for_termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = config_from(&args);
    if let Some(dir) = &args.tls_dir {
        config.tls = Some(private_tls(dir, args.host)?);
    }
    let expected = config.dataset.expected();
    let simulator = Simulator::start_on(config, SocketAddr::new(args.host, args.port)).await?;
    println!(
        "confluence-sim listening on {} (admin token: {ADMIN_TOKEN}, users: {}, groups: {}, spaces: {}, version: {})",
        simulator.base_url(),
        expected.users,
        expected.groups,
        expected.spaces,
        simulator.state().version.display()
    );
    wait_for_termination().await;
    let connections = simulator.connections();
    println!(
        "confluence-sim stopping: {} requests, {} connections, {} TLS handshakes ({} failed)",
        simulator.request_count(),
        connections.accepted(),
        connections.handshakes(),
        connections.failed_handshakes()
    );
    drop(simulator);
    Ok(())
}
