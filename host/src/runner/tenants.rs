//! The tenants file of `serve --tenants FILE`: where outputs go, how many syncs run at once,
//! and per tenant its component, interval, configuration, where each secret comes from, its
//! limits and connection settings, and optionally its ConductorOne credentials. One invalid
//! tenant is refused with a message naming it and the field; the others still run. Secrets are
//! read only when a tenant runs, and never appear in a message.

use super::policy::{Policy, Subject};
use crate::limits::RunLimits;
use crate::outbound::ConnectionFlags;
use anyhow::{anyhow, bail};
use baton_sandbox::Limits;
use baton_sandbox::wit::{FieldKind, Metadata};
use baton_sync::Budgets;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file, checked.
#[derive(Debug)]
pub struct Tenants {
    /// `<output_dir>/<tenant>/sync.c1z`.
    pub output_dir: PathBuf,
    pub max_concurrent_syncs: usize,
    /// Files kept per tenant: the newest `sync.c1z` and up to `keep_last - 1` earlier ones.
    pub keep_last: usize,
    /// The process's memory budget (`max_memory_mb`), if the file sets one.
    pub max_memory_mb: Option<u64>,
    pub tenants: Vec<Tenant>,
    /// Tenants that cannot run as written, and why.
    pub refused: Vec<Refusal>,
}

/// A tenant refused, and what to fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub tenant: String,
    pub reason: String,
}

/// One tenant as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub component: ComponentSource,
    pub interval: Duration,
    /// Non-secret settings of the component's schema, as text.
    pub config: BTreeMap<String, String>,
    /// Where each secret setting's value comes from.
    pub secrets: BTreeMap<String, SecretSource>,
    pub limits: TenantLimits,
    pub connection: ConnectionSettings,
    /// ConductorOne client credentials: the tenant runs in service mode.
    pub c1: Option<C1Credentials>,
    /// The cosign public key its registry component must be signed for (its own, else the
    /// file's `verify_key`).
    pub verify_key: Option<PathBuf>,
}

/// Which component a tenant runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ComponentSource {
    /// The one shipped with this program.
    Builtin,
    /// A `.wasm` file.
    File(PathBuf),
    /// An `oci://` reference, pulled through the cache.
    Registry(String),
}

/// Where a secret comes from: an environment variable of this process, or a file (a mounted
/// Secret; one trailing newline is dropped).
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A tenant's caps; unset ones take the program's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantLimits {
    pub memory_mb: Option<u64>,
    pub cpu_seconds_per_call: Option<u64>,
    pub call_timeout_seconds: Option<u64>,
    pub concurrency: Option<usize>,
    pub requests_per_second: Option<f64>,
    pub max_call_mb: Option<u64>,
    pub max_resource_mb: Option<u64>,
    pub max_sync_rows: Option<u64>,
    pub max_sync_mb: Option<u64>,
    pub cpu_seconds_per_run: Option<u64>,
    pub cpu_weight: Option<u32>,
    pub max_disk_mb: Option<u64>,
}

/// What a tenant's instance may hold when its limits do not say: less than a one-shot run's
/// (which has the machine), since the runner admits syncs by what they may claim
/// (`runner::memory`). The Confluence component's instances held 1.4 MiB each on a
/// 100,000-membership site.
const TENANT_MEMORY_MB: u64 = 64;
const TENANT_CALL_MB: u64 = 16;
const TENANT_RESOURCE_MB: u64 = 64;
/// What a tenant's folder may hold when its limits do not say: a 1M-membership sync writes a
/// scratch database of about 1 GiB.
const TENANT_DISK_MB: u64 = 16 << 10;

impl Tenant {
    /// What the file's `[policy]` judges of this tenant.
    fn policy_subject(&self) -> Subject<'_> {
        match &self.component {
            ComponentSource::Builtin => Subject::Builtin,
            ComponentSource::File(path) => Subject::File(path),
            ComponentSource::Registry(reference) => Subject::Registry { reference, has_key: self.verify_key.is_some() },
        }
    }
}

