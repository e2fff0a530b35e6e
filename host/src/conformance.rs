//! `component test`: the conformance kit. Runs a component against a target (`--against URL`,
//! `--config name=value`) and checks it keeps the `baton:connector` contract, one line per
//! check, failing when any fails. What each check asks, and why a host needs it, is in
//! docs/conformance.md; the checks here are in the same order.

use crate::component;
use crate::connector::{Connector, offline_context};
use crate::limits::RunLimits;
use crate::outbound::{self, ConnectionFlags};
use crate::product::Product;
use crate::registry::RegistryOptions;
use crate::settings;
use anyhow::Result;
use baton_c1z::C1zReader;
use baton_sandbox::runtime::{CallError, Instance, Limits};
use baton_sandbox::wit::{self, AuthScheme, ConnectorError, FieldKind, Metadata};
use baton_sync::{Observer, Quiet, SyncOptions, TokenTrail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// `component test PATH|oci://... [--config NAME=VALUE ...] [--against URL]`.
#[derive(Debug, Clone)]
pub struct ComponentTest {
    pub reference: Option<String>,
    pub registry: RegistryOptions,
    /// Settings as `--config` gave them (secrets too; `BATON_<NAME>` fills those not given).
    pub config: Vec<(String, String)>,
    /// The target: the value of the component's origin field.
    pub against: Option<String>,
    /// Most pages one list may take before it is called endless (`--max-pages`).
    pub max_pages: usize,
}

/// Most principals looked up one by one with `get-resource`.
const MAX_LOOKUPS: usize = 200;

/// One check's verdict: what it found, or why it failed.
type Verdict = std::result::Result<String, String>;

/// The report, one line per check, and whether every check passed.
pub async fn run(product: &Product, test: &ComponentTest) -> Result<(String, bool)> {
    let found = component::find(product, test.reference.as_deref(), &test.registry).await?;
    let runtime = &found.runtime;
    let metadata = runtime.instantiate(offline_context(), &Limits::default()).await?.metadata().await?;
    let mut checks: Vec<(&str, Verdict)> = vec![("metadata is valid", check_metadata(&metadata))];
    let settings = match settings::resolve(&metadata, given_settings(&metadata, test)) {
        Ok(settings) => settings,
        Err(error) => return Ok(report(checks, Some(format!("cannot configure it: {error:#}")))),
    };
    let outbound = outbound::client(&settings.origin, &ConnectionFlags::default(), 4)?;
    let connector = Connector { runtime, limits: RunLimits::default(), settings, outbound, strict: false, lock_wait: Default::default() };
    let context = connector.sync_context();
    let mut instance = runtime.instantiate(context.clone(), &connector.limits.instance).await?;
    checks.push(("validate accepts the configuration", instance.validate().await.map_err(|e| e.to_string())));
    let types = resource_types_are_stable(&mut instance, &metadata).await;
    let walked = match &types {
        Ok(types) => walk(&mut instance, types, test.max_pages).await,
        Err(why) => Err(format!("not walked: {why}")),
    };
    checks.push(("resource types are stable and declared", types.as_ref().map(|t| format!("{} types", t.len())).map_err(Clone::clone)));
    checks.push(("every list pages to an end with changing tokens", walked.as_ref().map(Walk::describe).map_err(Clone::clone)));
    checks.push(("resource, entitlement and grant ids are unique", walked.as_ref().map_err(Clone::clone).and_then(Walk::unique)));
    checks.push((
        "every grant names an entitlement and a principal that exist",
        match &walked {
            Ok(walk) => walk.references_hold(&mut instance).await,
            Err(why) => Err(format!("not checked: {why}")),
        },
    ));
    checks.push((
        "ids are the same in a second run",
        match (&types, &walked) {
            (Ok(types), Ok(first)) => same_ids_again(&connector, types, first, test.max_pages).await,
            _ => Err("not checked: the first run failed".into()),
        },
    ));
    checks.push(("errors are typed", errors_are_typed(&connector, &metadata, types.as_deref().unwrap_or_default()).await));
    checks.push((
        "a sync stopped between calls resumes to the same result",
        match &walked {
            Ok(_) => resumes_to_the_same_result(&connector).await,
            Err(_) => Err("not checked: the lists do not end".into()),
        },
    ));
    let refused = context.hooks.report().refused;
    checks.push((
        "no request left the declared egress",
        if refused == 0 { Ok("none refused".into()) } else { Err(format!("{refused} requests refused by the egress policy")) },
    ));
    Ok(report(checks, None))
}

fn report(checks: Vec<(&str, Verdict)>, stopped: Option<String>) -> (String, bool) {
    let mut text = String::new();
    for (name, verdict) in &checks {
        match verdict {
            Ok(detail) => text.push_str(&format!("ok    {name}: {detail}\n")),
            Err(why) => text.push_str(&format!("FAIL  {name}: {why}\n")),
        }
    }
    if let Some(why) = &stopped {
        text.push_str(&format!("FAIL  {why}\n"));
    }
    let total = checks.len() + usize::from(stopped.is_some());
    let passed = checks.iter().filter(|(_, verdict)| verdict.is_ok()).count();
    text.push_str(&format!("{total} checks: {passed} passed, {} failed\n", total - passed));
    (text, passed == total)
}

/// `BATON_<NAME>` for every setting, then `--config`, then `--against` for the origin field.
fn given_settings(metadata: &Metadata, test: &ComponentTest) -> BTreeMap<String, String> {
    let mut given = BTreeMap::new();
    for field in &metadata.config {
        if let Ok(value) = std::env::var(settings::env_name(&field.name)) {
            given.insert(field.name.clone(), value);
        }
    }
    given.extend(test.config.iter().cloned());
    if let Some(url) = &test.against {
        given.insert(metadata.auth.origin_field.clone(), url.clone());
    }
    given
}

/// Setting names, the origin field (a required URL), the auth schemes' fields (declared, the
/// credential ones secret) and the declared requests.
fn check_metadata(metadata: &Metadata) -> Verdict {
    settings::check_schema(metadata).map_err(|e| e.to_string())?;
    let field = |name: &str| metadata.config.iter().find(|f| f.name == name);
    let origin = field(&metadata.auth.origin_field).ok_or("no origin field")?;
    if origin.kind != FieldKind::Url || !origin.required {
        return Err(format!("the origin field {:?} must be a required url setting", origin.name));
    }
    let mut names = BTreeSet::new();
    if let Some(twice) = metadata.config.iter().find(|f| !names.insert(f.name.as_str())) {
        return Err(format!("the setting {:?} is declared twice", twice.name));
    }
    for scheme in &metadata.auth.schemes {
        let (fields, credential) = match scheme {
            AuthScheme::Bearer(token) => (vec![token.as_str()], token.as_str()),
            AuthScheme::Basic(basic) => (vec![basic.username_field.as_str(), basic.password_field.as_str()], basic.password_field.as_str()),
        };
        if let Some(missing) = fields.iter().find(|name| field(name).is_none()) {
            return Err(format!("an auth scheme uses the setting {missing:?}, which is not declared"));
        }
        if field(credential).is_some_and(|f| !f.secret) {
            return Err(format!("the credential setting {credential:?} is not declared secret"));
        }
    }
    let declared = settings::declared(metadata).map_err(|e| e.to_string())?;
    let (reads, changes) = declared.listed();
    Ok(format!(
        "{} settings, origin {:?}, {} auth schemes, {} declared reads beyond GET and HEAD and {} changes",
        metadata.config.len(),
        origin.name,
        metadata.auth.schemes.len(),
        reads.len(),
        changes.len()
    ))
}

async fn resource_types_are_stable(instance: &mut Instance, metadata: &Metadata) -> std::result::Result<Vec<wit::ResourceType>, String> {
    let first = instance.resource_types().await.map_err(|e| e.to_string())?;
    let second = instance.resource_types().await.map_err(|e| e.to_string())?;
    if format!("{first:?}") != format!("{second:?}") {
        return Err("two calls of resource-types answered differently".into());
    }
    if first.is_empty() {
        return Err("no resource types".into());
    }
    let ids: BTreeSet<&str> = first.iter().map(|t| t.id.as_str()).collect();
    if ids.len() != first.len() {
        return Err("a resource type id is listed twice".into());
    }
    if let Some(unknown) = metadata.capabilities.iter().find(|c| !ids.contains(c.resource_type_id.as_str())) {
        return Err(format!("the metadata declares capabilities of {:?}, which resource-types does not list", unknown.resource_type_id));
    }
    Ok(first)
}

/// Everything one run lists, as listed (duplicates kept, to be found).
#[derive(Default)]
struct Walk {
    resources: Vec<wit::Resource>,
    entitlements: Vec<wit::Entitlement>,
    grants: Vec<wit::Grant>,
    pages: usize,
}

/// Pages of one list, following its tokens by the engine's rule ([`TokenTrail`]: a token seen
/// before, or one over the page-token budget, is an error): the items and the pages they took;
/// an error too for a list that does not end within `max_pages`.
async fn pages<T, F>(what: &str, max_pages: usize, mut next: F) -> std::result::Result<(Vec<T>, usize), String>
where
    F: AsyncFnMut(Option<String>) -> std::result::Result<(Vec<T>, Option<String>), CallError>,
{
    let (mut items, mut trail, mut token) = (Vec::new(), TokenTrail::starting_at(None), None::<String>);
    for page in 1..=max_pages {
        let (mut batch, following) = next(token.clone()).await.map_err(|e| format!("{what}: {e}"))?;
        items.append(&mut batch);
        match trail.next(following, what).map_err(|e| e.to_string())? {
            None => return Ok((items, page)),
            Some(t) => token = Some(t),
        }
    }
    Err(format!("{what} did not end within {max_pages} pages (--max-pages)"))
}

async fn walk(instance: &mut Instance, types: &[wit::ResourceType], max_pages: usize) -> std::result::Result<Walk, String> {
    let mut walk = Walk::default();
    for rt in types {
        let what = format!("list-resources({})", rt.id);
        let (resources, n) =
            pages(&what, max_pages, async |token| instance.list_resources(&rt.id, None, token.as_deref()).await.map(|p| (p.items, p.next_page_token))).await?;
        walk.pages += n;
        for resource in resources {
            if !rt.skip_entitlements_and_grants {
                let id = resource_key(&resource.id);
                let (mut entitlements, n) = pages(&format!("list-entitlements({id})"), max_pages, async |token| {
                    instance.list_entitlements(&resource, token.as_deref()).await.map(|p| (p.items, p.next_page_token))
                })
                .await?;
                if let Some(stray) = entitlements.iter().find(|e| resource_key(&e.resource) != resource_key(&resource.id)) {
                    return Err(format!("entitlement {} of {id} names another resource", stray.id));
                }
                let (mut grants, m) = pages(&format!("list-grants({id})"), max_pages, async |token| {
                    instance.list_grants(&resource, token.as_deref()).await.map(|p| (p.items, p.next_page_token))
                })
                .await?;
                walk.pages += n + m;
                walk.entitlements.append(&mut entitlements);
                walk.grants.append(&mut grants);
            }
            walk.resources.push(resource);
        }
    }
    Ok(walk)
}

fn resource_key(id: &wit::ResourceId) -> String {
    format!("{}:{}", id.resource_type, id.resource)
}

impl Walk {
    fn describe(&self) -> String {
        format!("{} resources, {} entitlements, {} grants in {} pages", self.resources.len(), self.entitlements.len(), self.grants.len(), self.pages)
    }

    fn ids(&self) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
        (
            self.resources.iter().map(|r| resource_key(&r.id)).collect(),
            self.entitlements.iter().map(|e| e.id.clone()).collect(),
            self.grants.iter().map(|g| g.id.clone()).collect(),
        )
    }

    fn unique(&self) -> Verdict {
        let (resources, entitlements, grants) = self.ids();
        for (kind, distinct, listed) in [
            ("resource", resources.len(), self.resources.len()),
            ("entitlement", entitlements.len(), self.entitlements.len()),
            ("grant", grants.len(), self.grants.len()),
        ] {
            if distinct != listed {
                return Err(format!("{} {kind} ids listed more than once", listed - distinct));
            }
        }
        Ok("no id listed twice".into())
    }

    async fn references_hold(&self, instance: &mut Instance) -> Verdict {
        let (resources, entitlements, _) = self.ids();
        if let Some(orphan) = self.grants.iter().find(|g| !entitlements.contains(&g.entitlement_id)) {
            return Err(format!("grant {} names the entitlement {}, which no resource lists", orphan.id, orphan.entitlement_id));
        }
        let strangers: BTreeMap<String, &wit::ResourceId> =
            self.grants.iter().map(|g| (resource_key(&g.principal), &g.principal)).filter(|(key, _)| !resources.contains(key)).collect();
        for principal in strangers.values().take(MAX_LOOKUPS) {
            if let Err(error) = instance.get_resource(principal, None).await {
                return Err(format!("the principal {} of a grant is neither listed nor found by get-resource ({error})", resource_key(principal)));
            }
        }
        Ok(format!("{} grants; {} principals found with get-resource", self.grants.len(), strangers.len().min(MAX_LOOKUPS)))
    }
}

