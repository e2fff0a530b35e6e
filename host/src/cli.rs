//! The program's run, in two stages: the component is found (`--component`, read before the
//! full parse) and loaded; its declared schema then completes the flags, [`crate::args`] parses
//! them once into a typed invocation, and this module dispatches it and maps the outcome to an
//! exit code. Thin on purpose: the work lives in the other modules.

use crate::args::{self, Action, Inspection, Mode};
use crate::connector::Connector;
use crate::product::Product;
use crate::settings;
use crate::{capabilities, component, connector, inspect, outbound, provision, runner, service};
use anyhow::{Result, anyhow};
use baton_sandbox::egress::EgressHooks;
use baton_sandbox::runtime::Limits;
use baton_sync as sync;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    // The environment's proxies are the process's, whatever it runs: their passwords are noted
    // once, for redaction.
    crate::secrets::note_environment_proxies();
    if let Some(serve) = args::serve_requested(&product)? {
        init_logging(&serve.log_level, serve.json_logs);
        return serve_command(&product, serve.options).await;
    }
    if let Some(command) = args::component_command_requested(&product)? {
        init_logging("warn", false);
        return match command {
            args::ComponentCommand::Push(push) => print_out(&format!("{}\n", component::push(&product, &push).await?)),
            args::ComponentCommand::Inspect(inspect) => print_out(&component::inspect(&product, &inspect).await?),
            args::ComponentCommand::Sign(sign) => print_out(&format!("{}\n", component::sign(&sign).await?)),
            args::ComponentCommand::Test(test) => {
                let (report, passed) = crate::conformance::run(&product, &test).await?;
                print_out(&report)?;
                if passed { Ok(()) } else { Err(anyhow!("the component does not keep the contract: see the FAIL lines above")) }
            }
            args::ComponentCommand::Precompile(path) => print_out(&format!("{}\n", component::precompile(&product, path.as_deref())?.display())),
        };
    }
    let arguments: Vec<String> = std::env::args().collect();
    let given = args::component_flag(arguments.iter().cloned()).or_else(|| std::env::var("BATON_COMPONENT").ok());
    let found = component::of_this_run(&product, given.as_deref(), &args::early_registry_options(&arguments)).await?;
    let (runtime, pulled, prepared) = (found.runtime, found.pinned, found.prepared);
    let mut offline = runtime.instantiate(connector::offline_context(), &Limits::default()).await?;
    let metadata = offline.metadata().await?;
    let invocation = args::parse(&metadata, &product)?;
    init_logging(&invocation.log_level, invocation.json_logs);
    if let Some(prepared) = prepared {
        prepared.log();
    }
    if let Some(pinned) = pulled {
        tracing::info!(component = %pinned, "running the component pulled from the registry");
    }
    let file = &invocation.file;
    let run = match invocation.action {
        Action::Capabilities => {
            let types = offline.resource_types().await?;
            return print_out(&(serde_json::to_string_pretty(&capabilities::document(&metadata, &types))? + "\n"));
        }
        Action::Inspect(inspection) => return inspect_command(&inspection, file),
        Action::Run(run) => *run,
    };
    if let Mode::Change(change) = &run.mode {
        provision::check_allowed(change, run.provisioning, &metadata.display_name)?;
    }
    let settings = settings::resolve(&metadata, run.values)?;
    let (reads, changes) = settings.declared.listed();
    tracing::debug!(may_read = %reads.join(", "), may_change_with_provisioning = %changes.join(", "), "what the component declares it sends beyond GET and HEAD");
    if !settings.origin.https && settings.authorization.is_some() && !baton_sandbox::origin::is_loopback(&settings.origin.host) {
        tracing::warn!(
            base_url = %settings.origin.base_url(),
            "credentials are sent over plain http: anyone on the network path can read them; use an https base URL"
        );
    }
    let outbound = outbound::client(&settings.origin, &run.connection, run.limits.concurrency)?;
    let connector = Connector { runtime: &runtime, limits: run.limits, settings, outbound, strict: run.strict, lock_wait: run.lock_wait };
    match run.mode {
        Mode::Service(options) => {
            let types = offline.resource_types().await?;
            service::run(&connector, &metadata, &types, options).await
        }
        Mode::Change(change) => {
            let types = offline.resource_types().await?;
            one_shot_change(&connector, file, &change, &types).await
        }
        Mode::Sync => {
            let console = !invocation.json_logs && std::io::stderr().is_terminal();
            one_shot_sync(&connector, console, file, run.keep_previous_sync).await
        }
    }
}

/// `serve --tenants FILE`: the tenants' outcomes on stdout (with `--once`), an error naming
/// those that failed.
async fn serve_command(product: &Product, options: runner::ServeOptions) -> Result<()> {
    let outcome = runner::serve(product, options).await?;
    if !outcome.report.is_empty() {
        print_out(&outcome.report)?;
    }
    if outcome.failed.is_empty() {
        return Ok(());
    }
    Err(anyhow!("{} of {} tenants failed: {}", outcome.failed.len(), outcome.total, outcome.failed.join(", ")))
}

fn inspect_command(inspection: &Inspection, file: &Path) -> Result<()> {
    let reader = inspect::open(file)?;
    let (resource_type, entitlement, principal) = (inspection.resource_type.as_deref(), inspection.entitlement.as_deref(), inspection.principal.as_deref());
    let format = inspection.format;
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let listing = match inspection.command.as_str() {
        "resource-types" => inspect::resource_types(&reader, format, &mut out)?,
        "resources" => inspect::resources(&reader, resource_type, format, &mut out)?,
        "entitlements" => inspect::entitlements(&reader, resource_type, format, &mut out)?,
        "grants" => inspect::grants(&reader, entitlement, principal, format, &mut out)?,
        "principals" => inspect::principals(&reader, entitlement.unwrap_or_default(), format, &mut out)?,
        other => return Err(anyhow!("unknown command {other}")),
    };
    listing.finish().map(drop)
}

async fn one_shot_change(connector: &Connector<'_>, file: &Path, change: &provision::Change, types: &[baton_sandbox::wit::ResourceType]) -> Result<()> {
    tracing::info!(change = ?change, "applying a one-shot change");
    let prepared = provision::prepare(change, file, types)?;
    let outcome = connector.change(&prepared).await?;
    let done = provision::describe(&prepared, &outcome);
    tracing::info!("{done}");
    print_out(&format!("{done}\n"))
}

async fn one_shot_sync(connector: &Connector<'_>, console: bool, file: &Path, keep_previous_sync: bool) -> Result<()> {
    let started = Instant::now();
    let context = connector.sync_context();
    let observer = SyncProgress::new(context.hooks.clone(), console);
    let options = sync::SyncOptions { keep_previous_sync, ..Default::default() };
    let report = connector.sync(&context, file, &options, &observer).await;
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
        line.push_str(&format!(
            "\nwarning: {} grants name principals the connector cannot find (not resources in the file): {}; --strict makes this fail",
            check.dangling.len(),
            sync::abbreviated(&check.dangling)
        ));
    }
    line
}

fn init_logging(level: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("{level},wasmtime=warn,cranelift=warn")).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let console = if json { console.json().with_filter(filter).boxed() } else { console.with_filter(filter).boxed() };
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
