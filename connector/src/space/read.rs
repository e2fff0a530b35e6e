//! Reading spaces: listing them (`GET /rest/api/space`, asked once for `status=current` and once
//! for `status=archived`, since whether an unfiltered list includes archived spaces is
//! unconfirmed; `type=global` when personal spaces are skipped; the page token names the status
//! and the next path), reading one, and reading who holds which permission: REST
//! `GET /rest/api/space/{key}/permissions` on 9.1+ (users there are userKeys, mapped back to
//! usernames), JSON-RPC `getSpacePermissionSets` before (users by username; both names null means
//! anonymous). Unknown or add-on keys (`EXPORTPAGE`, `<op>~<type>`) are skipped with a debug log.
//! Holders ([`Subject`]s) become principals under the configured user id, and grants; a grant
//! to a group carries expansion to the group's `member` entitlement, so access is attributed to
//! its members.

use crate::client::{self, encode_component};
use crate::directory::ids::SPACE;
use crate::directory::profile::text;
use crate::directory::subjects::{Subject, named, permission_grant, principal_of};
use crate::guest_log::{self, Level};
use crate::page_token::PageToken;
use crate::settings::Compat;
use crate::space::catalogue::{Permission, by_key, by_operation, entitlement_id};
use crate::syncer::Context;
use crate::types::{ConnectorError, Grant, GrantPage, Resource, ResourceId, ResourcePage, Status};
use crate::version::ServerVersion;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A space as Confluence returns it.
#[derive(Debug, Deserialize)]
pub struct ConfluenceSpace {
    pub(super) id: Option<i64>,
    pub(super) key: Option<String>,
    pub(super) name: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) status: Option<String>,
}

/// One page of spaces: the token names the status being listed and the next page's path; after
/// the last page of one status comes the first of the next.
pub fn list(cx: &Context, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
    let statuses = statuses(cx);
    let (status, path) = match PageToken::decode_optional(token)? {
        Some(PageToken::SpacePage { status, path }) => (status, path),
        None => (statuses[0].to_string(), first_space_path(cx, statuses[0])),
        Some(other) => return Err(other.not_for("spaces")),
    };
    let page = cx.client.get_page::<ConfluenceSpace>(&path)?;
    let items = page
        .items
        .into_iter()
        .filter(|s| !(cx.options.skip_personal_spaces && s.kind.as_deref() == Some("personal")))
        .filter_map(space_resource)
        .map(|r| Resource { external_link: space_link(cx.options.web_base.as_deref(), &r.id.resource), ..r })
        .collect();
    let next_page_token = match page.next {
        Some(next) => Some(PageToken::SpacePage { status, path: next }.encode()),
        None => next_status(&statuses, &status).map(|s| PageToken::SpacePage { status: s.to_string(), path: first_space_path(cx, s) }.encode()),
    };
    Ok(ResourcePage { items, next_page_token })
}

/// One space by key; `not-found` when these credentials cannot see it.
pub fn get(cx: &Context, key: &str) -> Result<Resource, ConnectorError> {
    let not_found = || ConnectorError::NotFound(format!("Confluence has no space {key:?} that these credentials can see"));
    let space = match cx.client.get_json::<ConfluenceSpace>(&format!("/rest/api/space/{}", encode_component(key))) {
        Ok(space) => space,
        Err(ConnectorError::NotFound(_)) => return Err(not_found()),
        Err(other) => return Err(other),
    };
    let resource = space_resource(space).ok_or_else(not_found)?;
    Ok(Resource { external_link: space_link(cx.options.web_base.as_deref(), &resource.id.resource), ..resource })
}

/// Every grant on a space (one page), in grant id order, without duplicates.
pub fn grants(cx: &Context, key: &str) -> Result<GrantPage, ConnectorError> {
    let mut grants = BTreeMap::new();
    for (permission, subject) in held(cx, key)? {
        if let Some(principal) = principal_of(cx, subject)? {
            let grant = space_grant(key, permission, principal, cx.options.compat);
            grants.insert(grant.id.clone(), grant);
        }
    }
    Ok(GrantPage { items: grants.into_values().collect(), next_page_token: None })
}

