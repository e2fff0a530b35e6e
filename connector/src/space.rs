//! Confluence spaces as `space` resources with the fourteen space-permission entitlements, and
//! their grants to users, groups and anonymous access.
//!
//! Spaces: `GET /rest/api/space`, asked once for `status=current` and once for `status=archived`
//! (whether an unfiltered list includes archived spaces is unconfirmed), with `type=global` when
//! personal spaces are skipped. Permissions: REST `GET /rest/api/space/{key}/permissions` on 9.1+
//! (users there are userKeys, mapped back to usernames), JSON-RPC `getSpacePermissionSets`
//! before (users by username; both names null means anonymous). Unknown or add-on keys
//! (`EXPORTPAGE`, `<op>~<type>`) are skipped with a debug log. A grant to a group carries
//! expansion to the group's `member` entitlement, so access is attributed to its members.
//! Grants and revokes go the same way (REST on 9.1+, JSON-RPC before and for group names with
//! `/`); over JSON-RPC a name that is both a user and a group is refused before anything is
//! sent, since which of the two Confluence would change is unconfirmed.

use crate::anonymous::{ANONYMOUS, anonymous_id};
use crate::client::encode_component;
use crate::group::{self, Change, GROUP, member_entitlement_id};
use crate::guest_log;
use crate::settings::UserId;
use crate::syncer::{Context, ResourceSyncer};
use crate::transport::Method;
use crate::types::{
    Capability, ConnectorError, Entitlement, EntitlementPage, Expansion, Grant, GrantOutcome, GrantPage, GrantResult, Purpose, Resource,
    ResourceId, ResourcePage, ResourceType, RevokeOutcome, Status,
};
use crate::user::{self, USER};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Resource type id of spaces.
pub const SPACE: &str = "space";

/// One space permission: legacy key, our slug, the REST (target, operation) pair, and what it
/// lets someone do (for descriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub key: &'static str,
    pub slug: &'static str,
    pub target: &'static str,
    pub operation: &'static str,
    pub label: &'static str,
    pub allows: &'static str,
}

const fn permission(key: &'static str, slug: &'static str, target: &'static str, operation: &'static str, label: &'static str, allows: &'static str) -> Permission {
    Permission { key, slug, target, operation, label, allows }
}

/// The fourteen space permissions of Confluence Data Center (docs/confluence-dc.md §8.1).
pub const PERMISSIONS: [Permission; 14] = [
    permission("VIEWSPACE", "view", "space", "read", "View", "view space"),
    permission("EDITSPACE", "edit-space", "page", "create", "Add pages", "add pages in space"),
    permission("COMMENT", "add-comment", "comment", "create", "Add comments", "add comments in space"),
    permission("CREATEATTACHMENT", "add-attachment", "attachment", "create", "Add attachments", "add attachments in space"),
    permission("EDITBLOG", "edit-blog", "blogpost", "create", "Add blog posts", "add blog posts in space"),
    permission("EXPORTSPACE", "export-space", "space", "export", "Export space", "export space"),
    permission("REMOVEATTACHMENT", "remove-attachment", "attachment", "delete", "Delete attachments", "delete attachments in space"),
    permission("REMOVEBLOG", "remove-blog", "blogpost", "delete", "Delete blog posts", "delete blog posts in space"),
    permission("REMOVECOMMENT", "remove-comment", "comment", "delete", "Delete comments", "delete comments in space"),
    permission("REMOVEMAIL", "remove-mail", "space", "delete_mail", "Delete mail", "delete mail in space"),
    permission("REMOVEOWNCONTENT", "remove-own-content", "space", "delete_own", "Delete own content", "delete their own content in space"),
    permission("REMOVEPAGE", "remove-page", "page", "delete", "Delete pages", "delete pages in space"),
    permission("SETPAGEPERMISSIONS", "set-page-permissions", "space", "restrict", "Add/delete restrictions", "add or delete page restrictions in space"),
    permission("SETSPACEPERMISSIONS", "set-space-permissions", "space", "administer", "Administer space", "administer space"),
];

/// The permission of a legacy key, if it is one of the fourteen.
pub fn by_key(key: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| p.key == key)
}

/// The permission of a REST (target, operation) pair, if it is one of the fourteen.
pub fn by_operation(target: &str, operation: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| p.target == target && p.operation == operation)
}

