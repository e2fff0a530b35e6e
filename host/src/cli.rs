//! The command line, in two stages: a first pass reads only what is needed to load the
//! component (its path, logging, sandbox limits); the component's declared schema then adds its
//! own flags, and the full parse runs. Thin on purpose: the work lives in the other modules.

use crate::connector::Connector;
use crate::settings;
use crate::{capabilities, inspect, provision, service};
use anyhow::{Context, Result, anyhow};
use baton_sandbox::egress::EgressHooks;
use baton_sandbox::runtime::{InstanceContext, Limits, Runtime};
use baton_sync as sync;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Connector instances of a sync. Measured in BENCHMARKS.md: against a server answering in
/// 20 ms, 8 instances take 40 s where 4 took 67 s (16: 33 s); a server that pushes back gets
/// fewer in flight (see `retry::InFlightLimit`).
const DEFAULT_CONCURRENCY: u64 = 8;

/// Who this program is. The binary that embeds the host names it (`main.rs`), so the host
/// library names no product; everything else about the connector comes from its component.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    /// The program's name: its `--help`, the compile cache folder, the user agent.
    pub name: &'static str,
    /// The program's version.
    pub version: &'static str,
    /// File name of the component shipped beside the binary, used unless `--component` names one.
    pub component_file: &'static str,
}

/// Runs the command line for `product` and maps the outcome to an exit code.
pub fn main(product: Product) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(anyhow!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(run(product)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => fail(err),
    }
}

/// A reader that stopped reading our output (`| head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes to stdout, returning errors (a closed pipe included) instead of panicking.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn fail(err: anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}

async fn run(product: Product) -> Result<()> {
    let component = component_path(&product)?;
    let runtime = Runtime::load(&component, product.name)?;
    let mut offline = runtime.instantiate(metadata_only_context(), &Limits::default()).await?;
    let metadata = offline.metadata().await?;
    let matches = match full_command(&metadata, &product).try_get_matches() {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    init_logging(&matches);
    let file = PathBuf::from(matches.get_one::<String>("file").map(String::as_str).unwrap_or("sync.c1z"));
    match matches.subcommand() {
        Some(("capabilities", _)) => {
            let types = offline.resource_types().await?;
            print_out(&(serde_json::to_string_pretty(&capabilities::document(&metadata, &types))? + "\n"))
        }
        Some((name, sub)) => inspect_command(name, sub, &file),
        None => {
            let service = service::requested(&matches, &format!("{}/{}", product.name, product.version));
            let change = provision::requested(&matches);
            match (&service, &change) {
                (Some(_), Some(_)) => {
                    return Err(anyhow!(
                        "one-shot provisioning flags cannot be combined with service mode (--client-id): ConductorOne sends the changes as tasks"
                    ));
                }
                (None, Some(change)) => provision::check_allowed(change, matches.get_flag("provisioning"), &metadata.display_name)?,
                _ => {}
            }
            let settings = settings::resolve(&metadata, settings::given_values(&metadata, &matches)).map_err(|why| anyhow!("{why}"))?;
            let connector =
                Connector { runtime: &runtime, limits: limits(&matches), settings, concurrency: concurrency(&matches), strict: matches.get_flag("strict") };
            match (service, change) {
                (Some(options), _) => {
                    let types = offline.resource_types().await?;
                    service::run(&connector, &metadata, &types, options).await
                }
                (None, Some(change)) => {
                    let types = offline.resource_types().await?;
                    one_shot_change(&connector, &file, &change, &types).await
                }
                (None, None) => {
                    let console = !json_logs(&matches) && std::io::stderr().is_terminal();
                    one_shot_sync(&connector, console, &file).await
                }
            }
        }
    }
}

fn inspect_command(name: &str, sub: &ArgMatches, file: &Path) -> Result<()> {
    let format = match sub.get_one::<String>("output-format").map(String::as_str) {
        Some("json") => inspect::Format::Json,
        _ => inspect::Format::Console,
    };
    let text = |arg: &str| sub.get_one::<String>(arg).map(String::as_str);
    let reader = inspect::open(file)?;
    let listing = match name {
        "resource-types" => inspect::resource_types(&reader)?,
        "resources" => inspect::resources(&reader, text("resource-type"))?,
        "entitlements" => inspect::entitlements(&reader, text("resource-type"))?,
        "grants" => inspect::grants(&reader, text("entitlement"), text("principal"))?,
        "principals" => inspect::principals(&reader, text("entitlement").unwrap_or_default())?,
        other => return Err(anyhow!("unknown command {other}")),
    };
    print_out(&listing.render(format))
}

/// The inspection and information subcommands.
fn subcommands() -> Vec<Command> {
    let format = || {
        Arg::new("output-format")
            .short('o')
            .long("output-format")
            .env("BATON_OUTPUT_FORMAT")
            .value_parser(["console", "json"])
            .default_value("console")
            .help("Output format")
    };
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
    ]
}

async fn one_shot_change(connector: &Connector<'_>, file: &Path, change: &provision::Change, types: &[baton_sandbox::wit::ResourceType]) -> Result<()> {
    tracing::info!(change = ?change, "applying a one-shot change");
    let prepared = provision::prepare(change, file, types)?;
    let outcome = connector.change(&prepared).await?;
    let done = provision::describe(&prepared, &outcome);
    tracing::info!("{done}");
    print_out(&format!("{done}\n"))
}