async fn same_ids_again(connector: &Connector<'_>, types: &[wit::ResourceType], first: &Walk, max_pages: usize) -> Verdict {
    let mut instance = connector.runtime.instantiate(connector.sync_context(), &connector.limits.instance).await.map_err(|e| e.to_string())?;
    let second = walk(&mut instance, types, max_pages).await?;
    let (a, b) = (first.ids(), second.ids());
    for (kind, x, y) in [("resource", &a.0, &b.0), ("entitlement", &a.1, &b.1), ("grant", &a.2, &b.2)] {
        if let Some(id) = x.symmetric_difference(y).next() {
            return Err(format!("the {kind} {id} is in one run and not the other"));
        }
    }
    Ok(format!("{} ids", a.0.len() + a.1.len() + a.2.len()))
}

/// A made-up id asked of each type that offers single lookups must be `not-found`, and a wrong
/// credential must be `unauthenticated` or `permission-denied`: never `internal`, which a host
/// cannot act on.
async fn errors_are_typed(connector: &Connector<'_>, metadata: &Metadata, types: &[wit::ResourceType]) -> Verdict {
    let mut said = Vec::new();
    let mut instance = connector.runtime.instantiate(connector.sync_context(), &connector.limits.instance).await.map_err(|e| e.to_string())?;
    let lookups = metadata.capabilities.iter().filter(|c| c.capabilities.contains(&wit::Capability::TargetedSync));
    for capability in lookups.filter(|c| types.iter().any(|t| t.id == c.resource_type_id)) {
        let made_up = wit::ResourceId { resource_type: capability.resource_type_id.clone(), resource: "conformance-kit-no-such-id-7f3a".into() };
        match instance.get_resource(&made_up, None).await {
            Err(CallError::Connector { error: ConnectorError::NotFound(_), .. }) => said.push(format!("get-resource({}) not-found", made_up.resource_type)),
            Ok(_) => return Err(format!("get-resource found the made-up {}", resource_key(&made_up))),
            Err(other) => return Err(format!("get-resource of a made-up {} answered {other}, not not-found", made_up.resource_type)),
        }
    }
    if !metadata.auth.schemes.is_empty() {
        let bogus = http::HeaderValue::from_static("Bearer conformance-kit-wrong-credential");
        let mut wrong = connector.runtime.instantiate(connector.sync_context_with(Some(bogus)), &connector.limits.instance).await.map_err(|e| e.to_string())?;
        match wrong.validate().await {
            Err(CallError::Connector { error: ConnectorError::Unauthenticated(_) | ConnectorError::PermissionDenied(_), .. }) => {
                said.push("a wrong credential unauthenticated".into())
            }
            Ok(who) => return Err(format!("validate accepted a wrong credential ({who})")),
            Err(other) => return Err(format!("validate with a wrong credential answered {other}, not unauthenticated")),
        }
    }
    Ok(if said.is_empty() { "nothing to provoke (no single lookups, no credential)".into() } else { said.join(", ") })
}