/// The permission of an entitlement slug.
pub fn by_slug(slug: &str) -> Option<&'static Permission> {
    PERMISSIONS.iter().find(|p| p.slug == slug)
}

/// Lists spaces, their permission entitlements and grants.
pub struct SpaceSyncer;

#[derive(Debug, Deserialize)]
struct ConfluenceSpace {
    id: Option<i64>,
    key: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
}

impl ResourceSyncer for SpaceSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: SPACE.into(),
            display_name: "Space".into(),
            description: "A Confluence space".into(),
            traits: vec![],
            skip_entitlements_and_grants: false,
        }
    }

    fn list(&self, cx: &Context, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        let statuses = statuses(cx);
        let (status, path) = match token.and_then(|t| t.split_once('|')) {
            Some((status, path)) => (status.to_string(), path.to_string()),
            None => (statuses[0].to_string(), first_space_path(cx, statuses[0])),
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
            Some(next) => Some(format!("{status}|{next}")),
            None => next_status(&statuses, &status).map(|s| format!("{s}|{}", first_space_path(cx, s))),
        };
        Ok(ResourcePage { items, next_page_token })
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        let key = &id.resource;
        let not_found = || ConnectorError::NotFound(format!("Confluence has no space {key:?} that these credentials can see"));
        let space = match cx.client.get_json::<ConfluenceSpace>(&format!("/rest/api/space/{}", encode_component(key))) {
            Ok(space) => space,
            Err(ConnectorError::NotFound(_)) => return Err(not_found()),
            Err(other) => return Err(other),
        };
        let resource = space_resource(space).ok_or_else(not_found)?;
        Ok(Resource { external_link: space_link(cx.options.web_base.as_deref(), &resource.id.resource), ..resource })
    }

    fn entitlements(&self, _cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        let items = PERMISSIONS.iter().map(|p| space_entitlement(resource, p)).collect();
        Ok(EntitlementPage { items, next_page_token: None })
    }

    fn grants(&self, cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        let key = &resource.id.resource;
        let version = cx.version()?;
        let held = if version.has_space_permission_rest() { rest_permissions(cx, key)? } else { json_rpc_permissions(cx, key, &version)? };
        let mut grants = BTreeMap::new();
        for (permission, subject) in held {
            if let Some(principal) = principal_of(cx, subject)? {
                let grant = space_grant(key, permission, principal);
                grants.insert(grant.id.clone(), grant);
            }
        }
        Ok(GrantPage { items: grants.into_values().collect(), next_page_token: None })
    }

    fn grant(&self, cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
        let key = &entitlement.resource.resource;
        let permission = permission_of(&entitlement.slug, &entitlement.id)?;
        let holder = holder_of(cx, &principal.id, principal.user.as_ref().map(|u| u.login.as_str()))?;
        let grants = vec![space_grant(key, permission, principal.id.clone())];
        if holds(cx, key, permission, &holder)? {
            return Ok(GrantResult { outcome: GrantOutcome::AlreadyGranted, grants });
        }
        change_permission(cx, key, permission, &holder, Change::Add)?;
        Ok(GrantResult { outcome: GrantOutcome::Granted, grants })
    }

    fn revoke(&self, cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        let key = &grant.entitlement_resource.resource;
        let slug = grant.entitlement_id.rsplit(':').next().unwrap_or_default();
        let permission = permission_of(slug, &grant.entitlement_id)?;
        let holder = holder_of(cx, &grant.principal, None)?;
        if !holds(cx, key, permission, &holder)? {
            return Ok(RevokeOutcome::AlreadyRevoked);
        }
        change_permission(cx, key, permission, &holder, Change::Remove)?;
        Ok(RevokeOutcome::Revoked)
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::Provision, Capability::TargetedSync]
    }
}

fn permission_of(slug: &str, entitlement_id: &str) -> Result<&'static Permission, ConnectorError> {
    by_slug(slug).ok_or_else(|| ConnectorError::InvalidArgument(format!("{entitlement_id} is not a Confluence space permission")))
}

/// Who a permission write is about, with every name the APIs may want.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    User { username: String, user_key: String },
    Group(String),
    Anonymous,
}