async fn one_shot_sync(connector: &Connector<'_>, console: bool, file: &Path) -> Result<()> {
    let started = Instant::now();
    let context = connector.sync_context();
    let observer = SyncProgress::new(context.hooks.clone(), console);
    let report = connector.sync(&context, file, &sync::SyncOptions::default(), &observer).await;
    observer.finish();
    let report = report?;
    let summary = &report.summary;
    let egress = context.hooks.report();
    let (requests, retries, rate_limit_waits) = (egress.requests, egress.retries, egress.rate_limit_waits);
    let per_type: Vec<String> = report.resource_types.iter().map(|t| t.to_string()).collect();
    let (_, lowest, max) = egress.in_flight;
    let lowered = if lowest < max { format!("; rate limits lowered concurrency to {lowest} of {max}") } else { String::new() };
    let principals = principals_line(&report.principals);
    print_out(&format!(
        "Synced {}; {} entitlements, {} grants -> {} ({} bytes, sync {}) in {:.1} s; {requests} requests, {retries} retries, {rate_limit_waits} rate-limit waits ({:.1} s waited){lowered}{principals}\n",
        per_type.join(", "),
        summary.entitlements,
        summary.grants,
        file.display(),
        summary.file_bytes,
        summary.sync_id,
        started.elapsed().as_secs_f64(),
        egress.waited.as_secs_f64()
    ))
}

/// The summary's words on principals that grants named but no list returned (nothing when
/// there were none).
fn principals_line(check: &sync::PrincipalCheck) -> String {
    let mut line = String::new();
    if check.looked_up > 0 {
        line.push_str(&format!("; {} principals named by grants were looked up one by one", check.looked_up));
    }
    if !check.dangling.is_empty() {
        let shown: Vec<&str> = check.dangling.iter().take(10).map(String::as_str).collect();
        let more = check.dangling.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        line.push_str(&format!(
            "\nwarning: {} grants name principals the connector cannot find (not resources in the file): {}{more}; --strict makes this fail",
            check.dangling.len(),
            shown.join(", ")
        ));
    }
    line
}

fn metadata_only_context() -> InstanceContext {
    InstanceContext { config: Default::default(), hooks: EgressHooks::deny_all(), kv: Default::default() }
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
            Arg::new("component")
                .long("component")
                .env("BATON_COMPONENT")
                .value_name("PATH")
                .help_heading("Sandbox")
                .help(format!("The connector component (.wasm) [default: {} beside this program]", product.component_file)),
        )
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
}

fn full_command(metadata: &baton_sandbox::wit::Metadata, product: &Product) -> Command {
    host_args(product)
        .about(format!("{}: {}", metadata.display_name, metadata.description))
        .long_about(format!(
            "{}: {}\n\nRuns a full sync into --file. Secrets (tokens, passwords) stay in this process: the sandboxed connector never sees them, and requests may reach only the configured base URL.",
            metadata.display_name, metadata.description
        ))
        .version(product.version)
        .args(settings::schema_args(metadata))
        .subcommands(subcommands())
        .args(provision::args(&metadata.display_name))
        .group(provision::group())
        .args(service::args())
        .arg(Arg::new("help").short('h').long("help").action(ArgAction::Help).help("Print help"))
        .disable_help_flag(true)
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
    }
}

/// `--component` / `BATON_COMPONENT`, else the file beside this program, else the workspace's
/// guest build. The flag is read before the full parse because the component declares the
/// other flags; clap still owns it for help and validation.
fn component_path(product: &Product) -> Result<PathBuf> {
    if let Some(path) = component_flag(std::env::args()).or_else(|| std::env::var("BATON_COMPONENT").ok()) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot locate this program")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [dir.join(product.component_file), dir.join("..").join("wasm32-wasip2").join("guest").join(product.component_file)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        anyhow!(
            "cannot find the connector component: looked for {} and {}; build it with `make component` or pass --component PATH",
            candidates[0].display(),
            candidates[1].display()
        )
    })
}

/// The value of `--component PATH` or `--component=PATH` among the arguments, if given.
fn component_flag(args: impl Iterator<Item = String>) -> Option<String> {
    let mut args = args.skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if arg == "--component" {
            return args.next();
        }
        if let Some(value) = arg.strip_prefix("--component=") {
            return Some(value.to_string());
        }
    }
    None
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

fn init_logging(matches: &ArgMatches) {
    let level = matches.get_one::<String>("log-level").map(String::as_str).unwrap_or("info");
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("{level},wasmtime=warn,cranelift=warn")).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let console = if json_logs(matches) { console.json().with_filter(filter).boxed() } else { console.with_filter(filter).boxed() };
    tracing_subscriber::registry().with(console).with(service::debug_log::layer()).init();
}

/// Sync progress: a progress bar on a terminal, a log line every few seconds otherwise.
struct SyncProgress {
    hooks: EgressHooks,
    bar: Option<indicatif::ProgressBar>,
    last_line: std::sync::Mutex<Instant>,
}

impl SyncProgress {
    fn new(hooks: EgressHooks, console: bool) -> SyncProgress {
        let bar = console.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        SyncProgress { hooks, bar, last_line: std::sync::Mutex::new(Instant::now()) }
    }

    fn report(&self, message: String) {
        let egress = self.hooks.report();
        let message = format!("{message}; {} requests, {} retries, {} rate-limit waits", egress.requests, egress.retries, egress.rate_limit_waits);
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => {
                let Ok(mut last) = self.last_line.lock() else { return };
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    tracing::info!(progress = %message, "syncing");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl sync::Observer for SyncProgress {
    fn listing(&self, resource_type: &str, listed: usize) {
        self.report(format!("listing {resource_type}: {listed}"));
    }

    fn fetching(&self, resource_type: &str, done: usize, total: usize) {
        self.report(format!("entitlements and grants of {resource_type}: {done}/{total}"));
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
    }
}
