//! The command line's words, in one place: every flag (the host's own, the component's
//! declared schema, provisioning, service mode) and the one pass that turns what the operator
//! gave into a typed [`Invocation`]. Nothing else reads clap's matches.

use crate::component::{ComponentInspect, ComponentPush};
use crate::connector::DEFAULT_CONCURRENCY;
use crate::outbound::ConnectionFlags;
use crate::product::Product;
use crate::provision::Change;
use crate::registry::{RegistryLogin, RegistryOptions};
use crate::runner::{ServeOptions, shard};
use crate::service::ServiceOptions;
use crate::{inspect, settings};
use anyhow::{Result, anyhow, bail};
use baton_sandbox::Limits;
use baton_sandbox::wit::{ConfigField, FieldKind, Metadata};
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// A run against the source. Its `Debug` names the settings given, never their values.
pub struct Run {
    /// The component's settings as given (set, non-empty values only), before resolution.
    pub values: BTreeMap<String, String>,
    pub limits: Limits,
    /// Instances fetching at once during a sync.
    pub concurrency: usize,
    /// `--strict`: a principal no lookup finds fails the sync.
    pub strict: bool,
    /// `--keep-previous-sync`: a one-shot sync keeps the replaced file's latest sync beside it.
    pub keep_previous_sync: bool,
    /// `--provisioning`: changes are allowed.
    pub provisioning: bool,
    /// How connections to the source are made: trust, proxy, client certificate.
    pub connection: ConnectionFlags,
    pub mode: Mode,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("settings_given", &self.values.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("concurrency", &self.concurrency)
            .field("strict", &self.strict)
            .field("provisioning", &self.provisioning)
            .field("connection", &self.connection)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Which run.
#[derive(Debug)]
pub enum Mode {
    /// A one-shot sync into `--file`.
    Sync,
    /// A one-shot change.
    Change(Change),
    /// Service mode for ConductorOne.
    Service(ServiceOptions),
}

/// Parses the command line for `metadata`'s component (help, version and usage errors exit
/// here, as clap does); refuses combinations that cannot run.
pub fn parse(metadata: &Metadata, product: &Product) -> Result<Invocation> {
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
        None => Action::Run(Box::new(run(metadata, product, matches)?)),
    };
    Ok(Invocation { file, log_level, json_logs, action })
}

fn inspection(name: &str, sub: &ArgMatches) -> Inspection {
    let text = |arg: &str| sub.try_get_one::<String>(arg).ok().flatten().cloned();
    let format = output_format(sub);
    Inspection { command: name.to_string(), format, resource_type: text("resource-type"), entitlement: text("entitlement"), principal: text("principal") }
}

fn run(metadata: &Metadata, product: &Product, matches: &ArgMatches) -> Result<Run> {
    let service = service_requested(matches, &format!("{}/{}", product.name, product.version));
    let change = change_requested(matches);
    let mode = match (service, change) {
        (Some(_), Some(_)) => {
            return Err(anyhow!("one-shot provisioning flags cannot be combined with service mode (--client-id): ConductorOne sends the changes as tasks"));
        }
        (Some(options), None) => Mode::Service(options),
        (None, Some(change)) => Mode::Change(change),
        (None, None) => Mode::Sync,
    };
    Ok(Run {
        values: given_values(metadata, matches),
        limits: limits(matches),
        concurrency: concurrency(matches),
        strict: matches.get_flag("strict"),
        keep_previous_sync: matches.get_one::<bool>("keep-previous-sync").copied().unwrap_or(true),
        provisioning: matches.get_flag("provisioning"),
        connection: connection_flags(matches),
        mode,
    })
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
        .arg(
            Arg::new("log-level")
                .long("log-level")
                .env("BATON_LOG_LEVEL")
                .value_name("LEVEL")
                .global(true)
                .default_value("info")
                .value_parser(["debug", "info", "warn", "error"])
                .help("Log level"),
        )
        .arg(
            Arg::new("log-format")
                .long("log-format")
                .env("BATON_LOG_FORMAT")
                .value_name("FORMAT")
                .global(true)
                .value_parser(["json", "console"])
                .help("Log format [default: console on a terminal, json otherwise]"),
        )
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
            Arg::new("strict")
                .long("strict")
                .env("BATON_STRICT")
                .action(ArgAction::SetTrue)
                .value_parser(clap::builder::BoolishValueParser::new())
                .help("Fail a sync (keeping the previous file) when a grant names a principal the connector cannot find, instead of reporting it"),
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

fn connection_flags(matches: &ArgMatches) -> ConnectionFlags {
    let path = |name: &str| matches.get_one::<String>(name).filter(|v| !v.trim().is_empty()).map(PathBuf::from);
    ConnectionFlags {
        ca_file: path("ca-file"),
        proxy: matches.get_one::<String>("proxy").filter(|v| !v.trim().is_empty()).cloned(),
        client_cert: path("client-cert"),
        client_key: path("client-key"),
        no_reuse: matches.get_flag("no-connection-reuse"),
    }
}

/// How connections to the source are made.
fn connection_args(source: &str) -> Vec<Arg> {
    let heading = "Connection";
    let arg = |name: &'static str, env: &'static str, value: &'static str, help: String| {
        Arg::new(name).long(name).env(env).value_name(value).help_heading(heading).help(help)
    };
    vec![
        arg(
            "ca-file",
            "BATON_CA_FILE",
            "PATH",
            format!("CA certificates (PEM, one or more) to trust for {source}, besides the system's (SSL_CERT_FILE and SSL_CERT_DIR are honoured)"),
        ),
        arg(
            "proxy",
            "BATON_PROXY",
            "URL",
            format!("Proxy for every request to {source} (http://[user:password@]host:port), instead of HTTPS_PROXY, HTTP_PROXY and NO_PROXY"),
        )
        .hide_env_values(true),
        arg("client-cert", "BATON_CLIENT_CERT", "PATH", "Client certificate (PEM) for a server or reverse proxy that requires mutual TLS".into())
            .requires("client-key"),
        arg("client-key", "BATON_CLIENT_KEY", "PATH", "Private key (PEM) of --client-cert".into()).requires("client-cert"),
        Arg::new("no-connection-reuse")
            .long("no-connection-reuse")
            .action(ArgAction::SetTrue)
            .hide(true)
            .help("A new connection (and TLS handshake) for every request, as before pooling: the benchmark's baseline"),
    ]
}

fn concurrency(matches: &ArgMatches) -> usize {
    matches.get_one::<u64>("concurrency").copied().unwrap_or(DEFAULT_CONCURRENCY) as usize
}

fn limits(matches: &ArgMatches) -> Limits {
    let defaults = Limits::default();
    let seconds = |name: &str, default: Duration| matches.get_one::<u64>(name).map(|s| Duration::from_secs(*s)).unwrap_or(default);
    Limits {
        memory_bytes: matches.get_one::<u64>("max-memory-mb").map(|mb| (*mb as usize) << 20).unwrap_or(defaults.memory_bytes),
        cpu_per_call: seconds("max-cpu-seconds", defaults.cpu_per_call),
        wall_per_call: seconds("call-timeout-seconds", defaults.wall_per_call),
        cpu_per_run: seconds("max-run-cpu-seconds", defaults.cpu_per_run),
    }
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

/// `--cache-dir` and the registry login, read before the full parse (the component they pull
/// declares the other flags), each flag else its variable. [`registry_args`] declares them.
pub fn early_registry_options(args: &[String]) -> RegistryOptions {
    let value = |name: &str, env: &str| early_flag(args.iter().cloned(), name).or_else(|| std::env::var(env).ok()).filter(|v| !v.is_empty());
    RegistryOptions {
        cache_dir: value("cache-dir", "BATON_CACHE_DIR").map(PathBuf::from),
        login: RegistryLogin {
            username: value("registry-username", "BATON_REGISTRY_USERNAME"),
            password: value("registry-password", "BATON_REGISTRY_PASSWORD"),
        },
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
    ]
}

fn registry_options(matches: &ArgMatches) -> RegistryOptions {
    let value = |name: &str| matches.try_get_one::<String>(name).ok().flatten().cloned().filter(|v| !v.is_empty());
    RegistryOptions {
        cache_dir: value("cache-dir").map(PathBuf::from),
        login: RegistryLogin { username: value("registry-username"), password: value("registry-password") },
    }
}

/// One clap argument per declared field; secret values are never shown in help.
/// One flag per declared field. Which values are secret is the host's decision
/// ([`settings::withheld_fields`]); the origin field never takes a component's default: where
/// credentials go is only ever a value the operator gave.
fn schema_args(metadata: &Metadata) -> Vec<Arg> {
    let withheld = settings::withheld_fields(metadata);
    metadata.config.iter().map(|field| field_arg(field, withheld.contains(&field.name.as_str()), field.name == metadata.auth.origin_field)).collect()
}

fn field_arg(field: &ConfigField, secret: bool, is_origin: bool) -> Arg {
    let mut help = field.description.clone();
    if field.required {
        help.push_str(" (required)");
    }
    if secret {
        help.push_str(" (secret: give it as an environment variable or a mounted file, not a flag other users can see)");
    }
    let mut arg = Arg::new(field.name.clone())
        .long(field.name.clone())
        .env(settings::env_name(&field.name))
        .help(help)
        .action(ArgAction::Set)
        .hide_env_values(secret)
        .help_heading("Connector");
    arg = match field.kind {
        FieldKind::Boolean => arg.value_name("BOOL").value_parser(clap::builder::BoolishValueParser::new()).num_args(0..=1).default_missing_value("true"),
        FieldKind::Integer => arg.value_name("N").value_parser(clap::value_parser!(i64)),
        FieldKind::Url => arg.value_name("URL"),
        FieldKind::Text if !field.choices.is_empty() => arg.value_name("VALUE").value_parser(clap::builder::PossibleValuesParser::new(field.choices.clone())),
        FieldKind::Text => arg.value_name("VALUE"),
    };
    if let Some(default) = field.default_value.as_ref().filter(|_| !is_origin && !secret) {
        arg = arg.default_value(default.clone());
    }
    arg
}

/// A component may not declare a setting the host owns (`--file`, `--client-secret`, ...): it
/// would shadow the host's meaning, and two flags of one name cannot both be parsed.
fn check_no_collision(metadata: &Metadata, host: &Command) -> Result<()> {
    let taken: Vec<&str> = host.get_arguments().map(|a| a.get_id().as_str()).collect();
    let clashes: Vec<&str> = metadata.config.iter().map(|f| f.name.as_str()).filter(|name| taken.contains(name)).collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "the connector component declares {} which this program owns; the component cannot be used until it renames them",
        clashes.iter().map(|c| format!("--{c}")).collect::<Vec<_>>().join(", ")
    ))
}

