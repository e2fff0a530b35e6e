//! The command line's words, in one place, split by command as the program is: [`run`] (a
//! one-shot sync or change: the component's declared schema, provisioning, connections,
//! sandbox limits), [`service`] (service mode for ConductorOne), [`serve`] (`serve --tenants`)
//! and [`component`] (`component push | inspect | precompile`); here, what every command shares
//! (the global flags, the inspection subcommands, the registry flags, the flags read before the
//! component is known) and the one pass that turns what the operator gave into a typed
//! [`Invocation`]. Nothing else reads clap's matches, and nothing here acts on what it parsed:
//! each option type belongs to the module that acts on it, and `cli` hands it over.

pub mod component;
pub mod run;
pub mod serve;
pub mod service;

pub use component::{ComponentCommand, component_command_requested};
pub use run::{Mode, Run};
use run::{check_no_collision, connection_args, one_shot_group, provisioning_args, schema_args};
pub use serve::{Serve, serve_requested};
use service::service_args;

use crate::inspect;
use crate::limits::DEFAULT_CONCURRENCY;
use crate::product::Product;
use crate::registry::{RegistryLogin, RegistryOptions};
use anyhow::{Result, anyhow};
use baton_sandbox::runtime::DEFAULT_CALL_BYTES;
use baton_sandbox::wit::Metadata;
use baton_sync as sync;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::IsTerminal;
use std::path::PathBuf;

/// What one run of the program was asked to do.
#[derive(Debug)]
pub struct Invocation {
    /// The `.c1z` to sync into or to read.
    pub file: PathBuf,
    /// `--log-level`.
    pub log_level: String,
    /// JSON logs (asked for, or the default off a terminal and in service mode).
    pub json_logs: bool,
    pub action: Action,
}

/// The work itself.
#[derive(Debug)]
pub enum Action {
    /// Print the capabilities document.
    Capabilities,
    /// Read `--file` back.
    Inspect(Inspection),
    /// Sync, change or serve with the component configured.
    Run(Box<Run>),
}

/// An inspection subcommand and its filters.
#[derive(Debug)]
pub struct Inspection {
    pub command: String,
    pub format: inspect::Format,
    pub resource_type: Option<String>,
    pub entitlement: Option<String>,
    pub principal: Option<String>,
}

