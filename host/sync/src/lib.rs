//! The sync engine. It knows baton's model, not the source system: resource types, then each
//! type's resources page by page, then each resource's entitlements and grants (the resources
//! read back from the file in batches, fetched on every instance at once, written in resource
//! order), then the principals grants name that no list returned (looked up with
//! `get-resource`, or reported as dangling). A targeted sync reads only the resources it is
//! given. Everything goes into a `.c1z`, checkpointed so a killed run resumes. It guards against
//! connector bugs (a page token that does not change) and reports counts. The output file is
//! replaced only when the whole sync succeeded: on any error the previous file is left
//! untouched. `convert` maps the contract's types to baton's protobuf and back.

use anyhow::{Context, Result, bail};
use baton_c1z::{C1zWriter, Summary, pb};
use baton_sandbox::store::SharedStore;
use baton_sandbox::{CallError, Instance, wit};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::Path;

pub mod budget;
pub mod convert;
mod writer_thread;

pub use budget::Budgets;
use budget::{Tally, Weigh};

use writer_thread::WriterThread;

/// The calls the engine makes; [`Instance`] implements it over the component.
pub trait ConnectorCalls {
    fn resource_types(&mut self) -> impl Future<Output = Result<Vec<wit::ResourceType>, CallError>>;
    fn list_resources(
        &mut self,
        type_id: &str,
        parent: Option<&wit::ResourceId>,
        token: Option<&str>,
    ) -> impl Future<Output = Result<wit::ResourcePage, CallError>>;
    fn get_resource(&mut self, id: &wit::ResourceId, parent: Option<&wit::ResourceId>) -> impl Future<Output = Result<wit::Resource, CallError>>;
    fn list_entitlements(&mut self, resource: &wit::Resource, token: Option<&str>) -> impl Future<Output = Result<wit::EntitlementPage, CallError>>;
    fn list_grants(&mut self, resource: &wit::Resource, token: Option<&str>) -> impl Future<Output = Result<wit::GrantPage, CallError>>;
}

impl ConnectorCalls for Instance {
    async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, CallError> {
        Instance::resource_types(self).await
    }
    async fn list_resources(&mut self, type_id: &str, parent: Option<&wit::ResourceId>, token: Option<&str>) -> Result<wit::ResourcePage, CallError> {
        Instance::list_resources(self, type_id, parent, token).await
    }
    async fn get_resource(&mut self, id: &wit::ResourceId, parent: Option<&wit::ResourceId>) -> Result<wit::Resource, CallError> {
        Instance::get_resource(self, id, parent).await
    }
    async fn list_entitlements(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::EntitlementPage, CallError> {
        Instance::list_entitlements(self, resource, token).await
    }
    async fn list_grants(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::GrantPage, CallError> {
        Instance::list_grants(self, resource, token).await
    }
}

/// What a sync wrote: the file's summary, per resource type how many resources by status, and
/// how the principals named by grants were accounted for.
#[derive(Debug)]
pub struct SyncReport {
    pub summary: Summary,
    pub resource_types: Vec<TypeCount>,
    pub principals: PrincipalCheck,
}

/// The referential-integrity pass: principals that grants named but no list returned.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrincipalCheck {
    /// Looked up one by one with `get-resource` and written.
    pub looked_up: usize,
    /// Still not resources in the file (`type:id`): the connector could not find them.
    pub dangling: Vec<String>,
}

/// Resources of one type, by status.
#[derive(Debug, Default)]
pub struct TypeCount {
    pub resource_type: String,
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
}

impl TypeCount {
    /// Counts the resources of a type in the file being written, one row at a time (a large
    /// directory is never all in memory for this). Counted from the file rather than while
    /// listing, so a resource a paged list returned twice (offset paging while the directory
    /// changes) counts once, as it is stored once, and a resumed sync counts what it resumed.
    fn of(resource_type: &str, writer: &C1zWriter) -> Result<TypeCount> {
        let mut count = TypeCount { resource_type: resource_type.to_string(), ..TypeCount::default() };
        writer.each_resource_of_type(resource_type, |resource| {
            count.total += 1;
            match resource.status.map(|s| pb::ResourceStatus::try_from(s.status)) {
                Some(Ok(pb::ResourceStatus::Enabled)) => count.enabled += 1,
                Some(Ok(pb::ResourceStatus::Disabled | pb::ResourceStatus::Deleted)) => count.disabled += 1,
                _ => {}
            }
        })?;
        Ok(count)
    }
}

impl std::fmt::Display for TypeCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} resources", self.total, self.resource_type)?;
        let unknown = self.total - self.enabled - self.disabled;
        if self.enabled + self.disabled > 0 {
            write!(f, " ({} enabled, {} disabled", self.enabled, self.disabled)?;
            if unknown > 0 {
                write!(f, ", {unknown} status unknown")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Told about progress, for a progress bar or log lines; the engine does not care which.
pub trait Observer {
    /// Resources of a type are being listed; `listed` so far.
    fn listing(&self, resource_type: &str, listed: usize);
    /// Entitlements and grants of `done` of `total` resources of a type are written.
    fn fetching(&self, resource_type: &str, done: usize, total: usize);
    /// The sync has written `rows` rows so far (told with each checkpoint and at the end).
    fn wrote(&self, _rows: u64) {}
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn listing(&self, _: &str, _: usize) {}
    fn fetching(&self, _: &str, _: usize, _: usize) {}
}

/// What a sync covers. The default is everything; service mode narrows it as a task asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Only these resource types (all when empty).
    pub resource_type_ids: Vec<String>,
    /// Resources only: no entitlements and no grants (baton's `resources_only` sync).
    pub skip_entitlements_and_grants: bool,
    /// Entitlements but no grants.
    pub skip_grants: bool,
    /// A targeted sync: only these resources (read with `get-resource`) and their
    /// entitlements and grants. Empty means a sync by type.
    pub targets: Vec<Target>,
    /// A principal that a grant names and the connector cannot find fails the sync (the
    /// previous output stays as it was) instead of being reported.
    pub strict: bool,
    /// The file being replaced keeps its latest full sync beside the new one (for `baton diff`).
    pub keep_previous_sync: bool,
}

/// One resource a targeted sync asks for, with its parent when its type lives under one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: (String, String),
    pub parent: Option<(String, String)>,
}

