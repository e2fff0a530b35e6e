//! The sync engine. It knows baton's model, not Confluence: resource types, then each type's
//! resources page by page, then each resource's entitlements and grants, written into a
//! `.c1z`, checkpointed so a killed run resumes. It guards against connector bugs (a page
//! token that does not change) and reports counts. The output file is replaced only when the
//! whole sync succeeded: on any error the previous file is left untouched.

use crate::convert;
use crate::runtime::{CallError, Instance, wit};
use anyhow::{Context, Result, bail};
use baton_c1z::{C1zWriter, Summary, pb};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use crate::store::SharedStore;
use serde::{Deserialize, Serialize};

use std::path::Path;

/// The calls the engine makes; [`Instance`] implements it over the component.
pub trait ConnectorCalls {
    fn resource_types(&mut self) -> impl Future<Output = Result<Vec<wit::ResourceType>, CallError>>;
    fn list_resources(
        &mut self,
        type_id: &str,
        parent: Option<&wit::ResourceId>,
        token: Option<&str>,
    ) -> impl Future<Output = Result<wit::ResourcePage, CallError>>;
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
    async fn list_entitlements(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::EntitlementPage, CallError> {
        Instance::list_entitlements(self, resource, token).await
    }
    async fn list_grants(&mut self, resource: &wit::Resource, token: Option<&str>) -> Result<wit::GrantPage, CallError> {
        Instance::list_grants(self, resource, token).await
    }
}

/// What a sync wrote: the file's summary and, per resource type, how many resources by status.
#[derive(Debug)]
pub struct SyncReport {
    pub summary: Summary,
    pub resource_types: Vec<TypeCount>,
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
    /// Counts the resources of a type in the file being written, one at a time (a large
    /// directory is never all in memory for this).
    fn of(resource_type: &str, writer: &C1zWriter) -> Result<TypeCount> {
        let mut count = TypeCount { resource_type: resource_type.to_string(), ..TypeCount::default() };
        writer.each_resource_of_type(resource_type, |resource| {
            count.total += 1;
            match convert::wit_resource(&resource).status {
                wit::Status::Enabled => count.enabled += 1,
                wit::Status::Disabled | wit::Status::Deleted => count.disabled += 1,
                wit::Status::Unspecified => {}
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
}

impl SyncOptions {
    fn includes(&self, type_id: &str) -> bool {
        self.resource_type_ids.is_empty() || self.resource_type_ids.iter().any(|t| t == type_id)
    }

    /// The `sync_type` baton records for such a sync.
    fn sync_type(&self) -> &'static str {
        if self.skip_entitlements_and_grants {
            "resources_only"
        } else if self.resource_type_ids.is_empty() && !self.skip_grants {
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
    fn save(&mut self, writer: &mut C1zWriter, progress: &Progress, force: bool) -> Result<()> {
        if !force && self.last.elapsed() < CHECKPOINT_EVERY {
            return Ok(());
        }
        let changed = self.store.lock().map(|mut s| s.take_changed()).unwrap_or_default();
        writer.checkpoint(&serde_json::to_string(progress)?, &changed)?;
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
    mut workers: Vec<C>,
    out: &Path,
    store: &SharedStore,
    fingerprint: &str,
    options: &SyncOptions,
    observer: &dyn Observer,
) -> Result<SyncReport> {
    anyhow::ensure!(!workers.is_empty(), "a sync needs at least one connector instance");
    let fingerprint = format!("{fingerprint} {options:?}");
    let (mut writer, mut progress) = open_writer(out, store, &fingerprint)?;
    writer.set_sync_type(options.sync_type())?;
    let mut checkpoints = Checkpoints { store, last: Instant::now(), observer };
    let offered = workers[0].resource_types().await?;
    let unknown: Vec<&String> = options.resource_type_ids.iter().filter(|id| !offered.iter().any(|t| &t.id == *id)).collect();
    anyhow::ensure!(unknown.is_empty(), "the connector has no resource type {unknown:?}; it offers {:?}", offered.iter().map(|t| &t.id).collect::<Vec<_>>());
    // Entitlements name the types they are grantable to, so every offered type is converted.
    let pb_types: BTreeMap<String, pb::ResourceType> =
        offered.iter().map(|t| (t.id.clone(), convert::resource_type(t))).collect();
    let types: Vec<wit::ResourceType> = offered.into_iter().filter(|t| options.includes(&t.id)).collect();
    for (_, pb_type) in pb_types.iter().filter(|(id, _)| options.includes(id)) {
        writer.put_resource_type(pb_type)?;
    }
    for (index, rt) in types.iter().enumerate().skip(progress.type_index) {
        if !progress.listed {
            list_all_resources(&mut workers[0], &rt.id, &mut writer, &mut progress, &mut checkpoints).await?;
        }
        tracing::info!(resource_type = %rt.id, "listed resources");
        if !rt.skip_entitlements_and_grants && !options.skip_entitlements_and_grants {
            let stored = writer.resources_of_type(&rt.id)?;
            let resources: Vec<wit::Resource> = stored.iter().map(convert::wit_resource).collect();
            let fetch = Fetch { types: &pb_types, grants: !options.skip_grants };
            workers = sync_entitlements_and_grants(workers, &mut writer, &resources, &stored, &fetch, &mut progress, &mut checkpoints).await?;
        }
        progress = Progress { type_index: index + 1, ..Progress::fresh(&fingerprint) };
        checkpoints.save(&mut writer, &progress, true)?;
    }
    let counts = types.iter().map(|rt| TypeCount::of(&rt.id, &writer)).collect::<Result<Vec<_>>>()?;
    let summary = writer.finish().with_context(|| format!("cannot write {}", out.display()))?;
    Ok(SyncReport { summary, resource_types: counts })
}

impl Progress {
    fn fresh(fingerprint: &str) -> Progress {
        Progress { version: PROGRESS_VERSION, fingerprint: fingerprint.to_string(), ..Progress::default() }
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
        _ => {
            tracing::info!("an interrupted sync of another configuration was found; starting over");
            drop(writer);
            discard_partial(out);
            let (writer, _) = C1zWriter::resume_or_create(out)?;
            Ok((writer, Progress::fresh(fingerprint)))
        }
    }
}

/// Removes the checkpoint of an interrupted sync beside `out`, if any.
fn discard_partial(out: &Path) {
    if let (Some(dir), Some(name)) = (out.parent(), out.file_name()) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let _ = std::fs::remove_dir_all(dir.join(format!(".{}.partial", name.to_string_lossy())));
    }
}

async fn list_all_resources(
    connector: &mut impl ConnectorCalls,
    type_id: &str,
    writer: &mut C1zWriter,
    progress: &mut Progress,
    checkpoints: &mut Checkpoints<'_>,
) -> Result<()> {
    let listed = &mut 0usize;
    loop {
        let page = connector.list_resources(type_id, None, progress.page_token.as_deref()).await?;
        for resource in &page.items {
            writer.put_resource(&convert::resource(resource))?;
            *listed += 1;
        }
        checkpoints.observer.listing(type_id, *listed);
        let next = next_token(progress.page_token.as_deref(), page.next_page_token, &format!("list-resources({type_id})"))?;
        progress.listed = next.is_none();
        progress.page_token = next;
        checkpoints.save(writer, progress, progress.listed)?;
        if progress.listed {
            return Ok(());
        }
    }
}

/// What to fetch for each resource, and the resource types entitlements refer to.
struct Fetch<'a> {
    types: &'a BTreeMap<String, pb::ResourceType>,
    grants: bool,
}

/// The entitlements and grants of one resource, as the contract returns them.
struct Fetched {
    entitlements: Vec<wit::Entitlement>,
    grants: Vec<wit::Grant>,
}

/// Fetches every resource's entitlements and grants on all workers at once and writes them in
/// resource order; gives the workers back.
async fn sync_entitlements_and_grants<C: ConnectorCalls>(
    workers: Vec<C>,
    writer: &mut C1zWriter,
    resources: &[wit::Resource],
    converted: &[pb::Resource],
    fetch: &Fetch<'_>,
    progress: &mut Progress,
    checkpoints: &mut Checkpoints<'_>,
) -> Result<Vec<C>> {
    let mut idle = workers;
    let mut running = FuturesUnordered::new();
    let mut ready: BTreeMap<usize, Fetched> = BTreeMap::new();
    let (mut next_to_start, mut next_to_write) = (progress.resources_done, progress.resources_done);
    while next_to_write < resources.len() {
        while next_to_start < resources.len() {
            let Some(mut worker) = idle.pop() else { break };
            let index = next_to_start;
            running.push(async move {
                let fetched = fetch_entitlements_and_grants(&mut worker, &resources[index], fetch.grants).await;
                (index, worker, fetched)
            });
            next_to_start += 1;
        }
        let Some((index, worker, fetched)) = running.next().await else { break };
        idle.push(worker);
        ready.insert(index, fetched?);
        while let Some(fetched) = ready.remove(&next_to_write) {
            let on = &converted[next_to_write];
            for entitlement in &fetched.entitlements {
                writer.put_entitlement(&convert::entitlement(entitlement, on, fetch.types))?;
            }
            for grant in &fetched.grants {
                writer.put_grant(&convert::grant(grant, on))?;
            }
            next_to_write += 1;
            progress.resources_done = next_to_write;
            checkpoints.observer.fetching(&on.id.as_ref().map(|i| i.resource_type.clone()).unwrap_or_default(), next_to_write, resources.len());
            checkpoints.save(writer, progress, false)?;
        }
    }
    drop(running);
    Ok(idle)
}

async fn fetch_entitlements_and_grants(connector: &mut impl ConnectorCalls, resource: &wit::Resource, with_grants: bool) -> Result<Fetched> {
    let call = format!("{}:{}", resource.id.resource_type, resource.id.resource);
    let entitlements = all_pages(&format!("list-entitlements({call})"), async |token| {
        let page = connector.list_entitlements(resource, token).await?;
        Ok((page.items, page.next_page_token))
    })
    .await?;
    if !with_grants {
        return Ok(Fetched { entitlements, grants: Vec::new() });
    }
    let grants = all_pages(&format!("list-grants({call})"), async |token| {
        let page = connector.list_grants(resource, token).await?;
        Ok((page.items, page.next_page_token))
    })
    .await?;
    Ok(Fetched { entitlements, grants })
}

/// Every item of a paged call, following its page tokens (guarded against an unchanged one).
async fn all_pages<T>(call: &str, mut page: impl AsyncFnMut(Option<&str>) -> Result<(Vec<T>, Option<String>)>) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (items, next) = page(token.as_deref()).await?;
        all.extend(items);
        match next_token(token.as_deref(), next, call)? {
            Some(next) => token = Some(next),
            None => return Ok(all),
        }
    }
}

/// The token for the next call, none at the end; an unchanged token is a connector bug that
/// would loop forever.
fn next_token(current: Option<&str>, next: Option<String>, call: &str) -> Result<Option<String>> {
    match next {
        Some(next) if Some(next.as_str()) == current => {
            bail!("{call} returned the same page token twice ({next:?}): likely a connector bug; stopping instead of looping")
        }
        Some(next) if next.is_empty() => Ok(None),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_tokens_are_refused() {
        assert!(next_token(Some("a"), Some("a".into()), "x").is_err());
        assert_eq!(next_token(Some("a"), Some("b".into()), "x").unwrap(), Some("b".into()));
        assert_eq!(next_token(None, None, "x").unwrap(), None);
    }
}
