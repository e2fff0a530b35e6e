//! `serve --tenants FILE`: its own flags (the components come from the tenants file, so no
//! component's schema is involved) and the [`ServeOptions`] they make.

use super::{log_args, registry_args, registry_options, switch};
use crate::product::Product;
use crate::runner::{ServeOptions, shard};
use anyhow::{Result, anyhow};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `PROGRAM serve ...`, parsed: how to log, and what to serve.
#[derive(Debug)]
pub struct Serve {
    pub log_level: String,
    pub json_logs: bool,
    pub options: ServeOptions,
}

/// `serve` when it is the first argument: its own flags (the components come from the tenants
/// file, so no component's schema is involved). Help and usage errors exit here, as clap does.
pub fn serve_requested(product: &Product) -> Result<Option<Serve>> {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.get(1).map(String::as_str) != Some("serve") {
        return Ok(None);
    }
    let matches = match serve_command(product).try_get_matches_from(&arguments[1..]) {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    serve(&matches).map(Some)
}

pub(super) fn serve(matches: &ArgMatches) -> Result<Serve> {
    let count = matches.get_one::<u64>("shards").copied().unwrap_or(1);
    let ordinal = match matches.get_one::<u64>("shard-ordinal") {
        Some(ordinal) => *ordinal,
        None if count == 1 => 0,
        None => {
            let host = std::env::var("HOSTNAME").unwrap_or_default();
            shard::ordinal_of_pod(&host).ok_or_else(|| {
                anyhow!("--shards {count} needs this replica's ordinal: set --shard-ordinal / BATON_SHARD_ORDINAL, or run in a StatefulSet pod whose name ends in -N (HOSTNAME is {host:?})")
            })?
        }
    };
    let shard = shard::Shard::new(ordinal, count).map_err(|why| anyhow!("--shard-ordinal / --shards: {why}"))?;
    let once = matches.get_flag("once");
    let check = matches.get_flag("check");
    let json_logs = match matches.get_one::<String>("log-format").map(String::as_str) {
        Some(format) => format == "json",
        None => !std::io::stdout().is_terminal(),
    };
    Ok(Serve {
        log_level: matches.get_one::<String>("log-level").cloned().unwrap_or_else(|| "info".into()),
        json_logs,
        options: ServeOptions {
            tenants_file: PathBuf::from(matches.get_one::<String>("tenants").cloned().unwrap_or_default()),
            once,
            check,
            listen: matches.get_one::<SocketAddr>("listen").copied(),
            shard,
            grace: Duration::from_secs(matches.get_one::<u64>("shutdown-grace-seconds").copied().unwrap_or(30)),
            max_instances: matches.get_one::<u64>("max-instances").copied().unwrap_or(64) as u32,
            registry: registry_options(matches),
        },
    })
}

pub(super) fn serve_command(product: &Product) -> Command {
    let number = |name: &'static str, env: &'static str, default: &'static str, range: std::ops::RangeInclusive<u64>, help: &'static str| {
        Arg::new(name).long(name).env(env).value_name("N").default_value(default).value_parser(clap::value_parser!(u64).range(range)).help(help)
    };
    Command::new("serve")
        .bin_name(format!("{} serve", product.name))
        .version(product.version)
        .about("Run the connectors of many tenants side by side, each isolated, as a tenants file describes")
        .arg(Arg::new("tenants").long("tenants").env("BATON_TENANTS").value_name("FILE").required(true).help("The tenants file (TOML; see the README)"))
        .arg(switch("once", "BATON_ONCE").help("Sync every tenant one time and exit (non-zero if any failed or was refused)"))
        .arg(
            Arg::new("check")
                .long("check")
                .action(ArgAction::SetTrue)
                .conflicts_with("once")
                .help("Check the tenants file and exit: each tenant this replica takes, or why it is refused (components and secrets are not read)"),
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .env("BATON_LISTEN")
                .value_name("ADDRESS")
                .value_parser(clap::value_parser!(SocketAddr))
                .help("Serve /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9090"),
        )
        .arg(number("shards", "BATON_SHARDS", "1", 1..=1024, "Replicas sharing the tenants file; this one takes the tenants whose hash falls to its ordinal"))
        .arg(
            Arg::new("shard-ordinal")
                .long("shard-ordinal")
                .env("BATON_SHARD_ORDINAL")
                .value_name("N")
                .value_parser(clap::value_parser!(u64))
                .help("This replica's ordinal, from 0 [default: the number ending the pod name in HOSTNAME]"),
        )
        .arg(number("max-instances", "BATON_MAX_INSTANCES", "64", 1..=4096, "Connector instances alive at once, all tenants together"))
        .args(registry_args())
        .arg(number(
            "shutdown-grace-seconds",
            "BATON_SHUTDOWN_GRACE_SECONDS",
            "30",
            0..=3600,
            "On SIGTERM, how long running syncs may go on before they are stopped",
        ))
        .args(log_args())
}