impl Target {
    fn wit_id(&self) -> wit::ResourceId {
        wit::ResourceId { resource_type: self.id.0.clone(), resource: self.id.1.clone() }
    }

    fn wit_parent(&self) -> Option<wit::ResourceId> {
        self.parent.as_ref().map(|(t, r)| wit::ResourceId { resource_type: t.clone(), resource: r.clone() })
    }
}

impl SyncOptions {
    fn includes(&self, type_id: &str) -> bool {
        self.resource_type_ids.is_empty() || self.resource_type_ids.iter().any(|t| t == type_id)
    }

    /// The `sync_type` baton records for such a sync.
    fn sync_type(&self) -> &'static str {
        if self.skip_entitlements_and_grants {
            "resources_only"
        } else if self.resource_type_ids.is_empty() && !self.skip_grants && self.targets.is_empty() {
            "full"
        } else {
            "partial"
        }
    }
}

/// Where a sync is, saved with every checkpoint. Field names are stable: a newer program must
/// read an older checkpoint (or refuse it by `version`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    version: u32,
    /// What the sync is of (origin and options); a checkpoint of another sync is discarded.
    fingerprint: String,
    /// Resource types before this index are complete.
    type_index: usize,
    /// The current type's resources are all listed.
    listed: bool,
    /// The page token to continue listing from.
    page_token: Option<String>,
    /// Resources of the current type whose entitlements and grants are written.
    resources_done: usize,
    /// What the sync has written so far, against its budgets.
    #[serde(default)]
    written: Tally,
}

const PROGRESS_VERSION: u32 = 1;
/// Least time between two checkpoints inside a phase (phase ends always checkpoint).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Saves progress with the store's changes, at most every [`CHECKPOINT_EVERY`] unless forced.
struct Checkpoints<'a> {
    store: &'a SharedStore,
    last: Instant,
    observer: &'a dyn Observer,
}

impl Checkpoints<'_> {
    async fn save(&mut self, writer: &mut WriterThread, progress: &Progress, force: bool) -> Result<()> {
        self.observer.wrote(progress.written.rows);
        if !force && self.last.elapsed() < CHECKPOINT_EVERY {
            return Ok(());
        }
        let changed = self.store.lock().map(|mut s| s.take_changed()).unwrap_or_default();
        let progress = serde_json::to_string(progress)?;
        writer.write(move |w| Ok(w.checkpoint(&progress, &changed)?)).await?;
        self.last = Instant::now();
        Ok(())
    }
}

/// Syncs everything the connector offers into `out`, replacing it atomically when done.
/// Progress is checkpointed beside `out`; if the process dies, the next run with the same
/// `out` and `fingerprint` continues where the last checkpoint left off and ends with the same
/// content. Resources are listed by the first worker; the entitlements and grants of different
/// resources are fetched by all workers at once and written in resource order, so the file does
/// not depend on how many workers there are.
pub async fn full_sync<C: ConnectorCalls>(
    workers: Vec<C>,
    out: &Path,
    store: &SharedStore,
    fingerprint: &str,
    options: &SyncOptions,
    budgets: &Budgets,
    observer: &dyn Observer,
) -> Result<SyncReport> {
    anyhow::ensure!(!workers.is_empty(), "a sync needs at least one connector instance");
    let mut run = SyncRun::open(workers, out, store, &format!("{fingerprint} {options:?}"), options, budgets, observer).await?;
    let types = run.write_resource_types(options).await?;
    if options.targets.is_empty() {
        run.sync_every_type(&types, options).await?;
    } else {
        run.sync_targets(&types, options).await?;
    }
    let principals = run.account_for_principals(&types).await?;
    if options.strict && !principals.dangling.is_empty() {
        bail!(
            "{} principal(s) named by grants are not resources the connector can find ({}); with --strict this fails the sync and the previous output is kept",
            principals.dangling.len(),
            abbreviated(&principals.dangling)
        );
    }
    run.finish(out, &types, principals).await
}

/// One sync under way: the workers, the file being written, where the sync is and when it last
/// said so; its methods are the phases.
struct SyncRun<'a, C> {
    workers: Vec<C>,
    writer: WriterThread,
    progress: Progress,
    checkpoints: Checkpoints<'a>,
    /// What to fetch for each resource (set once the resource types are known).
    fetch: Fetch,
}

impl<'a, C: ConnectorCalls> SyncRun<'a, C> {
    /// Opens the file (or the interrupted sync of the same kind beside it) on its own thread.
    async fn open(
        workers: Vec<C>,
        out: &Path,
        store: &'a SharedStore,
        fingerprint: &str,
        options: &SyncOptions,
        budgets: &Budgets,
        observer: &'a dyn Observer,
    ) -> Result<Self> {
        let (mut writer, progress) = open_writer(out, store, fingerprint)?;
        writer.keep_previous_sync(options.keep_previous_sync);
        let mut writer = WriterThread::start(writer)?;
        let sync_type = options.sync_type();
        writer.write(move |w| Ok(w.set_sync_type(sync_type)?)).await?;
        let checkpoints = Checkpoints { store, last: Instant::now(), observer };
        let fetch = Fetch { types: Arc::default(), grants: !options.skip_grants, budgets: *budgets };
        Ok(SyncRun { workers, writer, progress, checkpoints, fetch })
    }