impl TenantLimits {
    /// Every limit of the tenant's work, unset ones the defaults (a tenant's own for what an
    /// instance may hold), its concurrency at most `max_instances` (the runner's).
    pub fn resolve(&self, max_instances: usize) -> RunLimits {
        let defaults = RunLimits::default();
        let (instance, budgets) = (&defaults.instance, &defaults.budgets);
        let mib = |value: Option<u64>, default: u64| value.map(|mb| mb.saturating_mul(1 << 20)).unwrap_or(default);
        let seconds = |value: Option<u64>, default: Duration| value.map(Duration::from_secs).unwrap_or(default);
        RunLimits {
            instance: Limits {
                memory_bytes: mib(self.memory_mb, TENANT_MEMORY_MB << 20) as usize,
                cpu_per_call: seconds(self.cpu_seconds_per_call, instance.cpu_per_call),
                wall_per_call: seconds(self.call_timeout_seconds, instance.wall_per_call),
                cpu_per_run: seconds(self.cpu_seconds_per_run, instance.cpu_per_run),
                call_bytes: mib(self.max_call_mb, TENANT_CALL_MB << 20) as usize,
            },
            budgets: Budgets {
                resource_bytes: mib(self.max_resource_mb, TENANT_RESOURCE_MB << 20),
                sync_rows: self.max_sync_rows.unwrap_or(budgets.sync_rows),
                sync_bytes: mib(self.max_sync_mb, budgets.sync_bytes),
            },
            concurrency: self.concurrency.unwrap_or(defaults.concurrency).clamp(1, max_instances.max(1)),
            requests_per_second: self.requests_per_second,
            cpu_weight: self.cpu_weight.unwrap_or(defaults.cpu_weight),
            folder_bytes: Some(mib(self.max_disk_mb, TENANT_DISK_MB << 20)),
        }
    }
}

/// How this tenant's connections are made (see [`ConnectionFlags`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionSettings {
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<SecretSource>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// ConductorOne client credentials of a tenant, and how its service mode runs.
#[derive(Debug, Clone, PartialEq)]
pub struct C1Credentials {
    pub client_id: String,
    pub client_secret: SecretSource,
    /// ConductorOne `host[:port]` instead of the one the client id names.
    pub api_host: Option<String>,
    /// Extra CA certificates (PEM) to trust for ConductorOne.
    pub ca_file: Option<PathBuf>,
    /// Provisioning tasks are carried out (off: refused).
    pub provisioning: bool,
    pub task_concurrency: usize,
    /// Plain text to a ConductorOne on loopback (tests only).
    pub plaintext_loopback: bool,
}

/// The most syncs a file may ask to run at once.
pub const MAX_CONCURRENT_SYNCS: usize = 256;
/// The shortest interval between two syncs of one tenant, unless the file's
/// `shortest_interval` lowers it (for a test server, a soak run).
const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The least `shortest_interval` may be.
const LEAST_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    output_dir: PathBuf,
    #[serde(default = "default_concurrent_syncs")]
    max_concurrent_syncs: usize,
    #[serde(default = "default_keep_last")]
    keep_last: usize,
    max_memory_mb: Option<u64>,
    verify_key: Option<PathBuf>,
    policy: Option<Policy>,
    shortest_interval: Option<String>,
    #[serde(default)]
    tenant: Vec<toml::Table>,
}

fn default_concurrent_syncs() -> usize {
    4
}

fn default_keep_last() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantText {
    name: String,
    #[serde(default = "builtin")]
    component: String,
    interval: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secrets: BTreeMap<String, SourceText>,
    #[serde(default)]
    limits: LimitsText,
    #[serde(default)]
    connection: ConnectionText,
    c1: Option<C1Text>,
    verify_key: Option<PathBuf>,
}