/// What the user gave, field by field (only the set, non-empty ones).
fn given_values(metadata: &Metadata, matches: &ArgMatches) -> BTreeMap<String, String> {
    let mut given = BTreeMap::new();
    for field in &metadata.config {
        let value = match field.kind {
            FieldKind::Boolean => matches.get_one::<bool>(&field.name).map(|b| b.to_string()),
            FieldKind::Integer => matches.get_one::<i64>(&field.name).map(|i| i.to_string()),
            FieldKind::Text | FieldKind::Url => matches.get_one::<String>(&field.name).cloned(),
        };
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            given.insert(field.name.clone(), value);
        }
    }
    given
}

/// The provisioning flags (baton's names and environment variables); `source` is the
/// component's display name, for the help texts.
fn provisioning_args(metadata: &Metadata) -> Vec<Arg> {
    let source = metadata.display_name.as_str();
    let types: Vec<String> = metadata.capabilities.iter().map(|c| c.resource_type_id.clone()).collect();
    fn text(name: &'static str, help: impl Into<String>) -> Arg {
        Arg::new(name).long(name).env(settings::env_name(name)).value_name("ID").help(help.into()).help_heading("Provisioning")
    }
    vec![
        Arg::new("provisioning")
            .short('p')
            .long("provisioning")
            .env("BATON_PROVISIONING")
            .action(ArgAction::SetTrue)
            .value_parser(clap::builder::BoolishValueParser::new())
            .help_heading("Provisioning")
            .help(format!("Allow changes to {source} (without it, provisioning flags are refused and nothing is sent)")),
        text("grant-entitlement", "Grant this entitlement (from --file) ...").requires_all(["grant-principal", "grant-principal-type"]),
        text("grant-principal", "... to this principal id (from --file) ...").requires("grant-entitlement"),
        text("grant-principal-type", "... of this resource type (see the resource-types command)")
            .value_name("TYPE")
            .value_parser(clap::builder::PossibleValuesParser::new(types.clone()))
            .requires("grant-entitlement"),
        text("revoke-grant", "Revoke this grant (from --file)"),
        text("create-account-login", "Create an account with this login").value_name("LOGIN"),
        text("create-account-email", "Email of the account to create").value_name("EMAIL").requires("create-account-login"),
        text("create-account-profile", "Profile of the account to create, as a JSON object (full_name, ...)")
            .value_name("JSON")
            .requires("create-account-login"),
        text("delete-resource", format!("Not supported: deprovision in {source} directly")),
        text("delete-resource-type", format!("Not supported: deprovision in {source} directly"))
            .value_name("TYPE")
            .value_parser(clap::builder::PossibleValuesParser::new(types)),
    ]
}