    /// Writes the resource types the sync covers (checking that every one asked for is
    /// offered); the types, in the connector's order.
    async fn write_resource_types(&mut self, options: &SyncOptions) -> Result<Vec<wit::ResourceType>> {
        let offered = self.workers[0].resource_types().await?;
        let unknown: Vec<&String> = options.resource_type_ids.iter().filter(|id| !offered.iter().any(|t| &t.id == *id)).collect();
        anyhow::ensure!(
            unknown.is_empty(),
            "the connector has no resource type {unknown:?}; it offers {:?}",
            offered.iter().map(|t| &t.id).collect::<Vec<_>>()
        );
        // Entitlements name the types they are grantable to, so every offered type is converted.
        let pb_types: Arc<BTreeMap<String, pb::ResourceType>> = Arc::new(offered.iter().map(|t| (t.id.clone(), convert::resource_type(t))).collect());
        let types: Vec<wit::ResourceType> = offered.into_iter().filter(|t| options.includes(&t.id)).collect();
        self.progress.written.add_all(&types, &self.fetch.budgets)?;
        let included: Vec<pb::ResourceType> = pb_types.iter().filter(|(id, _)| options.includes(id)).map(|(_, t)| t.clone()).collect();
        self.writer
            .write(move |w| {
                included.iter().try_for_each(|pb_type| w.put_resource_type(pb_type))?;
                Ok(())
            })
            .await?;
        self.fetch.types = pb_types;
        Ok(types)
    }

    /// Every type from where the checkpoint left off: its resources listed, then their
    /// entitlements and grants.
    async fn sync_every_type(&mut self, types: &[wit::ResourceType], options: &SyncOptions) -> Result<()> {
        for (index, rt) in types.iter().enumerate().skip(self.progress.type_index) {
            if !self.progress.listed {
                self.list_all_resources(&rt.id).await?;
            }
            tracing::info!(resource_type = %rt.id, "listed resources");
            if !rt.skip_entitlements_and_grants && !options.skip_entitlements_and_grants {
                self.sync_type_entitlements_and_grants(&rt.id).await?;
            }
            self.progress = self.progress.at_type(index + 1);
            self.checkpoints.save(&mut self.writer, &self.progress, true).await?;
        }
        Ok(())
    }

    /// Writes the file and counts what it holds. The connector instances are let go first:
    /// nothing calls them any more, and the file's finish (index sorts, compression) is the
    /// sync's most memory-hungry step (a few MiB of instance stacks and memories fewer at the
    /// peak; BENCHMARKS.md, "Memory").
    async fn finish(self, out: &Path, types: &[wit::ResourceType], principals: PrincipalCheck) -> Result<SyncReport> {
        let SyncRun { workers, mut writer, progress, checkpoints, .. } = self;
        drop(workers);
        let type_ids: Vec<String> = types.iter().map(|rt| rt.id.clone()).collect();
        let counts = writer.query(move |w| type_ids.iter().map(|id| TypeCount::of(id, w)).collect::<Result<Vec<_>>>()).await?;
        let summary = writer.finish().await.with_context(|| format!("cannot write {}", out.display()))?;
        let written = progress.written;
        checkpoints.observer.wrote(written.rows);
        tracing::debug!(rows = written.rows, mib = written.bytes >> 20, "written, against the sync's budgets");
        Ok(SyncReport { summary, resource_types: counts, principals })
    }
    /// A targeted sync: each target read with `get-resource` and written, then the entitlements
    /// and grants of those whose type has any. Targets are re-read on resume (they are few and
    /// the call is idempotent); entitlements and grants resume where the checkpoint says.
    async fn sync_targets(&mut self, types: &[wit::ResourceType], options: &SyncOptions) -> Result<()> {
        if self.progress.type_index != 0 {
            return Ok(());
        }
        let mut with_grants = Vec::new();
        for target in &options.targets {
            let Some(rt) = types.iter().find(|t| t.id == target.id.0) else {
                bail!("the targeted resource {}:{} is of a type the connector does not offer", target.id.0, target.id.1);
            };
            let resource = self.workers[0]
                .get_resource(&target.wit_id(), target.wit_parent().as_ref())
                .await
                .with_context(|| format!("cannot read the targeted resource {}:{}", target.id.0, target.id.1))?;
            self.progress.written.add(1, resource.weight(), &self.fetch.budgets)?;
            let converted = convert::resource(&resource);
            self.writer.write(move |w| Ok(w.put_resource(&converted)?)).await?;
            if !rt.skip_entitlements_and_grants && !options.skip_entitlements_and_grants {
                with_grants.push(resource);
            }
        }
        tracing::info!(resources = options.targets.len(), "read the targeted resources");
        let converted: Vec<pb::Resource> = with_grants.iter().map(convert::resource).collect();
        let batch = Batch { first: 0, resources: &with_grants, converted: &converted, total: with_grants.len() };
        self.sync_entitlements_and_grants(&batch).await?;
        self.progress = self.progress.at_type(1);
        self.checkpoints.save(&mut self.writer, &self.progress, true).await
    }