/// Parses the command line for `metadata`'s component (help, version and usage errors exit
/// here, as clap does); refuses combinations that cannot run.
pub fn parse(metadata: &Metadata, product: &Product) -> Result<Invocation> {
    crate::settings::check_schema(metadata)?;
    let host = host_args(product).args(provisioning_args(metadata)).args(connection_args(&metadata.display_name)).args(service_args());
    check_no_collision(metadata, &host)?;
    let matches = match full_command(metadata, product).try_get_matches() {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    invocation(metadata, product, &matches)
}

fn invocation(metadata: &Metadata, product: &Product, matches: &ArgMatches) -> Result<Invocation> {
    let file = PathBuf::from(matches.get_one::<String>("file").map(String::as_str).unwrap_or("sync.c1z"));
    let log_level = matches.get_one::<String>("log-level").cloned().unwrap_or_else(|| "info".into());
    let json_logs = json_logs(matches);
    let action = match matches.subcommand() {
        Some(("capabilities", _)) => Action::Capabilities,
        Some(("serve", _)) => return Err(anyhow!("serve takes its own flags and must come first: {} serve --tenants FILE", product.name)),
        Some((name, sub)) => Action::Inspect(inspection(name, sub)),
        None => Action::Run(Box::new(run::run(metadata, product, matches)?)),
    };
    Ok(Invocation { file, log_level, json_logs, action })
}

fn inspection(name: &str, sub: &ArgMatches) -> Inspection {
    let text = |arg: &str| sub.try_get_one::<String>(arg).ok().flatten().cloned();
    let format = output_format(sub);
    Inspection { command: name.to_string(), format, resource_type: text("resource-type"), entitlement: text("entitlement"), principal: text("principal") }
}

fn full_command(metadata: &baton_sandbox::wit::Metadata, product: &Product) -> Command {
    host_args(product)
        .about(format!("{}: {}", metadata.display_name, metadata.description))
        .long_about(format!(
            "{}: {}\n\nRuns a full sync into --file. Secrets (tokens, passwords) stay in this process: the sandboxed connector never sees them, and requests may reach only the configured base URL.",
            metadata.display_name, metadata.description
        ))
        .version(product.version)
        .args(schema_args(metadata))
        .subcommands(subcommands())
        .args(provisioning_args(metadata))
        .args(connection_args(&metadata.display_name))
        .group(one_shot_group())
        .args(service_args())
        .arg(Arg::new("help").short('h').long("help").action(ArgAction::Help).help("Print help"))
        .disable_help_flag(true)
}

/// The flags the host itself owns (baton's standard ones that apply, and the sandbox's).
fn host_args(product: &Product) -> Command {
    Command::new(product.name)
        .arg(
            Arg::new("file")
                .short('f')
                .long("file")
                .env("BATON_FILE")
                .value_name("FILE")
                .global(true)
                .default_value("sync.c1z")
                .help("The .c1z file to sync into (and that the inspection commands read)"),
        )
        .args(log_args().map(|arg| arg.global(true)))
        .arg(
            Arg::new("concurrency")
                .long("concurrency")
                .env("BATON_CONCURRENCY")
                .value_name("N")
                .default_value(DEFAULT_CONCURRENCY.to_string())
                .value_parser(clap::value_parser!(u64).range(1..=64))
                .help("Connector instances fetching entitlements and grants of different resources at once (all share the server's rate limit)"),
        )
        .arg(
            switch("strict", "BATON_STRICT").help("Fail a sync (keeping the previous file) when a grant names a principal the connector cannot find, instead of reporting it"),
        )
        .arg(
            Arg::new("keep-previous-sync")
                .long("keep-previous-sync")
                .env("BATON_KEEP_PREVIOUS_SYNC")
                .value_name("BOOL")
                .num_args(0..=1)
                .default_value("true")
                .default_missing_value("true")
                .value_parser(clap::builder::BoolishValueParser::new())
                .help("Keep the latest sync of the file being replaced beside the new one, so `baton diff` shows what changed (false: the file holds the new sync only, smaller and faster to write)"),
        )
        .arg(
            Arg::new("lock-wait-seconds")
                .long("lock-wait-seconds")
                .env("BATON_LOCK_WAIT_SECONDS")
                .value_name("SECONDS")
                .default_value("0")
                .value_parser(clap::value_parser!(u64).range(0..=86400))
                .help("When another sync is writing the same file, wait up to this long for it (0: refuse at once, naming its process)"),
        )
        .arg(Arg::new("component").long("component").env("BATON_COMPONENT").value_name("PATH").help_heading("Sandbox").help(format!(
            "The connector component: a .wasm file, or oci://REGISTRY/REPOSITORY:TAG or @sha256:DIGEST [default: {} beside this program]",
            product.component_file
        )))
        .args(registry_args())
        .arg(
            Arg::new("max-memory-mb")
                .long("max-memory-mb")
                .env("BATON_MAX_MEMORY_MB")
                .value_name("MIB")
                .default_value("256")
                .value_parser(clap::value_parser!(u64).range(1..=65536))
                .help_heading("Sandbox")
                .help("Memory cap of each connector instance, in MiB"),
        )
        .arg(
            Arg::new("max-cpu-seconds")
                .long("max-cpu-seconds")
                .env("BATON_MAX_CPU_SECONDS")
                .value_name("SECONDS")
                .default_value("60")
                .value_parser(clap::value_parser!(u64).range(1..=86400))
                .help_heading("Sandbox")
                .help("CPU time one connector call may use before it is stopped, in seconds"),
        )
        .arg(
            Arg::new("call-timeout-seconds")
                .long("call-timeout-seconds")
                .env("BATON_CALL_TIMEOUT_SECONDS")
                .value_name("SECONDS")
                .default_value("600")
                .value_parser(clap::value_parser!(u64).range(1..=86400))
                .help_heading("Sandbox")
                .help("Wall-clock time one connector call may take, network waits included, in seconds"),
        )
        .arg(
            Arg::new("max-run-cpu-seconds")
                .long("max-run-cpu-seconds")
                .env("BATON_MAX_RUN_CPU_SECONDS")
                .value_name("SECONDS")
                .default_value("14400")
                .value_parser(clap::value_parser!(u64).range(1..=604800))
                .help_heading("Sandbox")
                .help("CPU time all connector calls of one sync (or change) may use together, in seconds"),
        )
        .arg(budget_arg("max-call-mb", "BATON_MAX_CALL_MB", "MIB", DEFAULT_CALL_BYTES as u64 >> 20, 4096, "Data one connector call may pass to this program, in MiB"))
        .arg(budget_arg(
            "max-resource-mb",
            "BATON_MAX_RESOURCE_MB",
            "MIB",
            sync::budget::DEFAULT_RESOURCE_MIB,
            65536,
            "Entitlements and grants of one resource held in memory until they are written, in MiB (each concurrent instance may hold this much)",
        ))
        .arg(budget_arg("max-sync-rows", "BATON_MAX_SYNC_ROWS", "ROWS", sync::budget::DEFAULT_SYNC_ROWS, u64::MAX, "Rows one sync may write"))
        .arg(budget_arg("max-sync-mb", "BATON_MAX_SYNC_MB", "MIB", sync::budget::DEFAULT_SYNC_MIB, 1 << 30, "Bytes of rows one sync may write, in MiB"))
}

/// A budget of the sandbox: a whole number from 1 to `most`, `default` when not given.
fn budget_arg(name: &'static str, env: &'static str, unit: &'static str, default: u64, most: u64, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .env(env)
        .value_name(unit)
        .default_value(default.to_string())
        .value_parser(clap::value_parser!(u64).range(1..=most))
        .help_heading("Sandbox")
        .help(help)
}

/// `--log-level` and `--log-format`, which every command takes.
fn log_args() -> [Arg; 2] {
    [
        Arg::new("log-level")
            .long("log-level")
            .env("BATON_LOG_LEVEL")
            .value_name("LEVEL")
            .default_value("info")
            .value_parser(["debug", "info", "warn", "error"])
            .help("Log level"),
        Arg::new("log-format")
            .long("log-format")
            .env("BATON_LOG_FORMAT")
            .value_name("FORMAT")
            .value_parser(["json", "console"])
            .help("Log format [default: console on a terminal, json otherwise]"),
    ]
}

/// An on/off flag: given alone it is on; its variable takes true/false, yes/no, 1/0, on/off.
fn switch(name: &'static str, env: &'static str) -> Arg {
    Arg::new(name).long(name).env(env).action(ArgAction::SetTrue).value_parser(clap::builder::BoolishValueParser::new())
}

/// `-o` / `--output-format` of the commands that print listings.
fn output_format_arg() -> Arg {
    Arg::new("output-format")
        .short('o')
        .long("output-format")
        .env("BATON_OUTPUT_FORMAT")
        .value_parser(["console", "json"])
        .default_value("console")
        .help("Output format")
}

fn output_format(matches: &ArgMatches) -> inspect::Format {
    match matches.try_get_one::<String>("output-format").ok().flatten().map(String::as_str) {
        Some("json") => inspect::Format::Json,
        _ => inspect::Format::Console,
    }
}

/// The inspection and information subcommands.
fn subcommands() -> Vec<Command> {
    let format = output_format_arg;
    let resource_type = || Arg::new("resource-type").short('t').long("resource-type").value_name("TYPE").help("Only this resource type");
    vec![
        Command::new("resource-types").about("List the resource types in --file").arg(format()),
        Command::new("resources").about("List the resources in --file").arg(format()).arg(resource_type()),
        Command::new("entitlements").about("List the entitlements in --file").arg(format()).arg(resource_type()),
        Command::new("grants")
            .about("List the grants in --file")
            .arg(format())
            .arg(Arg::new("entitlement").short('e').long("entitlement").value_name("ID").help("Only grants of this entitlement"))
            .arg(Arg::new("principal").short('p').long("principal").value_name("TYPE:ID").help("Only grants to this principal, e.g. user:ada")),
        Command::new("principals")
            .about("Who holds an entitlement in --file, directly or through a group")
            .arg(format())
            .arg(Arg::new("entitlement").short('e').long("entitlement").value_name("ID").required(true).help("The entitlement, e.g. space:ENG:view")),
        Command::new("capabilities").about("Print the connector's capabilities (baton_capabilities.json) as computed from the component"),
        Command::new("serve")
            .about("Run many tenants' connectors side by side from a tenants file (first argument only: see `serve --help`)")
            .disable_help_flag(true)
            .arg(Arg::new("rest").num_args(0..).allow_hyphen_values(true).trailing_var_arg(true)),
    ]
}

/// JSON logs when asked for, or by default when stdout is not a terminal (as baton does).
fn json_logs(matches: &ArgMatches) -> bool {
    match matches.get_one::<String>("log-format").map(String::as_str) {
        Some("json") => true,
        Some(_) => false,
        // Service mode logs JSON unless told otherwise, as baton does.
        None => matches.get_one::<String>("client-id").is_some() || !std::io::stdout().is_terminal(),
    }
}

/// The value of `--component PATH` or `--component=PATH` among the arguments, if given.
pub fn component_flag(args: impl Iterator<Item = String>) -> Option<String> {
    early_flag(args, "component")
}

/// The value of `--NAME VALUE` or `--NAME=VALUE` among the arguments (before any `--`), for
/// the flags that must be known before the component declares the rest.
fn early_flag(args: impl Iterator<Item = String>, name: &str) -> Option<String> {
    let flag = format!("--{name}");
    let mut args = args.skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if arg == flag {
            return args.next();
        }
        if let Some(value) = arg.strip_prefix(&flag).and_then(|rest| rest.strip_prefix('=')) {
            return Some(value.to_string());
        }
    }
    None
}