/// Who holds which of the fourteen permissions on a space now: REST on 9.1+, JSON-RPC before.
pub fn held(cx: &Context, key: &str) -> Result<Vec<(&'static Permission, Subject)>, ConnectorError> {
    let version = cx.version()?;
    if version.has_space_permission_rest() { rest_permissions(cx, key) } else { json_rpc_permissions(cx, key, &version) }
}

fn statuses(cx: &Context) -> Vec<&'static str> {
    if cx.options.skip_archived_spaces { vec!["current"] } else { vec!["current", "archived"] }
}

fn next_status(statuses: &[&'static str], current: &str) -> Option<&'static str> {
    let index = statuses.iter().position(|s| *s == current)?;
    statuses.get(index + 1).copied()
}

fn first_space_path(cx: &Context, status: &str) -> String {
    let type_filter = if cx.options.skip_personal_spaces { "&type=global" } else { "" };
    format!("/rest/api/space?limit={}&start=0&status={status}{type_filter}", cx.options.page_size)
}

/// Maps one space; entries without a key are skipped.
pub fn space_resource(space: ConfluenceSpace) -> Option<Resource> {
    let key = space.key.filter(|k| !k.is_empty())?;
    let name = space.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| key.clone());
    let kind = space.kind.unwrap_or_default();
    let status = space.status.unwrap_or_default();
    let description = match (kind.as_str(), status.as_str()) {
        ("personal", "archived") => "Archived personal space".to_string(),
        ("personal", _) => "Personal space".to_string(),
        (_, "archived") => "Archived space".to_string(),
        _ => String::new(),
    };
    let mut profile = vec![text("key", &key)];
    profile.extend((!kind.is_empty()).then(|| text("type", &kind)));
    profile.extend((!status.is_empty()).then(|| text("status", &status)));
    profile.extend(space.id.map(|id| text("id", &id.to_string())));
    Some(Resource {
        id: ResourceId { resource_type: SPACE.into(), resource: key },
        parent: None,
        display_name: name,
        description,
        status: Status::Unspecified,
        user: None,
        group: None,
        profile,
        external_link: None,
    })
}

/// The space's home page, when Confluence is served over https.
pub fn space_link(web_base: Option<&str>, key: &str) -> Option<String> {
    web_base.map(|base| format!("{base}/display/{}", encode_component(key)))
}

/// A REST space permission entry. Every field may be absent: which ones a version always sends
/// is not documented (docs/confluence-dc.md §8.3).
#[derive(Deserialize)]
struct RestPermission {
    operation: Option<RestOperation>,
    subject: Option<RestSubject>,
}

#[derive(Deserialize)]
struct RestOperation {
    #[serde(rename = "targetType")]
    target: Option<String>,
    #[serde(rename = "operationKey")]
    operation: Option<String>,
}

#[derive(Deserialize)]
struct RestSubject {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "userKey")]
    user_key: Option<String>,
    username: Option<String>,
    name: Option<String>,
    #[serde(rename = "groupName")]
    group_name: Option<String>,
}

/// What the permission entries of one space held that cannot be attributed to a principal,
/// counted by reason, and how many named no subject (read as anonymous access).
#[derive(Default)]
struct LeftOut {
    by_reason: BTreeMap<String, usize>,
    without_subject: usize,
}

impl LeftOut {
    fn count(&mut self, reason: impl Into<String>) {
        *self.by_reason.entry(reason.into()).or_default() += 1;
    }

    /// One warning per kind of entry, with its count (never one line per entry).
    fn warn(&self, space: &str) {
        if self.without_subject > 0 {
            guest_log::write(
                Level::Warn,
                "space permission entries without a subject are read as anonymous access (as Confluence's own write reads an entry that names no user or group)",
                &[("space", space), ("entries", &self.without_subject.to_string())],
            );
        }
        for (reason, count) in &self.by_reason {
            guest_log::write(
                Level::Warn,
                "space permission entries that cannot be attributed to a user, group or anonymous access are not in the file",
                &[("space", space), ("reason", reason), ("entries", &count.to_string())],
            );
        }
    }
}