fn holder_of(cx: &Context, principal: &ResourceId, login: Option<&str>) -> Result<Holder, ConnectorError> {
    match principal.resource_type.as_str() {
        USER => {
            let username = match login.filter(|l| !l.is_empty()) {
                Some(login) => login.to_string(),
                None => user::username_of(cx, &principal.resource)?
                    .ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user {:?}", principal.resource)))?,
            };
            let user_key = user::key_for_username(cx, &username)?
                .ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user {username:?}")))?;
            Ok(Holder::User { username, user_key })
        }
        GROUP => Ok(Holder::Group(principal.resource.clone())),
        ANONYMOUS => Ok(Holder::Anonymous),
        other => Err(ConnectorError::InvalidArgument(format!(
            "space permissions can be granted to users, groups and anonymous access, not to a {other}"
        ))),
    }
}

/// Whether the holder has the permission now (read the way a sync reads it).
fn holds(cx: &Context, key: &str, permission: &Permission, holder: &Holder) -> Result<bool, ConnectorError> {
    let version = cx.version()?;
    let held = if version.has_space_permission_rest() { rest_permissions(cx, key)? } else { json_rpc_permissions(cx, key, &version)? };
    Ok(held.iter().any(|(p, subject)| p.key == permission.key && same_holder(subject, holder)))
}

fn same_holder(subject: &Subject, holder: &Holder) -> bool {
    match (subject, holder) {
        (Subject::UserKey(k), Holder::User { user_key, .. }) => k == user_key,
        (Subject::Username(u), Holder::User { username, .. }) => u == username,
        (Subject::Group(a), Holder::Group(b)) => group::same_name(a, b),
        (Subject::Anonymous, Holder::Anonymous) => true,
        _ => false,
    }
}

/// Grants or revokes: REST on 9.1+ (users by userKey), JSON-RPC before and for group names a
/// path cannot carry (`/`).
fn change_permission(cx: &Context, key: &str, permission: &Permission, holder: &Holder, change: Change) -> Result<(), ConnectorError> {
    let slash_group = matches!(holder, Holder::Group(name) if name.contains('/'));
    if cx.version()?.has_space_permission_rest() && !slash_group {
        change_over_rest(cx, key, permission, holder, change)?;
    } else {
        change_over_json_rpc(cx, key, permission, holder, change)?;
    }
    guest_log::info(
        if change == Change::Add { "granted a space permission" } else { "revoked a space permission" },
        &[("space", key), ("permission", permission.key), ("holder", &format!("{holder:?}"))],
    );
    Ok(())
}

/// `PUT /rest/api/space/{key}/permissions/{user/<userKey>|group/<name>|anonymous}/grant|revoke`
/// with the permission's (target, operation) pair.
fn change_over_rest(cx: &Context, key: &str, permission: &Permission, holder: &Holder, change: Change) -> Result<(), ConnectorError> {
    let subject = match holder {
        Holder::User { user_key, .. } => format!("user/{}", encode_component(user_key)),
        Holder::Group(name) => format!("group/{}", encode_component(name)),
        Holder::Anonymous => "anonymous".to_string(),
    };
    let verb = if change == Change::Add { "grant" } else { "revoke" };
    let path = format!("/rest/api/space/{}/permissions/{subject}/{verb}", encode_component(key));
    let body = serde_json::json!([{"targetType": permission.target, "operationKey": permission.operation}]);
    cx.client.write(Method::Put, &path, Some(&body)).map_err(|err| needs_admin(err, key))?;
    Ok(())
}

/// The JSON-RPC methods of docs/confluence-dc.md §9.2: `addPermissionsToSpace`
/// `[[KEY], entity, space]` (the method the older Go connector proves against 8.6) and
/// `removePermissionFromSpace` `[KEY, entity, space]` for users (by username) and groups, the
/// anonymous pair otherwise.
fn change_over_json_rpc(cx: &Context, key: &str, permission: &Permission, holder: &Holder, change: Change) -> Result<(), ConnectorError> {
    refuse_ambiguous_entity(cx, holder)?;
    let (method, params) = match (holder, change) {
        (Holder::Anonymous, Change::Add) => ("addAnonymousPermissionToSpace", serde_json::json!([permission.key, key])),
        (Holder::Anonymous, Change::Remove) => ("removeAnonymousPermissionFromSpace", serde_json::json!([permission.key, key])),
        (Holder::User { username: entity, .. } | Holder::Group(entity), Change::Add) => {
            ("addPermissionsToSpace", serde_json::json!([[permission.key], entity, key]))
        }
        (Holder::User { username: entity, .. } | Holder::Group(entity), Change::Remove) => {
            ("removePermissionFromSpace", serde_json::json!([permission.key, entity, key]))
        }
    };
    let _: serde_json::Value = cx.client.json_rpc(method, params).map_err(|err| needs_admin(err, key))?;
    Ok(())
}