/// `--cache-dir`, the registry login and `--verify-key`, read before the full parse (the component they pull
/// declares the other flags), each flag else its variable. [`registry_args`] declares them.
pub fn early_registry_options(args: &[String]) -> RegistryOptions {
    let value = |name: &str, env: &str| early_flag(args.iter().cloned(), name).or_else(|| std::env::var(env).ok()).filter(|v| !v.is_empty());
    RegistryOptions {
        cache_dir: value("cache-dir", "BATON_CACHE_DIR").map(PathBuf::from),
        login: RegistryLogin {
            username: value("registry-username", "BATON_REGISTRY_USERNAME"),
            password: value("registry-password", "BATON_REGISTRY_PASSWORD"),
        },
        verify_key: value("verify-key", "BATON_VERIFY_KEY").map(PathBuf::from),
    }
}

/// Where pulled components are cached and who we are to the registry.
fn registry_args() -> Vec<Arg> {
    let text =
        |name: &'static str, env: &'static str, help: &'static str| Arg::new(name).long(name).env(env).value_name("TEXT").help_heading("Registry").help(help);
    vec![
        Arg::new("cache-dir")
            .long("cache-dir")
            .env("BATON_CACHE_DIR")
            .value_name("DIR")
            .help_heading("Registry")
            .help("Where components pulled from a registry are kept, by digest [default: $XDG_CACHE_HOME or ~/.cache, then the program's name, then oci]"),
        text("registry-username", "BATON_REGISTRY_USERNAME", "Registry user for oci:// components (else the Docker config file's entry)"),
        text(
            "registry-password",
            "BATON_REGISTRY_PASSWORD",
            "Registry password (prefer the variable or the Docker config file: a flag shows in the process list)",
        )
        .hide_env_values(true),
        Arg::new("verify-key")
            .long("verify-key")
            .env("BATON_VERIFY_KEY")
            .value_name("PATH")
            .help_heading("Registry")
            .help("A cosign public key: an oci:// component is run only when a signature beside it verifies with this key"),
    ]
}