fn rest_permissions(cx: &Context, key: &str) -> Result<Vec<(&'static Permission, Subject)>, ConnectorError> {
    let path = format!("/rest/api/space/{}/permissions", encode_component(key));
    let listed: Vec<RestPermission> = cx.client.get_json(&path).map_err(|err| needs_admin(err, key))?;
    let mut held = Vec::new();
    let mut left_out = LeftOut::default();
    for item in listed {
        let Some((target, operation)) = item.operation.and_then(|o| Some((named(o.target)?, named(o.operation)?))) else {
            left_out.count("no operation");
            continue;
        };
        let Some(permission) = by_operation(&target, &operation) else {
            guest_log::debug("skipping an unknown space permission", &[("space", key), ("target", &target), ("operation", &operation)]);
            continue;
        };
        match rest_subject(item.subject) {
            Ok(subject) => {
                left_out.without_subject += usize::from(subject == RestHolder::Unnamed);
                held.push((permission, subject.into()));
            }
            Err(reason) => left_out.count(reason),
        }
    }
    left_out.warn(key);
    Ok(held)
}

/// A REST subject as one of ours: anonymous access named as such, or named by nothing at all
/// (no subject, or one with no type and no name: how Confluence's write names anonymous access).
#[derive(Debug, PartialEq, Eq)]
enum RestHolder {
    Named(Subject),
    Unnamed,
}

impl From<RestHolder> for Subject {
    fn from(holder: RestHolder) -> Subject {
        match holder {
            RestHolder::Named(subject) => subject,
            RestHolder::Unnamed => Subject::Anonymous,
        }
    }
}

/// The subject of an entry, or why it cannot be attributed.
fn rest_subject(subject: Option<RestSubject>) -> Result<RestHolder, String> {
    let Some(subject) = subject else { return Ok(RestHolder::Unnamed) };
    let user = named(subject.user_key).map(Subject::UserKey).or_else(|| named(subject.username).map(Subject::Username));
    let group = named(subject.name).or(named(subject.group_name)).map(Subject::Group);
    match named(subject.kind).as_deref() {
        Some("anonymous") => Ok(RestHolder::Named(Subject::Anonymous)),
        Some("user") => user.map(RestHolder::Named).ok_or_else(|| "a user without userKey or username".into()),
        Some("group") => group.map(RestHolder::Named).ok_or_else(|| "a group without a name".into()),
        Some(other) => Err(format!("a subject of type {other:?}")),
        None => match (user, group) {
            (None, None) => Ok(RestHolder::Unnamed),
            (Some(user), None) => Ok(RestHolder::Named(user)),
            (_, Some(_)) => Err("a subject without a type whose name could be a user's or a group's".into()),
        },
    }
}

#[derive(Deserialize)]
struct PermissionSet {
    #[serde(rename = "spacePermissions", default, deserialize_with = "client::null_as_default")]
    space_permissions: Vec<RpcPermission>,
}

#[derive(Deserialize)]
struct RpcPermission {
    #[serde(rename = "type")]
    key: Option<String>,
    #[serde(rename = "userName")]
    user_name: Option<String>,
    #[serde(rename = "groupName")]
    group_name: Option<String>,
}