/// Only one change per run.
fn one_shot_group() -> ArgGroup {
    ArgGroup::new("one-shot").args(["grant-entitlement", "revoke-grant", "create-account-login", "delete-resource"]).multiple(false)
}

/// The change asked for, if any.
fn change_requested(matches: &ArgMatches) -> Option<Change> {
    let text = |name: &str| matches.get_one::<String>(name).cloned();
    if let Some(entitlement) = text("grant-entitlement") {
        return Some(Change::Grant {
            entitlement,
            principal: text("grant-principal").unwrap_or_default(),
            principal_type: text("grant-principal-type").unwrap_or_default(),
        });
    }
    if let Some(grant) = text("revoke-grant") {
        return Some(Change::Revoke { grant });
    }
    if let Some(login) = text("create-account-login") {
        return Some(Change::CreateAccount { login, email: text("create-account-email"), profile: text("create-account-profile") });
    }
    text("delete-resource").or_else(|| text("delete-resource-type")).map(|resource| Change::Delete { resource })
}

/// The service-mode flags (baton's names and variables where baton has them).
fn service_args() -> Vec<Arg> {
    let heading = "Service mode (ConductorOne)";
    let text = |name: &'static str, env: &'static str, help: &'static str| Arg::new(name).long(name).env(env).help_heading(heading).help(help);
    vec![
        text("client-id", "BATON_CLIENT_ID", "ConductorOne client id: runs the connector in service mode").value_name("ID").requires("client-secret"),
        text("client-secret", "BATON_CLIENT_SECRET", "ConductorOne client secret").value_name("SECRET").hide_env_values(true).requires("client-id"),
        text("task-concurrency", "BATON_TASK_CONCURRENCY", "Tasks run at once in service mode")
            .value_name("N")
            .default_value("3")
            .value_parser(clap::value_parser!(u64).range(1..=32)),
        text("health-check", "BATON_HEALTH_CHECK", "Serve /healthz and /readyz for liveness and readiness probes")
            .action(ArgAction::SetTrue)
            .value_parser(clap::builder::BoolishValueParser::new()),
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
        text("c1-plaintext-loopback", "BATON_C1_PLAINTEXT_LOOPBACK", "Talk to a ConductorOne on 127.0.0.1 without TLS (tests only)")
            .action(ArgAction::SetTrue)
            .value_parser(clap::builder::BoolishValueParser::new())
            .hide(true),
    ]
}

