//! One configured connector: the loaded component with its settings and limits, and the two
//! things a run does with it: a sync into a `.c1z`, and a change (grant, revoke, create
//! account). The one-shot command line and service mode both go through here, so a sync or a
//! change behaves the same whichever asked for it.

use crate::limits::RunLimits;
use crate::outbound;
use crate::provision::{self, Prepared};
use crate::settings::Settings;
use anyhow::{Result, anyhow};
use baton_c1z::lock::{LockError, OutputLock};
use baton_sandbox::egress::EgressHooks;
use baton_sandbox::outbound::Outbound;
use baton_sandbox::runtime::{CallError, Instance, InstanceContext, Runtime};
use baton_sandbox::wit::ConnectorError;
use baton_sync::{self as sync, Observer, SyncOptions, SyncReport};
use http::HeaderValue;
use std::path::Path;
use std::sync::Arc;

/// A component, configured and ready to run.
pub struct Connector<'a> {
    pub runtime: &'a Runtime,
    /// Every limit its work runs under, whatever the work.
    pub limits: RunLimits,
    pub settings: Settings,
    /// The pooled client every run of this connector sends through.
    pub outbound: Arc<Outbound>,
    /// Every sync is strict about principals a grant names (see [`SyncOptions::strict`]).
    pub strict: bool,
    /// How long a sync waits for another one writing the same file (`--lock-wait-seconds`).
    pub lock_wait: std::time::Duration,
}

impl Connector<'_> {
    /// Takes the lock of `out` (see [`baton_c1z::lock`]), waiting up to `--lock-wait-seconds`
    /// for another sync of the same file to end; a sync still holding it then is named, and
    /// nothing is touched.
    pub async fn lock_output(&self, out: &Path) -> Result<OutputLock> {
        lock_output(out, self.lock_wait).await
    }
}