fn builtin() -> String {
    "builtin".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceText {
    env: Option<String>,
    file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsText {
    memory_mb: Option<u64>,
    cpu_seconds_per_call: Option<u64>,
    call_timeout_seconds: Option<u64>,
    concurrency: Option<usize>,
    requests_per_second: Option<f64>,
    max_call_mb: Option<u64>,
    max_resource_mb: Option<u64>,
    max_sync_rows: Option<u64>,
    max_sync_mb: Option<u64>,
    cpu_seconds_per_run: Option<u64>,
    cpu_weight: Option<u32>,
    max_disk_mb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConnectionText {
    ca_file: Option<PathBuf>,
    proxy: Option<SourceText>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct C1Text {
    client_id: String,
    client_secret: SourceText,
    api_host: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    provisioning: bool,
    task_concurrency: Option<usize>,
    #[serde(default)]
    plaintext_loopback: bool,
}

/// Reads and checks the file at `path`; relative paths in it are taken from its folder. An
/// error here (unreadable, not TOML, a bad top-level field) stops everything; a bad tenant
/// only refuses that tenant.
pub fn load(path: &Path) -> anyhow::Result<Tenants> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read the tenants file {}: {e}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|why| anyhow!("the tenants file {} is not usable: {why}", path.display()))
}

/// [`load`] on `text`, relative paths from `base`.
pub fn parse(text: &str, base: &Path) -> anyhow::Result<Tenants> {
    let file: FileText = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    if !(1..=MAX_CONCURRENT_SYNCS).contains(&file.max_concurrent_syncs) {
        bail!("max_concurrent_syncs must be between 1 and {MAX_CONCURRENT_SYNCS}");
    }
    if file.max_memory_mb.is_some_and(|mb| !(16..=1 << 24).contains(&mb)) {
        bail!("max_memory_mb must be between 16 and {}", 1u64 << 24);
    }
    if file.keep_last == 0 {
        bail!("keep_last must be at least 1 (the newest file)");
    }
    let shortest = shortest_interval(file.shortest_interval.as_deref())?;
    let mut tenants: Vec<Tenant> = Vec::new();
    let mut refused = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, table) in file.tenant.into_iter().enumerate() {
        let label = table.get("name").and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(|| format!("#{} (no name)", index + 1));
        match tenant(table, base, shortest) {
            Ok(tenant) if !seen.insert(tenant.name.clone()) => {
                refused.push(Refusal { tenant: label, reason: "name: another tenant already has this name; names must be unique".into() })
            }
            Ok(mut tenant) => {
                tenant.verify_key = tenant.verify_key.or_else(|| file.verify_key.as_ref().map(|key| base.join(key)));
                match file.policy.as_ref().and_then(|policy| policy.refusal(tenant.policy_subject())) {
                    Some(reason) => refused.push(Refusal { tenant: label, reason }),
                    None => tenants.push(tenant),
                }
            }
            Err(reason) => refused.push(Refusal { tenant: label, reason }),
        }
    }
    Ok(Tenants {
        output_dir: base.join(file.output_dir),
        max_concurrent_syncs: file.max_concurrent_syncs,
        keep_last: file.keep_last,
        max_memory_mb: file.max_memory_mb,
        tenants,
        refused,
    })
}

/// The file's `shortest_interval`, or one minute.
fn shortest_interval(given: Option<&str>) -> anyhow::Result<Duration> {
    let Some(given) = given else { return Ok(MIN_INTERVAL) };
    let interval = humantime::parse_duration(given).map_err(|e| anyhow!("shortest_interval: {e} (write it like \"1m\" or \"5s\")"))?;
    if interval < LEAST_INTERVAL {
        bail!("shortest_interval: {given} is less than 100ms");
    }
    Ok(interval)
}

fn tenant(table: toml::Table, base: &Path, shortest: Duration) -> Result<Tenant, String> {
    let text: TenantText = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.message().to_string())?;
    check_name(&text.name)?;
    let component = match text.component.as_str() {
        "builtin" => ComponentSource::Builtin,
        oci if crate::registry::is_reference(oci) => {
            crate::registry::check_reference(oci).map_err(|e| format!("component: {e}"))?;
            ComponentSource::Registry(oci.to_string())
        }
        path => ComponentSource::File(base.join(path)),
    };
    let interval = match &text.interval {
        None => DEFAULT_INTERVAL,
        Some(given) => {
            let interval = humantime::parse_duration(given).map_err(|e| format!("interval: {e} (write it like \"6h\", \"30m\" or \"1h 30m\")"))?;
            if interval < shortest {
                return Err(format!(
                    "interval: {given} is shorter than the shortest allowed, {} (the file's shortest_interval)",
                    humantime::format_duration(shortest)
                ));
            }
            interval
        }
    };
    let config = text.config.into_iter().map(|(name, value)| Ok((name.clone(), config_text(&name, value)?))).collect::<Result<_, String>>()?;
    let secrets = text
        .secrets
        .into_iter()
        .map(|(name, source)| Ok((name.clone(), source_of(&format!("secrets.{name}"), source, base)?)))
        .collect::<Result<_, String>>()?;
    let limits = limits(text.limits)?;
    let connection = ConnectionSettings {
        ca_file: text.connection.ca_file.map(|p| base.join(p)),
        proxy: text.connection.proxy.map(|source| source_of("connection.proxy", source, base)).transpose()?,
        client_cert: text.connection.client_cert.map(|p| base.join(p)),
        client_key: text.connection.client_key.map(|p| base.join(p)),
    };
    if connection.client_cert.is_some() != connection.client_key.is_some() {
        return Err("connection: client_cert and client_key go together: give both or neither".into());
    }
    let c1 = text.c1.map(|c1| c1_credentials(c1, base)).transpose()?;
    let verify_key = text.verify_key.map(|key| base.join(key));
    Ok(Tenant { name: text.name, component, interval, config, secrets, limits, connection, c1, verify_key })
}