    /// Makes every principal a grant names a resource in the file: each one no list returned is
    /// asked for with `get-resource` and written; those the connector cannot find (not-found, or
    /// a type without single lookups) stay dangling and are reported. Principals of types this
    /// sync does not cover (a sync of some types only) are out of its scope.
    async fn account_for_principals(&mut self, types: &[wit::ResourceType]) -> Result<PrincipalCheck> {
        let (connector, writer, written, budgets) = (&mut self.workers[0], &mut self.writer, &mut self.progress.written, &self.fetch.budgets);
        let mut check = PrincipalCheck::default();
        let started = Instant::now();
        let missing = writer.query(|w| Ok(w.principals_without_resource()?)).await?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), missing = missing.len(), "found the principals grants name that are not resources");
        for principal in missing.iter().filter(|p| types.iter().any(|t| t.id == p.resource_type)) {
            let id = wit::ResourceId { resource_type: principal.resource_type.clone(), resource: principal.resource.clone() };
            let name = format!("{}:{}", id.resource_type, id.resource);
            match connector.get_resource(&id, None).await {
                Ok(resource) if resource.id.resource_type == id.resource_type && resource.id.resource == id.resource => {
                    written.add(1, resource.weight(), budgets)?;
                    let converted = convert::resource(&resource);
                    writer.write(move |w| Ok(w.put_resource(&converted)?)).await?;
                    check.looked_up += 1;
                }
                Ok(other) => {
                    tracing::warn!(principal = %name, returned = %format!("{}:{}", other.id.resource_type, other.id.resource), "get-resource answered with another resource; the principal stays unresolved");
                    check.dangling.push(name);
                }
                Err(CallError::Connector { error: wit::ConnectorError::NotFound(_) | wit::ConnectorError::Unimplemented(_), .. }) => check.dangling.push(name),
                Err(other) => return Err(anyhow::Error::new(other).context(format!("cannot look up the principal {name} that a grant names"))),
            }
        }
        if check.looked_up > 0 {
            tracing::info!(principals = check.looked_up, "looked up principals that grants name but no list returned");
        }
        if !check.dangling.is_empty() {
            tracing::warn!(count = check.dangling.len(), principals = %abbreviated(&check.dangling), "grants name principals the connector cannot find; the grants are kept, the principals are not resources in the file");
        }
        Ok(check)
    }

    /// Lists every resource of a type on the first worker, page by page from where the
    /// checkpoint left off, writing and checkpointing each page.
    async fn list_all_resources(&mut self, type_id: &str) -> Result<()> {
        let SyncRun { workers, writer, progress, checkpoints, fetch, .. } = self;
        let (connector, budgets) = (&mut workers[0], &fetch.budgets);
        let mut listed = 0usize;
        let call = format!("list-resources({type_id})");
        let mut trail = TokenTrail::starting_at(progress.page_token.as_deref());
        loop {
            let page = connector.list_resources(type_id, None, progress.page_token.as_deref()).await?;
            listed += page.items.len();
            progress.written.add_all(&page.items, budgets)?;
            let items = page.items;
            writer
                .write(move |w| {
                    items.iter().try_for_each(|resource| w.put_resource(&convert::resource(resource)))?;
                    Ok(())
                })
                .await?;
            checkpoints.observer.listing(type_id, listed);
            let next = trail.next(page.next_page_token, &call)?;
            progress.listed = next.is_none();
            progress.page_token = next;
            checkpoints.save(writer, progress, progress.listed).await?;
            if progress.listed {
                return Ok(());
            }
        }
    }

    /// The entitlements and grants of every resource of one type, the resources read back from
    /// the file in batches of [`BATCH`] from where the checkpoint left off.
    async fn sync_type_entitlements_and_grants(&mut self, type_id: &str) -> Result<()> {
        let owned = type_id.to_owned();
        let total = self.writer.query(move |w| Ok(w.count_resources_of_type(&owned)?)).await?;
        let done = self.progress.resources_done;
        let mut next_batch = if done < total { Some(ask_for_batch(&mut self.writer, type_id, done).await?) } else { None };
        while let Some(pending) = next_batch.take() {
            let first = self.progress.resources_done;
            let converted = self.writer.answer(pending).await?;
            if converted.is_empty() {
                break;
            }
            if first + converted.len() < total {
                next_batch = Some(ask_for_batch(&mut self.writer, type_id, first + converted.len()).await?);
            }
            let resources: Vec<wit::Resource> = converted.iter().map(convert::wit_resource).collect();
            let batch = Batch { first, resources: &resources, converted: &converted, total };
            self.sync_entitlements_and_grants(&batch).await?;
        }
        Ok(())
    }

    /// Fetches the entitlements and grants of a batch's resources on all workers at once and
    /// writes them in resource order, from where the progress says. (A failed fetch or write
    /// ends the sync, and its workers with it.)
    async fn sync_entitlements_and_grants(&mut self, batch: &Batch<'_>) -> Result<()> {
        let SyncRun { workers, writer, progress, checkpoints, fetch, .. } = self;
        let mut idle = std::mem::take(workers);
        let mut running = FuturesUnordered::new();
        let mut ready: BTreeMap<usize, Fetched> = BTreeMap::new();
        let start = progress.resources_done.saturating_sub(batch.first);
        let (mut next_to_start, mut next_to_write) = (start, start);
        let resources = batch.resources;
        let fetch: &Fetch = fetch;
        while next_to_write < resources.len() {
            while next_to_start < resources.len() {
                let Some(mut worker) = idle.pop() else { break };
                let index = next_to_start;
                running.push(async move {
                    let fetched = fetch_entitlements_and_grants(&mut worker, &resources[index], fetch).await;
                    (index, worker, fetched)
                });
                next_to_start += 1;
            }
            let Some((index, worker, fetched)) = running.next().await else { break };
            idle.push(worker);
            ready.insert(index, fetched?);
            while let Some(fetched) = ready.remove(&next_to_write) {
                progress.written.add_all(&fetched.entitlements, &fetch.budgets)?;
                progress.written.add_all(&fetched.grants, &fetch.budgets)?;
                let on = batch.converted[next_to_write].clone();
                let resource_type = on.id.as_ref().map(|i| i.resource_type.clone()).unwrap_or_default();
                let types = fetch.types.clone();
                writer.write(move |w| write_fetched(w, &fetched, &on, &types)).await?;
                next_to_write += 1;
                progress.resources_done = batch.first + next_to_write;
                checkpoints.observer.fetching(&resource_type, progress.resources_done, batch.total);
                checkpoints.save(writer, progress, false).await?;
            }
        }
        drop(running);
        *workers = idle;
        Ok(())
    }
}