/// JSON-RPC names a user or a group by one `remoteEntityName`, and which one Confluence picks when
/// a user and a group share the name is unconfirmed (docs/confluence-dc.md §9.4). Such a change is
/// refused before anything is sent, rather than risk changing the other principal's access.
fn refuse_ambiguous_entity(cx: &Context, holder: &Holder) -> Result<(), ConnectorError> {
    let (name, shared) = match holder {
        Holder::User { username, .. } => (username, group::exists(cx, username)?),
        Holder::Group(name) => (name, user::exists(cx, name)?),
        Holder::Anonymous => return Ok(()),
    };
    if !shared {
        return Ok(());
    }
    Err(ConnectorError::Unimplemented(format!(
        "{name:?} is both a Confluence user and a Confluence group, so it is ambiguous over JSON-RPC, which is how this change is made on Confluence {}: nothing was changed; change this permission in Confluence's space permission screen (Space tools > Permissions)",
        cx.version()?
    )))
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

fn space_resource(space: ConfluenceSpace) -> Option<Resource> {
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
    let mut profile = vec![user::text("key", &key)];
    profile.extend((!kind.is_empty()).then(|| user::text("type", &kind)));
    profile.extend((!status.is_empty()).then(|| user::text("status", &status)));
    profile.extend(space.id.map(|id| user::text("id", &id.to_string())));
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

/// The entitlement id of a permission on a space.
pub fn entitlement_id(space_key: &str, permission: &Permission) -> String {
    format!("{SPACE}:{space_key}:{}", permission.slug)
}

fn space_entitlement(space: &Resource, permission: &Permission) -> Entitlement {
    Entitlement {
        id: entitlement_id(&space.id.resource, permission),
        resource: space.id.clone(),
        slug: permission.slug.into(),
        display_name: format!("{} ({})", permission.label, space.display_name),
        description: format!("Can {} {} ({})", permission.allows, space.display_name, space.id.resource),
        purpose: Purpose::Permission,
        grantable_to: vec![USER.into(), GROUP.into(), ANONYMOUS.into()],
    }
}

/// Who holds a permission, as the source names them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    UserKey(String),
    Username(String),
    Group(String),
    Anonymous,
}

#[derive(Deserialize)]
struct RestPermission {
    operation: RestOperation,
    subject: RestSubject,
}

#[derive(Deserialize)]
struct RestOperation {
    #[serde(rename = "targetType")]
    target: String,
    #[serde(rename = "operationKey")]
    operation: String,
}

#[derive(Deserialize)]
struct RestSubject {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "userKey")]
    user_key: Option<String>,
    name: Option<String>,
}

fn rest_permissions(cx: &Context, key: &str) -> Result<Vec<(&'static Permission, Subject)>, ConnectorError> {
    let path = format!("/rest/api/space/{}/permissions", encode_component(key));
    let listed: Vec<RestPermission> = cx.client.get_json(&path).map_err(|err| needs_admin(err, key))?;
    let mut held = Vec::new();
    for item in listed {
        let Some(permission) = by_operation(&item.operation.target, &item.operation.operation) else {
            guest_log::debug("skipping an unknown space permission", &[("space", key), ("target", &item.operation.target), ("operation", &item.operation.operation)]);
            continue;
        };
        let subject = match (item.subject.kind.as_str(), item.subject.user_key, item.subject.name) {
            ("user", Some(user_key), _) => Subject::UserKey(user_key),
            ("group", _, Some(name)) => Subject::Group(name),
            ("anonymous", _, _) => Subject::Anonymous,
            (kind, _, _) => {
                guest_log::debug("skipping a permission with an unknown subject", &[("space", key), ("subject", kind)]);
                continue;
            }
        };
        held.push((permission, subject));
    }
    Ok(held)
}

#[derive(Deserialize)]
struct PermissionSet {
    #[serde(rename = "spacePermissions", default)]
    space_permissions: Vec<RpcPermission>,
}

#[derive(Deserialize)]
struct RpcPermission {
    #[serde(rename = "type")]
    key: String,
    #[serde(rename = "userName")]
    user_name: Option<String>,
    #[serde(rename = "groupName")]
    group_name: Option<String>,
}