async fn lock_output(out: &Path, wait: std::time::Duration) -> Result<OutputLock> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match OutputLock::try_acquire(out) {
            Ok(lock) => return Ok(lock),
            Err(LockError::Held { .. }) if std::time::Instant::now() < deadline => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            Err(held @ LockError::Held { .. }) => {
                return Err(anyhow!(
                    "{held}; its file and checkpoint were left alone: let it finish, or give --lock-wait-seconds (BATON_LOCK_WAIT_SECONDS) to wait for it"
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
}

impl Connector<'_> {
    /// What every instance of one sync shares (see [`Self::run_context`]), for this
    /// connector's concurrency.
    pub fn sync_context(&self) -> InstanceContext {
        self.run_context(self.limits.concurrency, false)
    }

    /// What every instance of one run shares: configuration, egress hooks (with the retry
    /// counters, the in-flight limit and what the component declares it sends) and the
    /// per-sync store. Only a change's run (`may_change`) lets the component send changes.
    fn run_context(&self, concurrency: usize, may_change: bool) -> InstanceContext {
        self.run_context_with(self.settings.authorization.clone(), concurrency, may_change)
    }

    /// A sync's context that attaches `authorization` instead of the configured credential (the
    /// conformance kit's wrong credential).
    pub fn sync_context_with(&self, authorization: Option<HeaderValue>) -> InstanceContext {
        self.run_context_with(authorization, self.limits.concurrency, false)
    }

    fn run_context_with(&self, authorization: Option<HeaderValue>, concurrency: usize, may_change: bool) -> InstanceContext {
        let settings = &self.settings;
        InstanceContext {
            config: Arc::new(settings.guest_config.clone()),
            hooks: EgressHooks::new(settings.origin.clone(), authorization, &settings.origin_field, Arc::clone(&self.outbound))
                .with_pacing(self.limits.pacing(concurrency))
                .with_declared(settings.declared.clone()),
            kv: Default::default(),
            cpu_spent: Default::default(),
            memory_in_use: Default::default(),
            may_change,
        }
    }

    /// A validated instance in `context`.
    async fn connected_instance(&self, context: &InstanceContext) -> Result<Instance> {
        let mut instance = self.runtime.instantiate(context.clone(), &self.limits.instance).await?;
        let who = instance.validate().await.map_err(|err| self.first_contact_error(err, context))?;
        tracing::info!("{who}");
        Ok(instance)
    }

    /// Syncs into `out` with the instances of `context` (from [`Self::sync_context`]). `out` is replaced only when the sync completes, and resumed
    /// from its checkpoint if an earlier run into the same `out` was interrupted.
    pub async fn sync(&self, context: &InstanceContext, out: &Path, options: &SyncOptions, observer: &dyn Observer) -> Result<SyncReport> {
        let _lock = self.lock_output(out).await?;
        self.sync_locked(context, out, options, observer).await
    }

    /// [`Self::sync`] for a caller that holds the lock of `out` already ([`Self::lock_output`]).
    pub async fn sync_locked(&self, context: &InstanceContext, out: &Path, options: &SyncOptions, observer: &dyn Observer) -> Result<SyncReport> {
        tracing::info!(base_url = %self.settings.origin.base_url(), auth = %self.settings.auth_description, file = %out.display(), "starting a sync");
        let fingerprint = serde_json::to_string(&self.settings.guest_config)?;
        let mut workers = vec![self.connected_instance(context).await?];
        for _ in 1..self.limits.concurrency {
            workers.push(self.runtime.instantiate(context.clone(), &self.limits.instance).await?);
        }
        let options = SyncOptions { strict: options.strict || self.strict, ..options.clone() };
        let report = sync::full_sync(workers, out, &context.kv, &fingerprint, &options, &self.limits.budgets, observer)
            .await
            .map_err(|err| self.explained(err, context))?;
        let summary = &report.summary;
        let egress = context.hooks.report();
        tracing::info!(
            sync_id = %summary.sync_id,
            resources = summary.resources,
            grants = summary.grants,
            requests = egress.requests,
            retries = egress.retries,
            refused = egress.refused,
            rate_limit_waits = egress.rate_limit_waits,
            "sync finished"
        );
        Ok(report)
    }

    /// Sends one prepared change through a fresh, validated instance. Callers reach this only
    /// when the operator allowed changes (`--provisioning`, a service task with provisioning on).
    pub async fn change(&self, prepared: &Prepared) -> Result<provision::Outcome> {
        let context = self.run_context(1, true);
        let mut instance = self.connected_instance(&context).await?;
        provision::send(&mut instance, prepared).await.map_err(|err| self.explained(err, &context))
    }

    /// Why the first call failed: when the server could not be reached, only that, with what to
    /// check (the component's own words would repeat it); otherwise what the component said.
    fn first_contact_error(&self, error: CallError, context: &InstanceContext) -> anyhow::Error {
        let unreachable = matches!(&error, CallError::Connector { error: ConnectorError::Unavailable(_), .. });
        match context.hooks.last_failure().filter(|_| unreachable) {
            Some(failure) => anyhow!(
                "cannot reach {}: {}; {}",
                self.settings.origin.base_url(),
                failure.explanation,
                outbound::remedy(&failure, &self.settings.origin_field)
            ),
            None => anyhow!("the configuration was not accepted: {error}"),
        }
    }

    /// `error` with the latest failure to reach the server and its remedy (see
    /// [`outbound::explained`]).
    fn explained(&self, error: anyhow::Error, context: &InstanceContext) -> anyhow::Error {
        outbound::explained(error, &context.hooks, &self.settings.origin_field)
    }
}

/// A context in which nothing may leave: for reading a component's metadata before its
/// configuration is known.
pub fn offline_context() -> InstanceContext {
    InstanceContext {
        config: Default::default(),
        hooks: EgressHooks::deny_all(),
        kv: Default::default(),
        cpu_spent: Default::default(),
        memory_in_use: Default::default(),
        may_change: false,
    }
}