/// At most ten names, then how many more.
pub fn abbreviated(names: &[String]) -> String {
    let mut text = names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 10 {
        text.push_str(&format!(" and {} more", names.len() - 10));
    }
    text
}

impl Progress {
    fn fresh(fingerprint: &str) -> Progress {
        Progress { version: PROGRESS_VERSION, fingerprint: fingerprint.to_string(), ..Progress::default() }
    }

    /// Where a sync is when the types before `type_index` are complete: nothing of the next one
    /// done yet, and what was written so far still counted.
    fn at_type(&self, type_index: usize) -> Progress {
        Progress { type_index, written: self.written, ..Progress::fresh(&self.fingerprint) }
    }
}

/// The writer and where to start: a fresh sync, or the checkpoint of an interrupted one of the
/// same kind (its store entries restored).
fn open_writer(out: &Path, store: &SharedStore, fingerprint: &str) -> Result<(C1zWriter, Progress)> {
    let (writer, saved) = C1zWriter::resume_or_create(out).with_context(|| format!("cannot start writing {}", out.display()))?;
    let Some(saved) = saved else { return Ok((writer, Progress::fresh(fingerprint))) };
    match serde_json::from_str::<Progress>(&saved) {
        Ok(progress) if progress.version == PROGRESS_VERSION && progress.fingerprint == fingerprint => {
            tracing::info!(sync_id = %writer.sync_id(), resource_type_index = progress.type_index, resources_done = progress.resources_done, "resuming an interrupted sync from its checkpoint");
            if let Ok(mut store) = store.lock() {
                store.restore(writer.session_entries()?);
            }
            Ok((writer, progress))
        }
        Err(unreadable) => {
            tracing::warn!("the interrupted sync's checkpoint is not one this program can read ({unreadable}): another program's or damaged; starting over");
            start_over(writer, out, fingerprint)
        }
        Ok(_) => {
            tracing::info!("an interrupted sync of another configuration (or of another version of this program) was found; starting over");
            start_over(writer, out, fingerprint)
        }
    }
}

/// Drops the interrupted sync `writer` reopened, and starts a fresh one into `out`.
fn start_over(writer: C1zWriter, out: &Path, fingerprint: &str) -> Result<(C1zWriter, Progress)> {
    drop(writer);
    C1zWriter::discard_unfinished(out);
    let (writer, _) = C1zWriter::resume_or_create(out)?;
    Ok((writer, Progress::fresh(fingerprint)))
}

/// What to fetch for each resource, and the resource types entitlements refer to.
struct Fetch {
    types: Arc<BTreeMap<String, pb::ResourceType>>,
    grants: bool,
    budgets: Budgets,
}

/// The entitlements and grants of one resource, as the contract returns them.
struct Fetched {
    entitlements: Vec<wit::Entitlement>,
    grants: Vec<wit::Grant>,
}

/// Resources read back from the file at a time for their entitlements and grants: memory stays
/// bounded however large a type is.
const BATCH: usize = 512;

/// Asks the writer for the [`BATCH`] resources of a type from the `first`-th on; the answer is
/// awaited when the batch before it is done, so the instances do not wait for the read.
async fn ask_for_batch(writer: &mut WriterThread, type_id: &str, first: usize) -> Result<writer_thread::Pending<Vec<pb::Resource>>> {
    let type_id = type_id.to_owned();
    writer.ask(move |w| Ok(w.resources_of_type_page(&type_id, first, BATCH)?)).await
}

/// Consecutive resources of one type, from the `first`-th of `total`: as the contract hands
/// them to the component, and as they are stored.
struct Batch<'a> {
    first: usize,
    resources: &'a [wit::Resource],
    converted: &'a [pb::Resource],
    total: usize,
}

/// Writes one resource's entitlements and grants (on the writer thread).
fn write_fetched(writer: &mut C1zWriter, fetched: &Fetched, on: &pb::Resource, types: &BTreeMap<String, pb::ResourceType>) -> Result<()> {
    for entitlement in &fetched.entitlements {
        writer.put_entitlement(&convert::entitlement(entitlement, on, types))?;
    }
    let embedded = convert::embedded_in_grants(on);
    for grant in &fetched.grants {
        writer.put_grant(&convert::grant(grant, &embedded))?;
    }
    Ok(())
}

async fn fetch_entitlements_and_grants(connector: &mut impl ConnectorCalls, resource: &wit::Resource, fetch: &Fetch) -> Result<Fetched> {
    let call = format!("{}:{}", resource.id.resource_type, resource.id.resource);
    let mut held = Held { bytes: 0, budgets: &fetch.budgets };
    let entitlements = all_pages(&format!("list-entitlements({call})"), &mut held, async |token| {
        let page = connector.list_entitlements(resource, token).await?;
        Ok((page.items, page.next_page_token))
    })
    .await?;
    if !fetch.grants {
        return Ok(Fetched { entitlements, grants: Vec::new() });
    }
    let grants = all_pages(&format!("list-grants({call})"), &mut held, async |token| {
        let page = connector.list_grants(resource, token).await?;
        Ok((page.items, page.next_page_token))
    })
    .await?;
    Ok(Fetched { entitlements, grants })
}

/// The most entitlements or grants one resource may have: they are held in memory until the
/// resource is written, so a component that never stops paging must not exhaust the host (a
/// count, beside the bytes of [`Budgets::resource_bytes`], for items of almost no text).
const MAX_ITEMS_PER_RESOURCE: usize = 5_000_000;