fn registry_options(matches: &ArgMatches) -> RegistryOptions {
    let value = |name: &str| matches.try_get_one::<String>(name).ok().flatten().cloned().filter(|v| !v.is_empty());
    RegistryOptions {
        cache_dir: value("cache-dir").map(PathBuf::from),
        login: RegistryLogin { username: value("registry-username"), password: value("registry-password") },
        verify_key: value("verify-key").map(PathBuf::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn component_flag_is_found_anywhere_before_a_double_dash() {
        assert_eq!(component_flag(args(&["bin", "--hostname", "h", "--component", "c.wasm"])), Some("c.wasm".into()));
        assert_eq!(component_flag(args(&["bin", "--component=c.wasm"])), Some("c.wasm".into()));
        assert_eq!(component_flag(args(&["bin", "--", "--component", "c.wasm"])), None);
        assert_eq!(component_flag(args(&["bin"])), None);
        assert_eq!(component_flag(args(&["bin", "--component-x=c.wasm"])), None);
    }

    #[test]
    fn registry_options_are_read_before_the_parse() {
        let given: Vec<String> = ["bin", "--cache-dir=/c", "--registry-username", "u", "--registry-password=p"].map(String::from).into();
        let options = early_registry_options(&given);
        assert_eq!(options.cache_dir, Some(PathBuf::from("/c")));
        assert_eq!((options.login.username.as_deref(), options.login.password.as_deref()), (Some("u"), Some("p")));
        assert!(!format!("{options:?}").contains("\"p\""), "{options:?}");
    }
}