fn json_rpc_permissions(cx: &Context, key: &str, version: &ServerVersion) -> Result<Vec<(&'static Permission, Subject)>, ConnectorError> {
    let sets: Vec<Option<PermissionSet>> = cx.client.json_rpc("getSpacePermissionSets", serde_json::json!([key])).map_err(|err| match err {
        ConnectorError::NotFound(_) => ConnectorError::Unimplemented(format!(
            "Confluence {version} has no REST space permissions (added in 9.1) and its JSON-RPC API (getSpacePermissionSets) is not available: enable the remote API or upgrade"
        )),
        other => needs_admin(other, key),
    })?;
    let mut held = Vec::new();
    let mut left_out = LeftOut::default();
    for item in sets.into_iter().flatten().flat_map(|set| set.space_permissions) {
        let Some(permission_key) = named(item.key) else {
            left_out.count("no permission type");
            continue;
        };
        let Some(permission) = by_key(&permission_key) else {
            guest_log::debug("skipping an unknown or add-on space permission key", &[("space", key), ("key", &permission_key)]);
            continue;
        };
        let subject = match (named(item.user_name), named(item.group_name)) {
            (Some(username), _) => Subject::Username(username),
            (None, Some(group)) => Subject::Group(group),
            (None, None) => Subject::Anonymous,
        };
        held.push((permission, subject));
    }
    left_out.warn(key);
    Ok(held)
}

/// The grant of a permission on a space to a principal (a group's expands to its members).
pub fn space_grant(space_key: &str, permission: &Permission, principal: ResourceId, compat: Compat) -> Grant {
    permission_grant(entitlement_id(space_key, permission, compat), ResourceId { resource_type: SPACE.into(), resource: space_key.into() }, principal)
}