/// What one resource's entitlements and grants hold so far, against its budget.
struct Held<'a> {
    bytes: u64,
    budgets: &'a Budgets,
}

/// Every item of a paged call, following its page tokens (guarded against an unchanged one),
/// counted into what the resource holds.
async fn all_pages<T: Weigh>(call: &str, held: &mut Held<'_>, mut page: impl AsyncFnMut(Option<&str>) -> Result<(Vec<T>, Option<String>)>) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut trail = TokenTrail::starting_at(None);
    loop {
        let (items, next) = page(token.as_deref()).await?;
        held.bytes += budget::weight_of(&items);
        held.budgets.check_resource(call, held.bytes)?;
        all.extend(items);
        if all.len() > MAX_ITEMS_PER_RESOURCE {
            bail!("{call} returned more than {MAX_ITEMS_PER_RESOURCE} items for one resource; stopping (a connector bug, or a hostile component)");
        }
        match trail.next(next, call)? {
            Some(next) => token = Some(next),
            None => return Ok(all),
        }
    }
}

/// The largest page token a host keeps (the page-token budget). A token says where a list goes
/// on, not what it holds; kept in memory and in every checkpoint, it must stay small.
pub const MAX_PAGE_TOKEN_BYTES: usize = 8192;

/// The page tokens one list has used: a token seen before (the same one again, or a cycle
/// A -> B -> A) would loop forever, so it stops the sync naming the call; so does a token over
/// [`MAX_PAGE_TOKEN_BYTES`]. Public so a checker of components (`component test`) applies the
/// rule the engine applies.
pub struct TokenTrail {
    seen: std::collections::HashSet<String>,
}

impl TokenTrail {
    /// A list at its start (`None`) or resumed at `current`.
    pub fn starting_at(current: Option<&str>) -> TokenTrail {
        TokenTrail { seen: current.map(str::to_string).into_iter().collect() }
    }

