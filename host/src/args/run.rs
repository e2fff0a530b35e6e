//! The flags of a one-shot run against the source (a sync or one change): the component's
//! declared schema, provisioning, connections, concurrency and the sandbox's limits.

use super::service::service_requested;
use super::switch;
use crate::limits::DEFAULT_CONCURRENCY;
use crate::limits::RunLimits;
use crate::outbound::ConnectionFlags;
use crate::product::Product;
use crate::provision::Change;
use crate::service::ServiceOptions;
use crate::settings;
use anyhow::{Result, anyhow};
use baton_sandbox::Limits;
use baton_sandbox::wit::{ConfigField, FieldKind, Metadata};
use baton_sync::Budgets;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A run against the source. Its `Debug` names the settings given, never their values.
pub struct Run {
    /// The component's settings as given (set, non-empty values only), before resolution.
    pub values: BTreeMap<String, String>,
    /// Every limit the run's work runs under.
    pub limits: RunLimits,
    /// `--strict`: a principal no lookup finds fails the sync.
    pub strict: bool,
    /// `--keep-previous-sync`: a one-shot sync keeps the replaced file's latest sync beside it.
    pub keep_previous_sync: bool,
    /// `--provisioning`: changes are allowed.
    pub provisioning: bool,
    /// `--lock-wait-seconds`: how long a sync waits for another writing the same file.
    pub lock_wait: Duration,
    /// How connections to the source are made: trust, proxy, client certificate.
    pub connection: ConnectionFlags,
    pub mode: Mode,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("settings_given", &self.values.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
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

pub(super) fn run(metadata: &Metadata, product: &Product, matches: &ArgMatches) -> Result<Run> {
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
        limits: RunLimits { instance: limits(matches), budgets: budgets(matches), concurrency: concurrency(matches), ..RunLimits::default() },
        strict: matches.get_flag("strict"),
        keep_previous_sync: matches.get_one::<bool>("keep-previous-sync").copied().unwrap_or(true),
        provisioning: matches.get_flag("provisioning"),
        lock_wait: Duration::from_secs(matches.get_one::<u64>("lock-wait-seconds").copied().unwrap_or(0)),
        connection: connection_flags(matches),
        mode,
    })
}

pub(super) fn connection_flags(matches: &ArgMatches) -> ConnectionFlags {
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
pub(super) fn connection_args(source: &str) -> Vec<Arg> {
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

pub(super) fn concurrency(matches: &ArgMatches) -> usize {
    matches.get_one::<u64>("concurrency").copied().unwrap_or(DEFAULT_CONCURRENCY) as usize
}

pub(super) fn limits(matches: &ArgMatches) -> Limits {
    let defaults = Limits::default();
    let seconds = |name: &str, default: Duration| matches.get_one::<u64>(name).map(|s| Duration::from_secs(*s)).unwrap_or(default);
    Limits {
        memory_bytes: matches.get_one::<u64>("max-memory-mb").map(|mb| (*mb as usize) << 20).unwrap_or(defaults.memory_bytes),
        cpu_per_call: seconds("max-cpu-seconds", defaults.cpu_per_call),
        wall_per_call: seconds("call-timeout-seconds", defaults.wall_per_call),
        cpu_per_run: seconds("max-run-cpu-seconds", defaults.cpu_per_run),
        call_bytes: matches.get_one::<u64>("max-call-mb").map(|mb| (*mb as usize) << 20).unwrap_or(defaults.call_bytes),
    }
}

pub(super) fn budgets(matches: &ArgMatches) -> Budgets {
    let defaults = Budgets::default();
    let mib = |name: &str, default: u64| matches.get_one::<u64>(name).map(|mb| mb.saturating_mul(1 << 20)).unwrap_or(default);
    Budgets {
        resource_bytes: mib("max-resource-mb", defaults.resource_bytes),
        sync_rows: matches.get_one::<u64>("max-sync-rows").copied().unwrap_or(defaults.sync_rows),
        sync_bytes: mib("max-sync-mb", defaults.sync_bytes),
    }
}

/// One clap argument per declared field; secret values are never shown in help.
/// One flag per declared field. Which values are secret is the host's decision
/// ([`settings::withheld_fields`]); the origin field never takes a component's default: where
/// credentials go is only ever a value the operator gave.
pub(super) fn schema_args(metadata: &Metadata) -> Vec<Arg> {
    let withheld = settings::withheld_fields(metadata);
    metadata.config.iter().map(|field| field_arg(field, withheld.contains(&field.name.as_str()), field.name == metadata.auth.origin_field)).collect()
}

pub(super) fn field_arg(field: &ConfigField, secret: bool, is_origin: bool) -> Arg {
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
pub(super) fn check_no_collision(metadata: &Metadata, host: &Command) -> Result<()> {
    let taken: Vec<String> = host.get_arguments().map(|a| a.get_id().as_str().to_ascii_lowercase()).collect();
    let taken_env: Vec<String> = host.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().to_ascii_uppercase()).collect();
    let clashes: Vec<&str> = metadata
        .config
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| taken.contains(&name.to_ascii_lowercase()) || taken_env.contains(&settings::env_name(name)))
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "the connector component declares {} which this program owns; the component cannot be used until it renames them",
        clashes.iter().map(|c| format!("--{c}")).collect::<Vec<_>>().join(", ")
    ))
}

/// What the user gave, field by field (only the set, non-empty ones).
pub(super) fn given_values(metadata: &Metadata, matches: &ArgMatches) -> BTreeMap<String, String> {
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
pub(super) fn provisioning_args(metadata: &Metadata) -> Vec<Arg> {
    let source = metadata.display_name.as_str();
    let types: Vec<String> = metadata.capabilities.iter().map(|c| c.resource_type_id.clone()).collect();
    fn text(name: &'static str, help: impl Into<String>) -> Arg {
        Arg::new(name).long(name).env(settings::env_name(name)).value_name("ID").help(help.into()).help_heading("Provisioning")
    }
    vec![
        switch("provisioning", "BATON_PROVISIONING")
            .short('p')
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
pub(super) fn one_shot_group() -> ArgGroup {
    ArgGroup::new("one-shot").args(["grant-entitlement", "revoke-grant", "create-account-login", "delete-resource"]).multiple(false)
}

/// The change asked for, if any.
pub(super) fn change_requested(matches: &ArgMatches) -> Option<Change> {
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
            limits: RunLimits { concurrency: 1, ..RunLimits::default() },
            strict: false,
            keep_previous_sync: true,
            provisioning: false,
            lock_wait: Duration::ZERO,
            connection: ConnectionFlags { proxy: Some("http://u:canary@proxy:3128".into()), ..Default::default() },
            mode: Mode::Service(options),
        };
        let shown = format!("{run:?}");
        assert!(!shown.contains("canary") && shown.contains("access-token"), "{shown}");
    }
}