fn c1_credentials(c1: C1Text, base: &Path) -> Result<C1Credentials, String> {
    let task_concurrency = c1.task_concurrency.unwrap_or(3);
    if !(1..=32).contains(&task_concurrency) {
        return Err(format!("c1.task_concurrency: {task_concurrency} is outside 1..=32"));
    }
    Ok(C1Credentials {
        client_id: c1.client_id,
        client_secret: source_of("c1.client_secret", c1.client_secret, base)?,
        api_host: c1.api_host,
        ca_file: c1.ca_file.map(|p| base.join(p)),
        provisioning: c1.provisioning,
        task_concurrency,
        plaintext_loopback: c1.plaintext_loopback,
    })
}

/// Names become folder names and log labels: `[a-z0-9-]`, 1 to 63 characters, no `-` at
/// either end.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if name.is_empty() || name.len() > 63 || !name.chars().all(allowed) || name.starts_with('-') || name.ends_with('-') {
        return Err(format!("name: {name:?} is not a usable name: use 1 to 63 of a-z, 0-9 and -, not starting or ending with -"));
    }
    Ok(())
}

fn config_text(name: &str, value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        other => Err(format!("config.{name}: a {} cannot be a setting; give a string, an integer or a boolean", other.type_str())),
    }
}

fn source_of(field: &str, source: SourceText, base: &Path) -> Result<SecretSource, String> {
    match (source.env, source.file) {
        (Some(env), None) if !env.trim().is_empty() => Ok(SecretSource::Env(env)),
        (None, Some(file)) => Ok(SecretSource::File(base.join(file))),
        _ => Err(format!("{field}: say where the value comes from with exactly one of {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }}")),
    }
}

