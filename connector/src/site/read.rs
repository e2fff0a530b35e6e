//! Reading the site's global permissions: `GET /rest/api/permissions` (every subject) and
//! `GET /rest/api/permissions/group/{name}` (one group), on versions that have the API
//! (docs/confluence-dc.md §13). The answer is read as a plain array or as a page envelope
//! (which one a version sends is unconfirmed), and each subject by whichever name it carries:
//! a user by userKey or username, a group by `name`, `groupName` or `displayName`. A version
//! without the API, or one that answers 404, is logged once per sync and read as "not
//! available" (none), never as an empty list. Subjects that cannot be mapped (a user named only
//! by display name, an unknown kind) are counted in a warning, never dropped in silence.

use crate::client::{self, Envelope, encode_component};
use crate::directory::groups;
use crate::directory::ids::SITE;
use crate::directory::subjects::{Subject, named, permission_grant, principal_of};
use crate::guest_log::{self, Level};
use crate::site::catalogue::{GlobalPermission, Pair, entitlement_id, of_pair};
use crate::syncer::Context;
use crate::types::{ConnectorError, Grant, GrantPage, ResourceId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Every subject's global permissions.
const ALL: &str = "/rest/api/permissions";

/// Marks, in the per-sync store, that "not available" was logged.
const KV_UNAVAILABLE_LOGGED: &str = "global-permissions-unavailable-logged";

/// A global permission as listed.
#[derive(Debug, Deserialize)]
struct Listed {
    operation: Option<Operation>,
    subject: Option<ListedSubject>,
}

#[derive(Debug, Deserialize)]
struct Operation {
    #[serde(rename = "targetType")]
    target: Option<String>,
    #[serde(rename = "operationKey")]
    operation: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListedSubject {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "userKey")]
    user_key: Option<String>,
    username: Option<String>,
    name: Option<String>,
    #[serde(rename = "groupName")]
    group_name: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

/// A listing: a plain array, or a page envelope with a next link.
#[derive(Deserialize)]
#[serde(untagged)]
enum Listing<T> {
    All(Vec<T>),
    Paged(Envelope<T>),
}

/// A listed subject as one of ours, or why it is not one.
enum Mapped {
    Subject(Subject),
    UserWithoutName,
    UnknownKind(String),
}

/// Who holds which global permission: what a listing held that maps to subjects, and how many
/// entries it had to leave out (and why).
#[derive(Debug, Default)]
pub struct Held {
    pub entries: Vec<(GlobalPermission, Subject)>,
    pub users_without_name: usize,
    pub unknown_kinds: BTreeMap<String, usize>,
}

impl Held {
    /// The distinct permissions the listing reports.
    pub fn permissions(&self) -> Vec<GlobalPermission> {
        let mut seen = BTreeMap::new();
        for (permission, _) in &self.entries {
            seen.entry(permission.slug.clone()).or_insert_with(|| permission.clone());
        }
        seen.into_values().collect()
    }

    /// The (target, operation) pairs a subject holds, sorted, without repeats.
    pub fn pairs_of(&self, mut is_subject: impl FnMut(&Subject) -> bool) -> Vec<Pair> {
        let mut pairs: Vec<Pair> = self.entries.iter().filter(|(_, s)| is_subject(s)).map(|(p, _)| p.pair()).collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }
}

/// Every global permission on the site, or none when this Confluence has no API for them
/// (logged once per sync). Reading them needs an administrator.
pub fn all(cx: &Context) -> Result<Option<Held>, ConnectorError> {
    let version = cx.version()?;
    if !version.has_global_permission_rest() {
        log_unavailable(cx, &format!("Confluence {version} has no global permissions REST API (documented from 9.2)"));
        return Ok(None);
    }
    match listed(cx, ALL) {
        Ok(listed) => Ok(Some(held(listed))),
        Err(ConnectorError::NotFound(answer)) => {
            log_unavailable(cx, &format!("Confluence {version} answered {ALL} with not found ({answer})"));
            Ok(None)
        }
        Err(other) => Err(needs_admin(other)),
    }
}

/// One group's global permissions (`/rest/api/permissions/group/{name}`; for a name a path
/// cannot carry, the full listing's entries for it).
pub fn of_group(cx: &Context, name: &str) -> Result<Held, ConnectorError> {
    if !groups::path_safe(name) {
        let all = all(cx)?.ok_or_else(|| unavailable(cx))?;
        let entries = all.entries.into_iter().filter(|(_, s)| matches!(s, Subject::Group(g) if groups::same_name(g, name))).collect();
        return Ok(Held { entries, ..Held::default() });
    }
    let path = format!("{ALL}/group/{}", encode_component(name));
    listed(cx, &path).map(held).map_err(needs_admin)
}

/// Every grant on the site (one page), in grant id order, without duplicates; warns about the
/// entries it cannot attribute to a principal.
pub fn grants(cx: &Context, site: &str) -> Result<GrantPage, ConnectorError> {
    let Some(held) = all(cx)? else { return Ok(GrantPage { items: vec![], next_page_token: None }) };
    warn_left_out(&held);
    let mut grants = BTreeMap::new();
    for (permission, subject) in held.entries {
        if let Some(principal) = principal_of(cx, subject)? {
            let grant = site_grant(site, &permission, principal);
            grants.insert(grant.id.clone(), grant);
        }
    }
    Ok(GrantPage { items: grants.into_values().collect(), next_page_token: None })
}

/// The grant of a global permission to a principal (a group's expands to its members).
pub fn site_grant(site: &str, permission: &GlobalPermission, principal: ResourceId) -> Grant {
    permission_grant(entitlement_id(site, permission), ResourceId { resource_type: SITE.into(), resource: site.into() }, principal)
}

/// The refusal of a change on a Confluence without the API.
pub fn unavailable(cx: &Context) -> ConnectorError {
    let version = cx.version().map(|v| v.to_string()).unwrap_or_else(|_| "this version".into());
    ConnectorError::Unimplemented(format!(
        "Confluence {version} has no global permissions REST API (/rest/api/permissions), so global permissions cannot be read or changed there: change them in Confluence's administration (General configuration > Global permissions)"
    ))
}

/// Global permissions are read and changed by administrators only.
pub fn needs_admin(err: ConnectorError) -> ConnectorError {
    client::needs_admin(err, "Confluence's global permissions")
}

/// Every item of a listing, following next links when it is paged.
fn listed(cx: &Context, first: &str) -> Result<Vec<Listed>, ConnectorError> {
    let mut items = Vec::new();
    let mut path = first.to_string();
    loop {
        match get_listing::<Listed>(cx, &path)? {
            Listing::All(all) => {
                items.extend(all);
                return Ok(items);
            }
            Listing::Paged(envelope) => {
                let page = envelope.into_page(&path);
                items.extend(page.items);
                match page.next {
                    Some(next) => path = next,
                    None => return Ok(items),
                }
            }
        }
    }
}

fn get_listing<T: DeserializeOwned>(cx: &Context, path: &str) -> Result<Listing<T>, ConnectorError> {
    cx.client.get_json(path)
}

/// The listed entries as permissions and subjects, counting what cannot be mapped.
fn held(listed: Vec<Listed>) -> Held {
    let mut held = Held::default();
    for item in listed {
        let Some((target, operation)) = item.operation.and_then(|o| Some((named(o.target)?, named(o.operation)?))) else {
            guest_log::debug("skipping a global permission entry without an operation", &[]);
            continue;
        };
        match item.subject.map(map_subject).unwrap_or(Mapped::UnknownKind("none".into())) {
            Mapped::Subject(subject) => held.entries.push((of_pair(&target, &operation), subject)),
            Mapped::UserWithoutName => held.users_without_name += 1,
            Mapped::UnknownKind(kind) => *held.unknown_kinds.entry(kind).or_default() += 1,
        }
    }
    held
}

/// A listed subject by the first name it carries (the shape per version is unconfirmed).
fn map_subject(subject: ListedSubject) -> Mapped {
    match subject.kind.as_deref().unwrap_or_default() {
        "user" => match (named(subject.user_key), named(subject.username).or(named(subject.name))) {
            (Some(key), _) => Mapped::Subject(Subject::UserKey(key)),
            (None, Some(username)) => Mapped::Subject(Subject::Username(username)),
            (None, None) => Mapped::UserWithoutName,
        },
        "group" => match named(subject.name).or(named(subject.group_name)).or(named(subject.display_name)) {
            Some(name) => Mapped::Subject(Subject::Group(name)),
            None => Mapped::UnknownKind("group without a name".into()),
        },
        "anonymous" => Mapped::Subject(Subject::Anonymous),
        other => Mapped::UnknownKind(if other.is_empty() { "none".into() } else { other.to_string() }),
    }
}

/// One warning for the entries a sync cannot attribute to a principal.
fn warn_left_out(held: &Held) {
    if held.users_without_name > 0 {
        guest_log::write(
            Level::Warn,
            "global permissions held by users that Confluence names only by display name are not in the file",
            &[("entries", &held.users_without_name.to_string())],
        );
    }
    for (kind, count) in &held.unknown_kinds {
        guest_log::write(
            Level::Warn,
            "global permissions held by a kind of subject this connector does not know are not in the file",
            &[("subject", kind), ("entries", &count.to_string())],
        );
    }
}

/// Logs, once per sync, that this Confluence has no global permissions.
fn log_unavailable(cx: &Context, why: &str) {
    if cx.kv.get(KV_UNAVAILABLE_LOGGED).is_some() {
        return;
    }
    cx.kv.set(KV_UNAVAILABLE_LOGGED, "1");
    guest_log::info("global permissions are not available on this Confluence; the sync goes on without them", &[("reason", why)]);
}