fn json_rpc_permissions(
    cx: &Context,
    key: &str,
    version: &crate::version::ServerVersion,
) -> Result<Vec<(&'static Permission, Subject)>, ConnectorError> {
    let sets: Vec<PermissionSet> = cx.client.json_rpc("getSpacePermissionSets", serde_json::json!([key])).map_err(|err| match err {
        ConnectorError::NotFound(_) => ConnectorError::Unimplemented(format!(
            "Confluence {version} has no REST space permissions (added in 9.1) and its JSON-RPC API (getSpacePermissionSets) is not available: enable the remote API or upgrade"
        )),
        other => needs_admin(other, key),
    })?;
    let mut held = Vec::new();
    for item in sets.into_iter().flat_map(|set| set.space_permissions) {
        let Some(permission) = by_key(&item.key) else {
            guest_log::debug("skipping an unknown or add-on space permission key", &[("space", key), ("key", &item.key)]);
            continue;
        };
        let subject = match (item.user_name.filter(|n| !n.is_empty()), item.group_name.filter(|n| !n.is_empty())) {
            (Some(username), _) => Subject::Username(username),
            (None, Some(group)) => Subject::Group(group),
            (None, None) => Subject::Anonymous,
        };
        held.push((permission, subject));
    }
    Ok(held)
}

/// The principal of a subject under the configured user id; none for a user Confluence no
/// longer knows.
fn principal_of(cx: &Context, subject: Subject) -> Result<Option<ResourceId>, ConnectorError> {
    let user = |id: String| ResourceId { resource_type: USER.into(), resource: id };
    Ok(match subject {
        Subject::Anonymous => Some(anonymous_id()),
        Subject::Group(name) => Some(ResourceId { resource_type: GROUP.into(), resource: name }),
        Subject::Username(username) => user::user_id_for_username(cx, &username)?.map(user),
        Subject::UserKey(key) => match cx.options.user_id {
            UserId::UserKey => Some(user(key)),
            UserId::Username => user::username_for_key(cx, &key)?.map(user),
        },
    })
}

fn space_grant(space_key: &str, permission: &Permission, principal: ResourceId) -> Grant {
    let entitlement_id = entitlement_id(space_key, permission);
    let expansion = (principal.resource_type == GROUP).then(|| Expansion {
        entitlement_ids: vec![member_entitlement_id(&principal.resource)],
        shallow: false,
        resource_type_ids: vec![],
    });
    Grant {
        id: format!("{entitlement_id}:{}:{}", principal.resource_type, principal.resource),
        entitlement_id,
        entitlement_resource: ResourceId { resource_type: SPACE.into(), resource: space_key.into() },
        principal,
        expansion,
    }
}