fn limits(text: LimitsText) -> Result<TenantLimits, String> {
    let in_range = |name: &str, value: Option<u64>, low: u64, high: u64| match value {
        Some(v) if !(low..=high).contains(&v) => Err(format!("limits.{name}: {v} is outside {low}..={high}")),
        _ => Ok(()),
    };
    in_range("memory_mb", text.memory_mb, 16, 65536)?;
    in_range("cpu_seconds_per_call", text.cpu_seconds_per_call, 1, 86400)?;
    in_range("call_timeout_seconds", text.call_timeout_seconds, 1, 86400)?;
    in_range("concurrency", text.concurrency.map(|c| c as u64), 1, 64)?;
    in_range("max_call_mb", text.max_call_mb, 1, 4096)?;
    in_range("max_resource_mb", text.max_resource_mb, 1, 65536)?;
    in_range("max_sync_rows", text.max_sync_rows, 1, u64::MAX)?;
    in_range("max_sync_mb", text.max_sync_mb, 1, 1 << 30)?;
    in_range("cpu_seconds_per_run", text.cpu_seconds_per_run, 1, 604800)?;
    in_range("cpu_weight", text.cpu_weight.map(u64::from), 1, 100)?;
    in_range("max_disk_mb", text.max_disk_mb, 1, 1 << 30)?;
    if let Some(rate) = text.requests_per_second.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(format!("limits.requests_per_second: {rate} is not a positive number"));
    }
    Ok(TenantLimits {
        memory_mb: text.memory_mb,
        cpu_seconds_per_call: text.cpu_seconds_per_call,
        call_timeout_seconds: text.call_timeout_seconds,
        concurrency: text.concurrency,
        requests_per_second: text.requests_per_second,
        max_call_mb: text.max_call_mb,
        max_resource_mb: text.max_resource_mb,
        max_sync_rows: text.max_sync_rows,
        max_sync_mb: text.max_sync_mb,
        cpu_seconds_per_run: text.cpu_seconds_per_run,
        cpu_weight: text.cpu_weight,
        max_disk_mb: text.max_disk_mb,
    })
}

impl Tenant {
    /// The component's settings for this tenant, secrets read now, checked against the
    /// component's declared schema: every name must be one it declares, secrets only in
    /// `[tenant.secrets]` and nothing there the component would read, values of the declared kind.
    pub fn values(&self, metadata: &Metadata) -> anyhow::Result<BTreeMap<String, String>> {
        let withheld = crate::settings::withheld_fields(metadata);
        let declared = |name: &str| metadata.config.iter().find(|f| f.name == name);
        let known = || metadata.config.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
        let mut values = BTreeMap::new();
        for (name, value) in &self.config {
            let Some(field) = declared(name) else { bail!("config.{name}: the component has no such setting (it has: {})", known()) };
            if withheld.contains(&name.as_str()) {
                bail!("config.{name}: is a secret; give it in [tenant.secrets] as {{ env = \"VARIABLE\" }} or {{ file = \"/path\" }}");
            }
            check_kind(name, field.kind, value).map_err(|why| anyhow!(why))?;
            values.insert(name.clone(), value.clone());
        }
        for (name, source) in &self.secrets {
            if declared(name).is_none() {
                bail!("secrets.{name}: the component has no such setting (it has: {})", known());
            }
            if values.contains_key(name) {
                bail!("secrets.{name}: is also in [tenant.config]; give it once");
            }
            if !withheld.contains(&name.as_str()) {
                // The operator decides what is secret: a field the component would read is not
                // one, whatever it is called, so its value is never handed over unasked.
                bail!(
                    "secrets.{name}: the component declares it a plain setting and would read its value; give it in [tenant.config] if the component may see it"
                );
            }
            values.insert(name.clone(), read_secret(&format!("secrets.{name}"), source)?);
        }
        values.retain(|_, value| !value.trim().is_empty());
        Ok(values)
    }