/// Permission reads and writes need an administrator: say so instead of "bad credentials".
pub fn needs_admin(err: ConnectorError, space: &str) -> ConnectorError {
    client::needs_admin(err, &format!("the permissions of space {space}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KeyValue;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::space::fixtures::space;
    use crate::transport::FakeTransport;

    #[test]
    fn get_reads_one_space_and_an_invisible_one_is_not_found() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, r#"{"id":7,"key":"ENG","name":"Engineering","type":"global","status":"current"}"#),
            FakeTransport::json(404, r#"{"statusCode":404,"message":"No space with key : NOPE"}"#),
        ]);
        let kv = kv_with_version("9.2.0");
        let c = connector(&fake, &kv);
        let id = |key: &str| ResourceId { resource_type: SPACE.into(), resource: key.into() };
        assert_eq!(c.get_resource(&id("ENG"), None).unwrap().display_name, "Engineering");
        assert!(matches!(c.get_resource(&id("NOPE"), None), Err(ConnectorError::NotFound(_))));
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space/ENG", "/rest/api/space/NOPE"]);
    }

    #[test]
    fn links_only_over_https() {
        assert_eq!(space_link(Some("https://c.example.com/wiki"), "~ada").as_deref(), Some("https://c.example.com/wiki/display/~ada"));
        assert_eq!(crate::directory::users::user_link(Some("https://c"), "a b").as_deref(), Some("https://c/users/viewuserprofile.action?username=a%20b"));
        assert!(space_link(None, "ENG").is_none());
    }

    #[test]
    fn rest_permissions_map_user_keys_groups_and_anonymous() {
        let body = r#"[
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"},"spaceKey":"ENG"},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"},"spaceKey":"ENG"},
            {"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"group","name":"devs"},"spaceKey":"ENG"},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"anonymous"},"spaceKey":"ENG"},
            {"operation":{"targetType":"page","operationKey":"export"},"subject":{"type":"group","name":"devs"},"spaceKey":"ENG"},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"gone"},"spaceKey":"ENG"}
        ]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, body), FakeTransport::json(404, "{}")]);
        let kv = kv_with_version("9.2.0");
        kv.set("user-key:k1", "ada");
        let grants = connector(&fake, &kv).list_grants(&space("ENG"), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, vec!["space:ENG:edit-space:group:devs", "space:ENG:view:anonymous:anonymous", "space:ENG:view:user:ada"]);
        let group_grant = &grants[0];
        assert_eq!(group_grant.expansion.as_ref().unwrap().entitlement_ids, vec!["group:devs:member"]);
        assert!(grants[1].expansion.is_none());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space/ENG/permissions", "/rest/api/user?key=gone&expand=status"]);
    }

    /// Under the default profile (the newest Go release's), users are userKeys and permissions
    /// `<operation>-<target>`; the same answer as above, and nothing looked up.
    #[test]
    fn the_default_profile_names_grants_as_the_newest_go_release() {
        let body = r#"[
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"}},
            {"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"group","name":"devs"}},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"anonymous"}}
        ]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, body)]);
        let kv = kv_with_version("9.2.0");
        let connector = crate::registry::Connector::new(&fake, &kv, crate::settings::Options::default());
        let grants = connector.list_grants(&space("ENG"), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, vec!["space:ENG:create-page:group:devs", "space:ENG:read-space:anonymous:anonymous", "space:ENG:read-space:user:k1"]);
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space/ENG/permissions"]);
    }

    #[test]
    fn rest_entries_with_absent_or_partial_fields_are_read_or_counted_and_never_fail_the_sync() {
        let body = r#"[
            {"operation":{"targetType":"space","operationKey":"read"},"spaceKey":"ENG"},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":null},
            {"operation":{"targetType":"space","operationKey":"export"},"subject":{}},
            {"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"group","groupName":"devs"}},
            {"operation":{"targetType":"comment","operationKey":"create"},"subject":{"userKey":"k1"}},
            {"operation":{"targetType":"space","operationKey":"administer"},"subject":{"type":"user","username":"grace"}},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","displayName":"Nameless"}},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"unlicensed"}},
            {"operation":{"targetType":"space","operationKey":"read"},"subject":{"name":"user-or-group"}},
            {"operation":{"targetType":"space"},"subject":{"type":"group","name":"devs"}},
            {"operation":null,"subject":{"type":"group","name":"devs"}},
            {"subject":{"type":"group","name":"devs"}}
        ]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, body)]);
        let kv = kv_with_version("9.2.0");
        kv.set("user-key:k1", "ada");
        let grants = connector(&fake, &kv).list_grants(&space("ENG"), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "space:ENG:add-comment:user:ada",
                "space:ENG:edit-space:group:devs",
                "space:ENG:export-space:anonymous:anonymous",
                "space:ENG:set-space-permissions:user:grace",
                "space:ENG:view:anonymous:anonymous",
            ]
        );
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space/ENG/permissions"]);
    }

    /// Each subject shape: who it is, or the reason it is counted and left out.
    #[test]
    fn every_rest_subject_shape_is_attributed_or_has_a_reason() {
        let subject = |json: &str| rest_subject(serde_json::from_str::<Option<RestSubject>>(json).unwrap());
        let named = |s: Subject| Ok(RestHolder::Named(s));
        assert_eq!(subject("null"), Ok(RestHolder::Unnamed));
        assert_eq!(subject("{}"), Ok(RestHolder::Unnamed));
        assert_eq!(subject(r#"{"type":"","userKey":""}"#), Ok(RestHolder::Unnamed));
        assert_eq!(subject(r#"{"type":"anonymous","displayName":"Anonymous"}"#), named(Subject::Anonymous));
        assert_eq!(subject(r#"{"type":"user","userKey":"k1","username":"ada"}"#), named(Subject::UserKey("k1".into())));
        assert_eq!(subject(r#"{"type":"user","username":"ada"}"#), named(Subject::Username("ada".into())));
        assert_eq!(subject(r#"{"userKey":"k1"}"#), named(Subject::UserKey("k1".into())));
        assert_eq!(subject(r#"{"type":"group","name":"devs"}"#), named(Subject::Group("devs".into())));
        assert_eq!(subject(r#"{"type":"group","groupName":"devs"}"#), named(Subject::Group("devs".into())));
        assert_eq!(subject(r#"{"type":"user","displayName":"Ada"}"#), Err("a user without userKey or username".into()));
        assert_eq!(subject(r#"{"type":"group"}"#), Err("a group without a name".into()));
        assert_eq!(subject(r#"{"type":"unlicensed"}"#), Err(r#"a subject of type "unlicensed""#.into()));
        assert!(subject(r#"{"name":"devs"}"#).unwrap_err().contains("without a type"));
    }

    #[test]
    fn json_rpc_sets_with_nulls_and_entries_without_a_type_are_tolerated() {
        let body = r#"[
            null,
            {"type":"VIEWSPACE","spacePermissions":null},
            {"type":"VIEWSPACE"},
            {"type":"VIEWSPACE","spacePermissions":[{"userName":"ada"},{"type":"VIEWSPACE"},{"type":"COMMENT","userName":"","groupName":"devs"}]}
        ]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, body)]);
        let kv = kv_with_version("8.5.0");
        let grants = connector(&fake, &kv).list_grants(&space("ENG"), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, vec!["space:ENG:add-comment:group:devs", "space:ENG:view:anonymous:anonymous"]);
    }

    #[test]
    fn json_rpc_permissions_before_9_1() {
        let body = r#"[
            {"type":"VIEWSPACE","spacePermissions":[{"type":"VIEWSPACE","userName":"ada","groupName":null},{"type":"VIEWSPACE","userName":null,"groupName":null}]},
            {"type":"EXPORTPAGE","spacePermissions":[{"type":"EXPORTPAGE","userName":"ada","groupName":null}]},
            {"type":"read~custom","spacePermissions":[{"type":"read~custom","userName":"ada","groupName":null}]},
            {"type":"SETSPACEPERMISSIONS","spacePermissions":[{"type":"SETSPACEPERMISSIONS","userName":null,"groupName":"team/alpha"}]}
        ]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, body)]);
        let kv = kv_with_version("8.5.0");
        let grants = connector(&fake, &kv).list_grants(&space("~ada"), None).unwrap().items;
        let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, vec!["space:~ada:set-space-permissions:group:team/alpha", "space:~ada:view:anonymous:anonymous", "space:~ada:view:user:ada"]);
        assert_eq!(fake.sent.borrow()[0].body.as_deref(), Some(&br#"["~ada"]"#[..]));
    }

    #[test]
    fn lists_current_then_archived_spaces() {
        let page = |items: &str| FakeTransport::json(200, &format!(r#"{{"results":[{items}],"_links":{{}}}}"#));
        let fake = FakeTransport::new(vec![
            page(r#"{"key":"ENG","name":"Engineering","type":"global","status":"current"}"#),
            page(r#"{"key":"OLD","name":"Old","type":"global","status":"archived"}"#),
        ]);
        let kv = kv_with_version("9.2.0");
        let c = connector(&fake, &kv);
        let first = c.list_resources(SPACE, None, None).unwrap();
        assert_eq!(first.items[0].id.resource, "ENG");
        let second = c.list_resources(SPACE, None, first.next_page_token.as_deref()).unwrap();
        assert_eq!(second.items[0].description, "Archived space");
        assert!(second.next_page_token.is_none());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space?limit=1000&start=0&status=current", "/rest/api/space?limit=1000&start=0&status=archived"]);
    }

    #[test]
    fn resumes_from_a_legacy_space_token_and_refuses_garbage() {
        let fake =
            FakeTransport::new(vec![FakeTransport::json(200, r#"{"results":[{"key":"OLD","name":"Old","type":"global","status":"archived"}],"_links":{}}"#)]);
        let kv = kv_with_version("9.2.0");
        let c = connector(&fake, &kv);
        let page = c.list_resources(SPACE, None, Some("archived|/rest/api/space?limit=1000&start=0&status=archived")).unwrap();
        assert_eq!(page.items[0].id.resource, "OLD");
        assert!(page.next_page_token.is_none(), "archived is the last status");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/space?limit=1000&start=0&status=archived"]);
        assert!(matches!(c.list_resources(SPACE, None, Some("archived")), Err(ConnectorError::InvalidArgument(_))));
        assert!(matches!(c.list_resources(SPACE, None, Some(r#"{"offset":3}"#)), Err(ConnectorError::InvalidArgument(_))));
        assert_eq!(fake.sent_paths().len(), 1, "nothing sent for a bad token");
    }
}