    /// The token for the next call, none at the end.
    pub fn next(&mut self, next: Option<String>, call: &str) -> Result<Option<String>> {
        match next {
            Some(next) if next.is_empty() => Ok(None),
            Some(next) if next.len() > MAX_PAGE_TOKEN_BYTES => bail!(
                "{call} returned a page token of {} bytes, over the page-token budget of {MAX_PAGE_TOKEN_BYTES} bytes (a token says where a list goes on, not what it holds: a connector bug, or a hostile component); stopping",
                next.len()
            ),
            Some(next) if !self.seen.insert(next.clone()) => {
                bail!(
                    "{call} returned a page token it had returned before ({next:?}): the pages go round in a cycle (a connector bug); stopping instead of looping"
                )
            }
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::C1zReader;
    use std::path::PathBuf;

    /// A connector of two types held in memory: `user` (listed: ada) and `group` (listed: eng,
    /// whose members are ada, bob and ghost). `get-resource` finds ada, bob and eng; ghost is
    /// not found. Every call is recorded.
    #[derive(Default, Clone)]
    struct Fake {
        calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        /// List this many groups `g0`, `g1`, ... instead of `eng`.
        groups: usize,
        /// Bytes of padding in each grant's id.
        grant_padding: usize,
        /// Records the instance's drop.
        _drop_note: Option<DropNote>,
    }

    /// Records, when dropped, whether `file` was there by then.
    #[derive(Clone)]
    struct DropNote {
        file: PathBuf,
        calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Drop for DropNote {
        fn drop(&mut self) {
            self.calls.lock().unwrap().push(format!("dropped, the file written: {}", self.file.exists()));
        }
    }

    impl Fake {
        fn record(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    fn id(resource_type: &str, resource: &str) -> wit::ResourceId {
        wit::ResourceId { resource_type: resource_type.into(), resource: resource.into() }
    }

    fn resource(resource_type: &str, name: &str) -> wit::Resource {
        let user = (resource_type == "user").then(|| wit::UserTrait {
            login: name.into(),
            emails: vec![],
            status: wit::Status::Enabled,
            account_type: wit::AccountType::Human,
        });
        wit::Resource {
            id: id(resource_type, name),
            parent: None,
            display_name: name.into(),
            description: String::new(),
            status: wit::Status::Enabled,
            user,
            group: None,
            profile: vec![],
            external_link: None,
        }
    }

    fn resource_type(id: &str, traits: Vec<wit::ResourceTrait>, skip: bool) -> wit::ResourceType {
        wit::ResourceType { id: id.into(), display_name: id.into(), description: String::new(), traits, skip_entitlements_and_grants: skip }
    }

    impl ConnectorCalls for Fake {
        async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, CallError> {
            Ok(vec![resource_type("user", vec![wit::ResourceTrait::User], true), resource_type("group", vec![wit::ResourceTrait::Group], false)])
        }
        async fn list_resources(&mut self, type_id: &str, _: Option<&wit::ResourceId>, _: Option<&str>) -> Result<wit::ResourcePage, CallError> {
            self.record(format!("list {type_id}"));
            let items = match type_id {
                "user" => vec![resource("user", "ada")],
                _ if self.groups > 0 => (0..self.groups).map(|n| resource("group", &format!("g{n}"))).collect(),
                _ => vec![resource("group", "eng")],
            };
            Ok(wit::ResourcePage { items, next_page_token: None })
        }
        async fn get_resource(&mut self, id: &wit::ResourceId, _: Option<&wit::ResourceId>) -> Result<wit::Resource, CallError> {
            self.record(format!("get {}:{}", id.resource_type, id.resource));
            match (id.resource_type.as_str(), id.resource.as_str()) {
                ("user", "ada" | "bob") | ("group", "eng") => Ok(resource(&id.resource_type, &id.resource)),
                _ => Err(CallError::Connector { call: "get-resource".into(), error: wit::ConnectorError::NotFound("no such user".into()) }),
            }
        }
        async fn list_entitlements(&mut self, r: &wit::Resource, _: Option<&str>) -> Result<wit::EntitlementPage, CallError> {
            let member = wit::Entitlement {
                id: format!("group:{}:member", r.id.resource),
                resource: r.id.clone(),
                slug: "member".into(),
                display_name: "Member".into(),
                description: String::new(),
                purpose: wit::Purpose::Assignment,
                grantable_to: vec!["user".into()],
            };
            Ok(wit::EntitlementPage { items: vec![member], next_page_token: None })
        }
        async fn list_grants(&mut self, r: &wit::Resource, _: Option<&str>) -> Result<wit::GrantPage, CallError> {
            let grant = |user: &str| wit::Grant {
                id: format!("group:{}:member:user:{user}{}", r.id.resource, "-".repeat(self.grant_padding)),
                entitlement_id: format!("group:{}:member", r.id.resource),
                entitlement_resource: r.id.clone(),
                principal: id("user", user),
                expansion: None,
            };
            Ok(wit::GrantPage { items: vec![grant("ada"), grant("bob"), grant("ghost")], next_page_token: None })
        }
    }

    fn resource_ids(file: &Path) -> Vec<String> {
        let reader = C1zReader::open(file).unwrap();
        let mut ids: Vec<String> =
            reader.resources(None).unwrap().iter().map(|r| r.id.as_ref().map(|i| format!("{}:{}", i.resource_type, i.resource)).unwrap_or_default()).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn principals_no_list_returned_are_looked_up_and_the_rest_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let fake = Fake::default();
        let report = full_sync(vec![fake.clone()], &file, &SharedStore::default(), "fake", &SyncOptions::default(), &Budgets::default(), &Quiet).await.unwrap();
        assert_eq!(report.principals, PrincipalCheck { looked_up: 1, dangling: vec!["user:ghost".into()] });
        assert_eq!(*fake.calls.lock().unwrap(), vec!["list user", "list group", "get user:bob", "get user:ghost"]);
        assert_eq!(resource_ids(&file), vec!["group:eng", "user:ada", "user:bob"]);
        assert_eq!(C1zReader::open(&file).unwrap().grants().unwrap().len(), 3, "the grant to ghost is kept");
    }

    #[tokio::test]
    async fn the_instances_are_let_go_before_the_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sync.c1z");
        let calls = std::sync::Arc::default();
        let note = DropNote { file: file.clone(), calls: std::sync::Arc::clone(&calls) };
        let workers = (0..2).map(|_| Fake { calls: std::sync::Arc::clone(&calls), _drop_note: Some(note.clone()), ..Fake::default() }).collect();
        drop(note);
        full_sync(workers, &file, &SharedStore::default(), "fake", &SyncOptions::default(), &Budgets::default(), &Quiet).await.unwrap();
        let drops: Vec<String> = calls.lock().unwrap().iter().filter(|call| call.starts_with("dropped")).cloned().collect();
        assert_eq!(drops, vec!["dropped, the file written: false"; 3], "the test's own note, then both instances'");
        assert!(file.exists());
    }

    /// More resources than one batch read back: every one gets its entitlements and grants, on
    /// several workers, in resource order.
    #[tokio::test]
    async fn a_type_larger_than_a_batch_is_fetched_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let groups = BATCH + 90;
        let workers = vec![Fake { groups, ..Fake::default() }; 3];
        let report = full_sync(workers, &out, &SharedStore::default(), "fake", &SyncOptions::default(), &Budgets::default(), &Quiet).await.unwrap();
        assert_eq!((report.summary.entitlements, report.summary.grants), (groups as u64, 3 * groups as u64));
        let reader = C1zReader::open(&out).unwrap();
        let entitlements: Vec<String> = reader.entitlements().unwrap().into_iter().map(|e| e.id).collect();
        let expected: Vec<String> = (0..groups).map(|n| format!("group:g{n}:member")).collect();
        assert_eq!(entitlements, expected, "in resource order, each once");
    }

    #[tokio::test]
    async fn strict_fails_on_a_dangling_principal_and_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        std::fs::write(&out, b"the last good file").unwrap();
        let options = SyncOptions { strict: true, ..SyncOptions::default() };
        let error = full_sync(vec![Fake::default()], &out, &SharedStore::default(), "fake", &options, &Budgets::default(), &Quiet).await.unwrap_err();
        assert!(error.to_string().contains("user:ghost"), "{error:#}");
        assert_eq!(std::fs::read(&out).unwrap(), b"the last good file");
    }

    #[tokio::test]
    async fn a_targeted_sync_reads_only_its_targets_and_their_principals() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let options = SyncOptions { targets: vec![Target { id: ("group".into(), "eng".into()), parent: None }], ..SyncOptions::default() };
        let fake = Fake::default();
        let report = full_sync(vec![fake.clone()], &out, &SharedStore::default(), "fake", &options, &Budgets::default(), &Quiet).await.unwrap();
        assert_eq!(report.principals, PrincipalCheck { looked_up: 2, dangling: vec!["user:ghost".into()] });
        assert_eq!(*fake.calls.lock().unwrap(), vec!["get group:eng", "get user:ada", "get user:bob", "get user:ghost"], "nothing is listed");
        assert_eq!(resource_ids(&out), vec!["group:eng", "user:ada", "user:bob"]);
        let reader = C1zReader::open_with(&out, &Default::default()).unwrap();
        assert_eq!(reader.sync_runs().unwrap()[0].sync_type, "partial");
        assert_eq!(reader.entitlements().unwrap().len(), 1);
    }

    /// The default fake writes nine rows: two types, ada and eng, eng's entitlement, its three
    /// grants, and bob looked up. A budget of nine passes; of eight, the sync stops naming the
    /// setting and the previous file stays.
    #[tokio::test]
    async fn a_sync_writes_no_more_rows_than_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let budgets = |rows| Budgets { sync_rows: rows, ..Budgets::default() };
        let report = full_sync(vec![Fake::default()], &out, &SharedStore::default(), "fake", &SyncOptions::default(), &budgets(9), &Quiet).await.unwrap();
        let summary = &report.summary;
        assert_eq!(summary.resource_types + summary.resources + summary.entitlements + summary.grants, 9);
        let before = std::fs::read(&out).unwrap();
        let error = full_sync(vec![Fake::default()], &out, &SharedStore::default(), "fake", &SyncOptions::default(), &budgets(8), &Quiet).await.unwrap_err();
        assert!(format!("{error:#}").contains("resource exhausted: the sync would write more than 8 rows"), "{error:#}");
        assert!(format!("{error:#}").contains("--max-sync-rows"), "{error:#}");
        assert_eq!(std::fs::read(&out).unwrap(), before, "the previous file is kept");
    }