    /// The connection settings as the program's flags would give them; the proxy URL (which
    /// may carry a password) read now.
    pub fn connection_flags(&self) -> anyhow::Result<ConnectionFlags> {
        let connection = &self.connection;
        Ok(ConnectionFlags {
            ca_file: connection.ca_file.clone(),
            proxy: connection.proxy.as_ref().map(|source| read_secret("connection.proxy", source)).transpose()?,
            client_cert: connection.client_cert.clone(),
            client_key: connection.client_key.clone(),
            no_reuse: false,
        })
    }
}

fn check_kind(name: &str, kind: FieldKind, value: &str) -> Result<(), String> {
    let fits = match kind {
        FieldKind::Integer => value.trim().parse::<i64>().is_ok(),
        FieldKind::Boolean => ["true", "false"].contains(&value.trim()),
        FieldKind::Text | FieldKind::Url => true,
    };
    if fits { Ok(()) } else { Err(format!("config.{name}: {value:?} is not {}", if kind == FieldKind::Integer { "an integer" } else { "true or false" })) }
}

/// The value behind `source`, or what is wrong with it (never the value itself).
pub fn read_secret(field: &str, source: &SecretSource) -> anyhow::Result<String> {
    let value = match source {
        SecretSource::Env(variable) => std::env::var(variable).map_err(|_| anyhow!("{field}: the environment variable {variable} is not set"))?,
        SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| anyhow!("{field}: cannot read {}: {e}", path.display()))?,
    };
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value).to_string();
    crate::secrets::note(&value);
    if value.trim().is_empty() {
        bail!("{field}: the value is empty");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sandbox::wit::{Auth, AuthScheme, ConfigField};

    const GOOD: &str = r#"
output_dir = "out"
max_concurrent_syncs = 2
keep_last = 3

[[tenant]]
name = "acme"
interval = "6h"
[tenant.config]
hostname = "https://wiki.acme.example"
page-size = 50
[tenant.secrets]
access-token = { env = "ACME_TOKEN" }
[tenant.limits]
memory_mb = 128
requests_per_second = 2.5
max_resource_mb = 64
max_sync_rows = 100000

[[tenant]]
name = "globex"
component = "components/other.wasm"
[tenant.config]
hostname = "https://wiki.globex.example"
[tenant.secrets]
access-token = { file = "secrets/globex" }
[tenant.c1]
client_id = "id@globex.conductor.one/pcc"
client_secret = { env = "GLOBEX_C1_SECRET" }
"#;

    fn metadata() -> Metadata {
        let field = |name: &str, kind: FieldKind, secret: bool| ConfigField {
            name: name.into(),
            description: String::new(),
            kind,
            required: false,
            secret,
            default_value: None,
            choices: Vec::new(),
        };
        Metadata {
            display_name: "Test".into(),
            description: String::new(),
            config: vec![field("hostname", FieldKind::Url, false), field("page-size", FieldKind::Integer, false), field("access-token", FieldKind::Text, true)],
            rules: vec![],
            auth: Auth { origin_field: "hostname".into(), schemes: vec![AuthScheme::Bearer("access-token".into())] },
            capabilities: vec![],
            egress: vec![],
        }
    }

    #[test]
    fn a_good_file_reads_whole() {
        let tenants = parse(GOOD, Path::new("/etc/baton")).unwrap();
        assert_eq!(tenants.output_dir, PathBuf::from("/etc/baton/out"));
        assert_eq!((tenants.max_concurrent_syncs, tenants.keep_last), (2, 3));
        assert!(tenants.refused.is_empty(), "{:?}", tenants.refused);
        let [acme, globex] = &tenants.tenants[..] else { panic!("two tenants") };
        assert_eq!(acme.component, ComponentSource::Builtin);
        assert_eq!(acme.interval, Duration::from_secs(6 * 3600));
        assert_eq!(acme.config["page-size"], "50");
        assert_eq!(acme.secrets["access-token"], SecretSource::Env("ACME_TOKEN".into()));
        assert_eq!(acme.limits.memory_mb, Some(128));
        assert_eq!(acme.limits.requests_per_second, Some(2.5));
        let limits = acme.limits.resolve(64);
        assert_eq!(limits.budgets, Budgets { resource_bytes: 64 << 20, sync_rows: 100_000, sync_bytes: Budgets::default().sync_bytes });
        assert_eq!((limits.instance.memory_bytes, limits.requests_per_second, limits.cpu_weight), (128 << 20, Some(2.5), crate::limits::DEFAULT_CPU_WEIGHT));
        assert_eq!(limits.instance.cpu_per_call, Limits::default().cpu_per_call, "unset: the default");
        assert_eq!(limits.instance.call_bytes, 16 << 20, "unset: a tenant's default");
        let unset = TenantLimits::default().resolve(64);
        assert_eq!((unset.instance.memory_bytes, unset.budgets.resource_bytes), (64 << 20, 64 << 20));
        assert_eq!(globex.component, ComponentSource::File("/etc/baton/components/other.wasm".into()));
        assert_eq!(globex.secrets["access-token"], SecretSource::File("/etc/baton/secrets/globex".into()));
        assert_eq!(globex.c1.as_ref().unwrap().client_secret, SecretSource::Env("GLOBEX_C1_SECRET".into()));
        assert_eq!(globex.interval, DEFAULT_INTERVAL);
    }

    #[test]
    fn a_bad_tenant_is_refused_by_name_and_field_and_the_others_stay() {
        let cases = [
            ("name = \"Bad_Name\"", "Bad_Name", "name:"),
            ("name = \"t\"\ncolour = \"blue\"", "t", "unknown field `colour`"),
            ("name = \"t\"\ninterval = \"soon\"", "t", "interval:"),
            ("name = \"t\"\ninterval = \"10s\"", "t", "shorter than"),
            ("name = \"t\"\n[tenant.secrets]\naccess-token = { env = \"A\", file = \"b\" }", "t", "secrets.access-token: say where"),
            ("name = \"t\"\n[tenant.limits]\nmemory_mb = 1", "t", "limits.memory_mb"),
            ("name = \"t\"\n[tenant.limits]\nrequests_per_second = -1.0", "t", "limits.requests_per_second"),
            ("name = \"t\"\n[tenant.limits]\nmax_sync_rows = 0", "t", "limits.max_sync_rows"),
            ("name = \"t\"\n[tenant.limits]\nmax_call_mb = 5000", "t", "limits.max_call_mb"),
            ("name = \"t\"\n[tenant.config]\nnested = { a = 1 }", "t", "config.nested"),
            ("name = \"t\"\ncomponent = \"oci://Bad Name\"", "t", "component: \"oci://Bad Name\" is not a registry reference"),
            ("interval = \"1h\"", "#2 (no name)", "missing field `name`"),
        ];
        for (body, tenant, why) in cases {
            let text = format!("output_dir = \"o\"\n[[tenant]]\nname = \"fine\"\n[[tenant]]\n{body}\n");
            let tenants = parse(&text, Path::new(".")).unwrap();
            assert_eq!(tenants.tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["fine"], "{body}");
            let [refusal] = &tenants.refused[..] else { panic!("{body}: one refusal, got {:?}", tenants.refused) };
            assert_eq!(refusal.tenant, tenant, "{body}");
            assert!(refusal.reason.contains(why), "{body}: {}", refusal.reason);
        }
    }

    #[test]
    fn the_file_may_lower_the_shortest_interval_but_not_below_a_tenth_of_a_second() {
        let file = |shortest: &str| format!("output_dir = \"o\"\nshortest_interval = \"{shortest}\"\n[[tenant]]\nname = \"t\"\ninterval = \"2s\"\n");
        let tenants = parse(&file("1s"), Path::new(".")).unwrap();
        assert_eq!(tenants.tenants[0].interval, Duration::from_secs(2));
        let refused = parse(&file("5s"), Path::new(".")).unwrap();
        assert!(refused.tenants.is_empty() && refused.refused[0].reason.contains("shorter than the shortest allowed, 5s"), "{:?}", refused.refused);
        let error = parse(&file("10ms"), Path::new(".")).unwrap_err().to_string();
        assert!(error.contains("shortest_interval: 10ms is less than 100ms"), "{error}");
    }

    #[test]
    fn a_registry_component_is_kept_as_written() {
        let reference = format!("oci://127.0.0.1:5000/baton/c@sha256:{}", "0a".repeat(32));
        let text = format!("output_dir = \"o\"\n[[tenant]]\nname = \"t\"\ncomponent = \"{reference}\"\n");
        let tenants = parse(&text, Path::new("/etc/baton")).unwrap();
        assert_eq!(tenants.tenants[0].component, ComponentSource::Registry(reference));
    }

    #[test]
    fn names_are_unique() {
        let tenants = parse("output_dir = \"o\"\n[[tenant]]\nname = \"a\"\n[[tenant]]\nname = \"a\"\n", Path::new(".")).unwrap();
        assert_eq!(tenants.tenants.len(), 1);
        assert!(tenants.refused[0].reason.contains("unique"));
    }

    #[test]
    fn file_level_mistakes_stop_everything() {
        for (text, why) in [
            ("", "missing field `output_dir`"),
            ("output_dir = \"o\"\nmax_concurrent_syncs = 0", "max_concurrent_syncs"),
            ("output_dir = \"o\"\nkeep_last = 0", "keep_last"),
            ("output_dir = \"o\"\nextra = 1", "unknown field `extra`"),
            ("output_dir = ", "expected"),
        ] {
            let err = parse(text, Path::new(".")).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn values_follow_the_components_schema() {
        let tenants = parse(GOOD, Path::new(".")).unwrap();
        let mut acme = tenants.tenants[0].clone();
        let variable = "BATON_TENANTS_TEST_ACME_TOKEN";
        acme.secrets.insert("access-token".into(), SecretSource::Env(variable.into()));
        let err = acme.values(&metadata()).unwrap_err().to_string();
        assert!(err.contains("BATON_TENANTS_TEST_ACME_TOKEN is not set"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cr3t-canary\n").unwrap();
        acme.secrets.insert("access-token".into(), SecretSource::File(secret.clone()));
        let values = acme.values(&metadata()).unwrap();
        assert_eq!(values["access-token"], "s3cr3t-canary", "one trailing newline dropped");
        assert_eq!(values["page-size"], "50");

        let mut wrong = acme.clone();
        wrong.config.insert("page-size".into(), "many".into());
        assert!(wrong.values(&metadata()).unwrap_err().to_string().contains("config.page-size: \"many\" is not an integer"));
        let mut unknown = acme.clone();
        unknown.config.insert("colour".into(), "blue".into());
        let err = unknown.values(&metadata()).unwrap_err().to_string();
        assert!(err.contains("config.colour") && err.contains("hostname, page-size, access-token"), "{err}");
        let mut leaked = acme.clone();
        leaked.secrets.clear();
        leaked.config.insert("access-token".into(), "s3cr3t-canary".into());
        let err = leaked.values(&metadata()).unwrap_err().to_string();
        assert!(err.contains("is a secret") && !err.contains("canary"), "{err}");
        let mut confided = acme.clone();
        confided.config.remove("page-size");
        confided.secrets.insert("page-size".into(), SecretSource::File(secret.clone()));
        let err = confided.values(&metadata()).unwrap_err().to_string();
        assert!(err.contains("secrets.page-size: the component declares it a plain setting") && !err.contains("canary"), "{err}");
        std::fs::write(&secret, "\n").unwrap();
        assert!(acme.values(&metadata()).unwrap_err().to_string().contains("secrets.access-token: the value is empty"));
    }
}