/// The service options, if `--client-id` was given; `program` is `name/version` of this program.
fn service_requested(matches: &ArgMatches, program: &str) -> Option<ServiceOptions> {
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

/// `component push` or `component inspect`.
#[derive(Debug)]
pub enum ComponentCommand {
    Push(ComponentPush),
    Inspect(ComponentInspect),
    /// `component precompile [--component FILE]`.
    Precompile(Option<PathBuf>),
}

/// `component push ...` or `component inspect ...` when it is the command given (it must
/// come first).
pub fn component_command_requested(product: &Product) -> Result<Option<ComponentCommand>> {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.get(1).map(String::as_str) != Some("component") {
        return Ok(None);
    }
    let text = |name: &'static str, env: &'static str, help: &'static str| Arg::new(name).long(name).env(env).value_name("TEXT").help(help);
    let push = Command::new("push")
        .about("Push the connector component to an OCI registry as a WebAssembly artifact; prints the manifest digest")
        .arg(Arg::new("reference").required(true).value_name("oci://REGISTRY/REPOSITORY:TAG"))
        .arg(
            Arg::new("component")
                .long("component")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The component to push [default: the built-in one]"),
        )
        .args(registry_args().into_iter().filter(|arg| arg.get_id() != "cache-dir"))
        .arg(text("revision", "BATON_REVISION", "Source revision for the org.opencontainers.image.revision annotation"))
        .arg(text("source", "BATON_SOURCE", "Source repository URL for the org.opencontainers.image.source annotation"));
    let inspect = Command::new("inspect")
        .about("Describe a component without running it: digest, size, annotations, the baton:connector world it implements and its settings")
        .arg(Arg::new("reference").value_name("PATH | oci://REGISTRY/REPOSITORY:TAG | oci://...@sha256:DIGEST").help("[default: the built-in component]"))
        .args(registry_args())
        .arg(output_format_arg());
    let precompile = Command::new("precompile")
        .about("Compile the component for this machine and write it beside the component file (what `make image` ships, so the image starts without compiling)")
        .arg(
            Arg::new("component")
                .long("component")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The component file [default: the built-in one]"),
        );
    let command = Command::new("component")
        .bin_name(format!("{} component", product.name))
        .subcommand_required(true)
        .subcommand(push)
        .subcommand(inspect)
        .subcommand(precompile);
    let matches = match command.try_get_matches_from(&arguments[1..]) {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    let value = |matches: &ArgMatches, name: &str| matches.get_one::<String>(name).cloned();
    match matches.subcommand() {
        Some(("push", push)) => Ok(Some(ComponentCommand::Push(ComponentPush {
            reference: value(push, "reference").unwrap_or_default(),
            component: push.get_one::<PathBuf>("component").cloned(),
            login: registry_options(push).login,
            revision: value(push, "revision"),
            source: value(push, "source"),
        }))),
        Some(("inspect", inspect)) => Ok(Some(ComponentCommand::Inspect(ComponentInspect {
            reference: value(inspect, "reference"),
            registry: registry_options(inspect),
            format: output_format(inspect),
        }))),
        Some(("precompile", precompile)) => Ok(Some(ComponentCommand::Precompile(precompile.get_one::<PathBuf>("component").cloned()))),
        _ => bail!("unknown component command: try `component push`, `component inspect` or `component precompile`"),
    }
}

fn serve(matches: &ArgMatches) -> Result<Serve> {
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

fn serve_command(product: &Product) -> Command {
    let number = |name: &'static str, env: &'static str, default: &'static str, range: std::ops::RangeInclusive<u64>, help: &'static str| {
        Arg::new(name).long(name).env(env).value_name("N").default_value(default).value_parser(clap::value_parser!(u64).range(range)).help(help)
    };
    Command::new("serve")
        .bin_name(format!("{} serve", product.name))
        .version(product.version)
        .about("Run the connectors of many tenants side by side, each isolated, as a tenants file describes")
        .arg(Arg::new("tenants").long("tenants").env("BATON_TENANTS").value_name("FILE").required(true).help("The tenants file (TOML; see the README)"))
        .arg(
            Arg::new("once")
                .long("once")
                .env("BATON_ONCE")
                .action(ArgAction::SetTrue)
                .value_parser(clap::builder::BoolishValueParser::new())
                .help("Sync every tenant one time and exit (non-zero if any failed or was refused)"),
        )
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
        .arg(
            Arg::new("log-level")
                .long("log-level")
                .env("BATON_LOG_LEVEL")
                .value_name("LEVEL")
                .default_value("info")
                .value_parser(["debug", "info", "warn", "error"])
                .help("Log level"),
        )
        .arg(
            Arg::new("log-format")
                .long("log-format")
                .env("BATON_LOG_FORMAT")
                .value_name("FORMAT")
                .value_parser(["json", "console"])
                .help("Log format [default: console on a terminal, json otherwise]"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let options = ServiceOptions {
            client_id: "c@t.example/pcc".into(),
            client_secret: "secret-token:canary".into(),
            api_host: None,
            ca_file: None,
            plaintext_loopback: false,
            host_id: None,
            health_check: None,
            task_concurrency: 1,
            grace: Duration::from_secs(1),
            provisioning: false,
            program: "p/1".into(),
        };
        let run = Run {
            values: BTreeMap::from([("access-token".to_string(), "canary-token".to_string())]),
            limits: Limits::default(),
            concurrency: 1,
            strict: false,
            keep_previous_sync: true,
            provisioning: false,
            connection: ConnectionFlags { proxy: Some("http://u:canary@proxy:3128".into()), ..Default::default() },
            mode: Mode::Service(options),
        };
        let shown = format!("{run:?}");
        assert!(!shown.contains("canary") && shown.contains("access-token"), "{shown}");
    }

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