fn needs_admin(err: ConnectorError, space: &str) -> ConnectorError {
    match err {
        ConnectorError::Unauthenticated(m) | ConnectorError::PermissionDenied(m) => ConnectorError::PermissionDenied(format!(
            "reading or changing the permissions of space {space} needs a Confluence administrator's token or account ({m})"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KeyValue;
    use crate::syncer::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;

    fn space(key: &str) -> Resource {
        space_resource(ConfluenceSpace { id: Some(1), key: Some(key.into()), name: Some("Engineering".into()), kind: Some("global".into()), status: Some("current".into()) }).unwrap()
    }

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
        assert_eq!(crate::user::user_link(Some("https://c"), "a b").as_deref(), Some("https://c/users/viewuserprofile.action?username=a%20b"));
        assert!(space_link(None, "ENG").is_none());
    }

    #[test]
    fn fourteen_distinct_permissions_with_the_agreed_slugs() {
        let slugs: Vec<&str> = PERMISSIONS.iter().map(|p| p.slug).collect();
        let mut expected = vec![
            "view", "edit-space", "add-comment", "add-attachment", "edit-blog", "export-space", "remove-attachment", "remove-blog",
            "remove-comment", "remove-mail", "remove-own-content", "remove-page", "set-page-permissions", "set-space-permissions",
        ];
        let mut sorted = slugs.clone();
        sorted.sort();
        expected.sort();
        assert_eq!(sorted, expected);
        for p in &PERMISSIONS {
            assert_eq!(by_key(p.key), Some(p));
            assert_eq!(by_operation(p.target, p.operation), Some(p), "{} pair is unique", p.key);
            assert_eq!(by_slug(p.slug), Some(p));
        }
        assert!(by_key("EXPORTPAGE").is_none());
        assert!(by_operation("custom-type", "read").is_none());
    }

    /// Every (slug, legacy key, REST targetType, REST operationKey) exactly as the table of
    /// docs/confluence-dc.md §8.1 lists them, so swapping any two fails.
    #[test]
    fn every_permission_maps_slug_key_and_rest_pair_as_agreed() {
        let expected = [
            ("view", "VIEWSPACE", "space", "read"),
            ("edit-space", "EDITSPACE", "page", "create"),
            ("add-comment", "COMMENT", "comment", "create"),
            ("add-attachment", "CREATEATTACHMENT", "attachment", "create"),
            ("edit-blog", "EDITBLOG", "blogpost", "create"),
            ("export-space", "EXPORTSPACE", "space", "export"),
            ("remove-attachment", "REMOVEATTACHMENT", "attachment", "delete"),
            ("remove-blog", "REMOVEBLOG", "blogpost", "delete"),
            ("remove-comment", "REMOVECOMMENT", "comment", "delete"),
            ("remove-mail", "REMOVEMAIL", "space", "delete_mail"),
            ("remove-own-content", "REMOVEOWNCONTENT", "space", "delete_own"),
            ("remove-page", "REMOVEPAGE", "page", "delete"),
            ("set-page-permissions", "SETPAGEPERMISSIONS", "space", "restrict"),
            ("set-space-permissions", "SETSPACEPERMISSIONS", "space", "administer"),
        ];
        let actual: Vec<(&str, &str, &str, &str)> = PERMISSIONS.iter().map(|p| (p.slug, p.key, p.target, p.operation)).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn entitlements_describe_the_space() {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        let ents = connector(&fake, &kv).list_entitlements(&space("ENG"), None).unwrap().items;
        assert_eq!(ents.len(), 14);
        let view = ents.iter().find(|e| e.slug == "view").unwrap();
        assert_eq!(view.id, "space:ENG:view");
        assert_eq!(view.description, "Can view space Engineering (ENG)");
        assert_eq!(view.grantable_to, vec!["user", "group", "anonymous"]);
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

    fn view(key: &str) -> Entitlement {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        connector(&fake, &kv).list_entitlements(&space(key), None).unwrap().items.into_iter().find(|e| e.slug == "view").unwrap()
    }

    #[test]
    fn rest_grants_address_users_by_key_and_skip_what_is_held() {
        let held = r#"[{"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"}}]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]"), FakeTransport::json(204, ""), FakeTransport::json(200, held)]);
        let kv = kv_with_version("9.2.0");
        kv.set("username:ada", "k1");
        let ada = crate::user::user_resource(serde_json::from_str(r#"{"username":"ada","userKey":"k1"}"#).unwrap(), UserId::Username, None).unwrap();
        let c = connector(&fake, &kv);
        assert_eq!(c.grant(&view("ENG"), &ada).unwrap().outcome, GrantOutcome::Granted);
        assert_eq!(c.grant(&view("ENG"), &ada).unwrap().outcome, GrantOutcome::AlreadyGranted);
        let sent = fake.sent.borrow();
        assert_eq!(sent[1].path_and_query, "/rest/api/space/ENG/permissions/user/k1/grant");
        assert_eq!(sent[1].body.as_deref(), Some(&br#"[{"operationKey":"read","targetType":"space"}]"#[..]));
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn json_rpc_revokes_anonymous_access_before_9_1() {
        let held = r#"[{"type":"VIEWSPACE","spacePermissions":[{"type":"VIEWSPACE","userName":null,"groupName":null}]}]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, held), FakeTransport::json(200, "true"), FakeTransport::json(200, "[]")]);
        let kv = kv_with_version("8.5.0");
        let grant = space_grant("PUB", by_slug("view").unwrap(), anonymous_id());
        let c = connector(&fake, &kv);
        assert_eq!(c.revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        assert_eq!(c.revoke(&grant).unwrap(), RevokeOutcome::AlreadyRevoked);
        assert_eq!(fake.sent_paths()[1], "/rpc/json-rpc/confluenceservice-v2/removeAnonymousPermissionFromSpace");
        assert_eq!(fake.sent.borrow()[1].body.as_deref(), Some(&br#"["VIEWSPACE","PUB"]"#[..]));
    }

    fn ada() -> Resource {
        crate::user::user_resource(serde_json::from_str(r#"{"username":"ada","userKey":"k1"}"#).unwrap(), UserId::Username, None).unwrap()
    }

    /// The JSON-RPC methods a request called, for requests that are JSON-RPC calls.
    fn rpc_methods(fake: &FakeTransport) -> Vec<String> {
        fake.sent_paths().iter().filter_map(|p| p.strip_prefix("/rpc/json-rpc/confluenceservice-v2/").map(str::to_string)).collect()
    }

    #[test]
    fn json_rpc_grants_send_add_permissions_to_space_with_a_key_list() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]"), FakeTransport::json(404, "{}"), FakeTransport::json(200, "true")]);
        let kv = kv_with_version("8.5.0");
        kv.set("username:ada", "k1");
        assert_eq!(connector(&fake, &kv).grant(&view("ENG"), &ada()).unwrap().outcome, GrantOutcome::Granted);
        assert_eq!(
            fake.sent_paths(),
            vec![
                "/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets",
                "/rest/api/group/ada",
                "/rpc/json-rpc/confluenceservice-v2/addPermissionsToSpace",
            ]
        );
        assert_eq!(fake.sent.borrow()[2].body.as_deref(), Some(&br#"[["VIEWSPACE"],"ada","ENG"]"#[..]));
    }

    #[test]
    fn a_user_named_like_a_group_is_refused_over_json_rpc() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]"), FakeTransport::json(200, r#"{"type":"group","name":"Ada"}"#)]);
        let kv = kv_with_version("8.5.0");
        kv.set("username:ada", "k1");
        let err = connector(&fake, &kv).grant(&view("ENG"), &ada()).unwrap_err();
        let ConnectorError::Unimplemented(message) = &err else { panic!("wrong case: {err:?}") };
        assert!(message.contains(r#""ada" is both a Confluence user and a Confluence group"#), "{message}");
        assert!(message.contains("ambiguous over JSON-RPC") && message.contains("Confluence 8.5.0"), "{message}");
        assert!(message.contains("space permission screen"), "{message}");
        assert_eq!(rpc_methods(&fake), vec!["getSpacePermissionSets"], "no write is sent");
    }

    #[test]
    fn a_group_named_like_a_user_is_refused_over_json_rpc() {
        let held = r#"[{"type":"VIEWSPACE","spacePermissions":[{"type":"VIEWSPACE","userName":null,"groupName":"ada"}]}]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, held), FakeTransport::json(200, r#"{"username":"ada","userKey":"k1"}"#)]);
        let kv = kv_with_version("7.19.0");
        let grant = space_grant("ENG", by_slug("view").unwrap(), crate::group::group_resource("ada").id);
        let err = connector(&fake, &kv).revoke(&grant).unwrap_err();
        assert!(matches!(&err, ConnectorError::Unimplemented(m) if m.contains("ambiguous over JSON-RPC")), "{err:?}");
        assert_eq!(fake.sent_paths()[1], "/rest/api/user?username=ada&expand=status");
        assert_eq!(rpc_methods(&fake), vec!["getSpacePermissionSets"], "no write is sent");
    }

    #[test]
    fn slash_groups_on_9_1_plus_check_for_a_same_named_user_then_use_json_rpc() {
        let rest_held = r#"[{"operation":{"targetType":"page","operationKey":"create"},"subject":{"type":"group","name":"team/alpha"}}]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, rest_held), FakeTransport::json(404, "{}"), FakeTransport::json(200, "true")]);
        let kv = kv_with_version("9.2.0");
        let grant = space_grant("ENG", by_slug("edit-space").unwrap(), crate::group::group_resource("team/alpha").id);
        assert_eq!(connector(&fake, &kv).revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        assert_eq!(fake.sent_paths()[1], "/rest/api/user?username=team%2Falpha&expand=status");
        assert_eq!(rpc_methods(&fake), vec!["removePermissionFromSpace"]);
        assert_eq!(fake.sent.borrow()[2].body.as_deref(), Some(&br#"["EDITSPACE","team/alpha","ENG"]"#[..]));
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
        assert_eq!(
            fake.sent_paths(),
            vec!["/rest/api/space?limit=1000&start=0&status=current", "/rest/api/space?limit=1000&start=0&status=archived"]
        );
    }
}