    /// One resource's grants are held until it is written: past its byte budget the sync stops
    /// before holding more, naming the call.
    #[tokio::test]
    async fn one_resource_holds_no_more_than_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let fake = Fake { grant_padding: 1 << 20, ..Fake::default() };
        let budgets = Budgets { resource_bytes: 2 << 20, ..Budgets::default() };
        let error = full_sync(vec![fake], &out, &SharedStore::default(), "fake", &SyncOptions::default(), &budgets, &Quiet).await.unwrap_err();
        let said = format!("{error:#}");
        assert!(said.contains("resource exhausted: list-grants(group:eng) returned more than 2 MiB") && said.contains("--max-resource-mb"), "{said}");
        assert!(!out.exists());
        let budgets = Budgets { resource_bytes: 4 << 20, ..Budgets::default() };
        let fake = Fake { grant_padding: 1 << 20, ..Fake::default() };
        full_sync(vec![fake], &out, &SharedStore::default(), "fake", &SyncOptions::default(), &budgets, &Quiet).await.unwrap();
    }

    /// Bytes count too.
    #[tokio::test]
    async fn a_sync_writes_no_more_bytes_than_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let fake = Fake { grant_padding: 1 << 20, ..Fake::default() };
        let budgets = Budgets { sync_bytes: 2 << 20, ..Budgets::default() };
        let error = full_sync(vec![fake], &out, &SharedStore::default(), "fake", &SyncOptions::default(), &budgets, &Quiet).await.unwrap_err();
        assert!(format!("{error:#}").contains("more than 2 MiB of rows") && format!("{error:#}").contains("--max-sync-mb"), "{error:#}");
        assert!(!out.exists());
    }

    #[tokio::test]
    async fn a_target_the_connector_cannot_find_fails_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sync.c1z");
        let options = SyncOptions { targets: vec![Target { id: ("group".into(), "nope".into()), parent: None }], ..SyncOptions::default() };
        let error = full_sync(vec![Fake::default()], &out, &SharedStore::default(), "fake", &options, &Budgets::default(), &Quiet).await.unwrap_err();
        assert!(format!("{error:#}").contains("group:nope"), "{error:#}");
        assert!(!out.exists());
    }

    /// The tally of what was written travels with each checkpoint, so a resumed sync counts what
    /// it resumed; a checkpoint of a build before the budgets reads as nothing written.
    #[test]
    fn checkpoints_carry_what_was_written() {
        let progress = Progress { written: Tally { rows: 7, bytes: 900 }, ..Progress::fresh("f") };
        let saved = serde_json::to_string(&progress).unwrap();
        assert_eq!(serde_json::from_str::<Progress>(&saved).unwrap(), progress);
        let older = r#"{"version":1,"fingerprint":"f","type_index":2,"listed":true,"page_token":null,"resources_done":5}"#;
        assert_eq!(serde_json::from_str::<Progress>(older).unwrap().written, Tally::default());
    }

    #[test]
    fn unchanged_tokens_are_refused() {
        let mut trail = TokenTrail::starting_at(Some("a"));
        assert!(trail.next(Some("a".into()), "x").is_err(), "the same token again");
        let mut trail = TokenTrail::starting_at(Some("a"));
        assert_eq!(trail.next(Some("b".into()), "x").unwrap(), Some("b".into()));
        assert_eq!(trail.next(Some("c".into()), "x").unwrap(), Some("c".into()));
        let cycle = trail.next(Some("a".into()), "list-resources(user)").unwrap_err().to_string();
        assert!(cycle.contains("list-resources(user)") && cycle.contains("cycle"), "{cycle}");
        assert_eq!(TokenTrail::starting_at(None).next(None, "x").unwrap(), None);
        assert_eq!(TokenTrail::starting_at(None).next(Some(String::new()), "x").unwrap(), None);
    }

    #[test]
    fn a_page_token_over_its_budget_stops_the_list() {
        let mut trail = TokenTrail::starting_at(None);
        assert_eq!(trail.next(Some("x".repeat(MAX_PAGE_TOKEN_BYTES)), "list-resources(user)").unwrap().map(|t| t.len()), Some(MAX_PAGE_TOKEN_BYTES));
        let refused = trail.next(Some("y".repeat(MAX_PAGE_TOKEN_BYTES + 1)), "list-resources(user)").unwrap_err().to_string();
        assert!(refused.contains("list-resources(user)") && refused.contains("page-token budget of 8192 bytes") && !refused.contains("yyyy"), "{refused}");
    }
}