/// Stops a sync after its first checkpoint with rows in it.
struct StopAfterRows {
    rows: AtomicU64,
    stop: tokio::sync::Notify,
}

impl Observer for StopAfterRows {
    fn listing(&self, _: &str, _: usize) {}
    fn fetching(&self, _: &str, _: usize, _: usize) {}
    fn wrote(&self, rows: u64) {
        if rows > 0 && self.rows.swap(rows, Ordering::Relaxed) == 0 {
            self.stop.notify_one();
        }
    }
}

/// A sync dropped after its first checkpoint and run again (it resumes) holds what an
/// uninterrupted sync holds.
async fn resumes_to_the_same_result(connector: &Connector<'_>) -> Verdict {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (whole, resumed) = (dir.path().join("whole.c1z"), dir.path().join("resumed.c1z"));
    let options = SyncOptions::default();
    connector.sync(&connector.sync_context(), &whole, &options, &Quiet).await.map_err(|e| format!("an uninterrupted sync failed: {e:#}"))?;
    let stopper = StopAfterRows { rows: AtomicU64::new(0), stop: tokio::sync::Notify::new() };
    let context = connector.sync_context();
    let stopped = tokio::select! {
        done = connector.sync(&context, &resumed, &options, &stopper) => { done.map_err(|e| format!("the sync to stop failed: {e:#}"))?; false }
        () = stopper.stop.notified() => true,
    };
    connector.sync(&connector.sync_context(), &resumed, &options, &Quiet).await.map_err(|e| format!("the resumed sync failed: {e:#}"))?;
    let (a, b) = (contents(&whole)?, contents(&resumed)?);
    if a != b {
        return Err("the resumed sync's resources, entitlements or grants differ from the uninterrupted one's".into());
    }
    Ok(if stopped { format!("stopped after its first checkpoint; {} rows the same", a.len()) } else { "ended before its first checkpoint; the same".into() })
}

/// Every resource, entitlement and grant id of a file's latest sync.
fn contents(file: &Path) -> std::result::Result<BTreeSet<String>, String> {
    let reader = C1zReader::open(file).map_err(|e| e.to_string())?;
    let mut ids = BTreeSet::new();
    for r in reader.resources(None).map_err(|e| e.to_string())? {
        ids.insert(format!("resource {}", r.id.map(|id| format!("{}:{}", id.resource_type, id.resource)).unwrap_or_default()));
    }
    ids.extend(reader.entitlements().map_err(|e| e.to_string())?.into_iter().map(|e| format!("entitlement {}", e.id)));
    ids.extend(reader.grants().map_err(|e| e.to_string())?.into_iter().map(|g| format!("grant {}", g.id)));
    Ok(ids)
}
