//! Confluence groups as `group` resources, each with one `member` entitlement whose grants are
//! the group's users.
//!
//! Sources: `GET /rest/api/group` (paged) and `GET /rest/api/group/{name}/member` (paged,
//! administrators only: Confluence answers 401 on 8.5 and 403 elsewhere to others). Group names
//! go into paths percent-encoded, but a name containing `/` cannot be addressed by path on any
//! version (Tomcat rejects `%2F`). On 10.2+ such groups use `/rest/api/group/member?groupName=`;
//! before that their members are found by asking every user for their groups
//! (`/rest/api/user/memberof`), once per sync, only when such a group exists (logged with its cost).

use crate::client::{REQUESTED_PAGE_SIZE, encode_component};
use crate::guest_log;
use crate::kv;
use crate::settings::UserId;
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{
    ConnectorError, Entitlement, EntitlementPage, Grant, GrantPage, GroupTrait, Purpose, Resource, ResourceId,
    ResourcePage, ResourceTrait, ResourceType, Status,
};
use crate::user::{self, ConfluenceUser, USER};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Resource type id of groups.
pub const GROUP: &str = "group";
/// Slug of the membership entitlement.
pub const MEMBER: &str = "member";
const KV_SLASH_MEMBERS_DONE: &str = "slash-members-computed";

/// Lists groups and their members.
pub struct GroupSyncer;

/// A group as Confluence returns it.
#[derive(Debug, Deserialize)]
pub struct ConfluenceGroup {
    pub name: Option<String>,
}

/// The id of a group's `member` entitlement.
pub fn member_entitlement_id(group: &str) -> String {
    format!("{GROUP}:{group}:{MEMBER}")
}

impl ResourceSyncer for GroupSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: GROUP.into(),
            display_name: "Group".into(),
            description: "A Confluence group".into(),
            traits: vec![ResourceTrait::Group],
            skip_entitlements_and_grants: false,
        }
    }

    fn list(&self, cx: &Context, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        let path = token.map(str::to_string).unwrap_or_else(|| format!("/rest/api/group?limit={REQUESTED_PAGE_SIZE}&start=0"));
        let page = cx.client.get_page::<ConfluenceGroup>(&path)?;
        let items = page.items.into_iter().filter_map(|g| g.name).filter(|n| !n.is_empty()).map(|n| group_resource(&n)).collect();
        Ok(ResourcePage { items, next_page_token: page.next })
    }

    fn entitlements(&self, _cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        let name = &resource.id.resource;
        let member = Entitlement {
            id: member_entitlement_id(name),
            resource: resource.id.clone(),
            slug: MEMBER.into(),
            display_name: format!("Member of {name}"),
            description: format!("Member of the Confluence group {name}"),
            purpose: Purpose::Assignment,
            grantable_to: vec![USER.into()],
        };
        Ok(EntitlementPage { items: vec![member], next_page_token: None })
    }

    fn grants(&self, cx: &Context, resource: &Resource, token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        let name = &resource.id.resource;
        if name.contains('/') && !cx.version()?.has_group_query_endpoints() {
            let members = slash_group_members(cx, name)?;
            let items = members.iter().map(|id| member_grant(name, id)).collect();
            return Ok(GrantPage { items, next_page_token: None });
        }
        let path = token.map(str::to_string).unwrap_or_else(|| first_member_path(name));
        let page = cx.client.get_page::<ConfluenceUser>(&path).map_err(|err| needs_admin(err, name))?;
        let items = page
            .items
            .iter()
            .filter_map(|u| user::user_id_of(u, cx.options.user_id))
            .map(|id| member_grant(name, &id))
            .collect();
        Ok(GrantPage { items, next_page_token: page.next })
    }
}

/// The group as a resource.
pub fn group_resource(name: &str) -> Resource {
    Resource {
        id: ResourceId { resource_type: GROUP.into(), resource: name.into() },
        parent: None,
        display_name: name.into(),
        description: String::new(),
        status: Status::Unspecified,
        user: None,
        group: Some(GroupTrait { source: String::new() }),
        profile: vec![user::text("name", name)],
        external_link: None,
    }
}

fn first_member_path(name: &str) -> String {
    if name.contains('/') {
        format!("/rest/api/group/member?groupName={}&limit={REQUESTED_PAGE_SIZE}&start=0&expand=status", encode_component(name))
    } else {
        format!("/rest/api/group/{}/member?limit={REQUESTED_PAGE_SIZE}&start=0&expand=status", encode_component(name))
    }
}

fn member_grant(group: &str, user_id: &str) -> Grant {
    let entitlement_id = member_entitlement_id(group);
    Grant {
        id: format!("{entitlement_id}:{USER}:{user_id}"),
        entitlement_id,
        entitlement_resource: ResourceId { resource_type: GROUP.into(), resource: group.into() },
        principal: ResourceId { resource_type: USER.into(), resource: user_id.into() },
        expansion: None,
    }
}

/// Member lists need an administrator: say so instead of "bad credentials".
fn needs_admin(err: ConnectorError, group: &str) -> ConnectorError {
    match err {
        ConnectorError::Unauthenticated(m) | ConnectorError::PermissionDenied(m) => ConnectorError::PermissionDenied(format!(
            "reading the members of group {group:?} needs a Confluence administrator's token or account ({m})"
        )),
        other => other,
    }
}

/// Members (as user resource ids) of a group whose name contains `/`, on versions without the
/// query-parameter endpoints: every user's group list is read once per sync and the members of
/// every such group are kept in the per-sync store.
fn slash_group_members(cx: &Context, group: &str) -> Result<Vec<String>, ConnectorError> {
    if cx.kv.get(KV_SLASH_MEMBERS_DONE).is_none() {
        compute_slash_group_members(cx, group)?;
    }
    Ok(cx.kv.get(&slash_key(group)).and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default())
}

fn slash_key(group: &str) -> String {
    format!("slash-group-members:{group}")
}

fn compute_slash_group_members(cx: &Context, first_group: &str) -> Result<(), ConnectorError> {
    let usernames = user::all_usernames(cx)?;
    guest_log::write(
        guest_log::Level::Warn,
        "a group name contains '/', which this Confluence version cannot address by path; reading every user's group list to find its members",
        &[("group", first_group), ("extra_requests", &usernames.len().to_string())],
    );
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for username in &usernames {
        let Some(user_id) = principal_for_username(cx, username)? else { continue };
        let mut path = Some(format!("/rest/api/user/memberof?username={}&limit={REQUESTED_PAGE_SIZE}&start=0", encode_component(username)));
        while let Some(current) = path {
            let page = cx.client.get_page::<ConfluenceGroup>(&current)?;
            for name in page.items.into_iter().filter_map(|g| g.name).filter(|n| n.contains('/')) {
                members.entry(name).or_default().push(user_id.clone());
            }
            path = page.next;
        }
    }
    for (group, ids) in &members {
        cx.kv.set(&slash_key(group), &serde_json::to_string(ids).unwrap_or_default());
    }
    cx.kv.set(KV_SLASH_MEMBERS_DONE, "1");
    Ok(())
}

/// The user resource id for a username under the configured convention.
pub fn principal_for_username(cx: &Context, username: &str) -> Result<Option<String>, ConnectorError> {
    match cx.options.user_id {
        UserId::Username => Ok(Some(username.to_string())),
        UserId::UserKey => {
            if let Some(key) = cx.kv.get(&kv::key_of_username(username)) {
                return Ok(Some(key));
            }
            Ok(user::lookup_user(cx, "username", username)?.and_then(|u| u.user_key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncer::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;

    fn members(users: &str, next: Option<&str>) -> crate::transport::Response {
        let next = next.map(|n| format!(r#","next":"{n}""#)).unwrap_or_default();
        FakeTransport::json(200, &format!(r#"{{"results":[{users}],"size":1,"_links":{{"base":"http://x"{next}}}}}"#))
    }

    #[test]
    fn names_are_percent_encoded_in_member_paths() {
        let fake = FakeTransport::new(vec![members(r#"{"username":"ada","userKey":"k1"}"#, None)]);
        let kv = kv_with_version("9.2.0");
        let page = connector(&fake, &kv).list_grants(&group_resource("r&d + ops 100% #1"), None).unwrap();
        assert_eq!(fake.sent_paths(), vec!["/rest/api/group/r%26d%20%2B%20ops%20100%25%20%231/member?limit=1000&start=0&expand=status"]);
        assert_eq!(page.items[0].id, "group:r&d + ops 100% #1:member:user:ada");
        assert_eq!(page.items[0].principal.resource, "ada");
    }

    #[test]
    fn slash_groups_use_the_query_endpoint_on_10_2() {
        let fake = FakeTransport::new(vec![members(r#"{"username":"ada"}"#, None)]);
        let kv = kv_with_version("10.2.0");
        connector(&fake, &kv).list_grants(&group_resource("team/alpha"), None).unwrap();
        assert_eq!(fake.sent_paths(), vec!["/rest/api/group/member?groupName=team%2Falpha&limit=1000&start=0&expand=status"]);
    }

    #[test]
    fn slash_groups_before_10_2_come_from_each_users_groups() {
        let groups = |names: &str| FakeTransport::json(200, &format!(r#"{{"results":[{names}],"_links":{{}}}}"#));
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, r#"{"results":[{"username":"ada"},{"username":"bob"}],"_links":{}}"#),
            groups(r#"{"name":"team/alpha"},{"name":"x/y"}"#),
            groups(r#"{"name":"other"}"#),
        ]);
        let kv = kv_with_version("9.2.0");
        let c = connector(&fake, &kv);
        let alpha = c.list_grants(&group_resource("team/alpha"), None).unwrap();
        assert_eq!(alpha.items.iter().map(|g| g.principal.resource.as_str()).collect::<Vec<_>>(), vec!["ada"]);
        let xy = c.list_grants(&group_resource("x/y"), None).unwrap();
        assert_eq!(xy.items.len(), 1, "computed once for every slash group");
        assert_eq!(fake.sent_paths().len(), 3);
    }

    #[test]
    fn non_admins_are_told_to_use_an_admin_token() {
        let fake = FakeTransport::new(vec![FakeTransport::json(401, "<status><status-code>401</status-code></status>")]);
        let kv = kv_with_version("8.5.0");
        let err = connector(&fake, &kv).list_grants(&group_resource("devs"), None).unwrap_err();
        assert!(matches!(&err, ConnectorError::PermissionDenied(m) if m.contains("administrator")), "{err:?}");
    }

    #[test]
    fn one_member_entitlement_grantable_to_users() {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        let ents = connector(&fake, &kv).list_entitlements(&group_resource("devs"), None).unwrap().items;
        assert_eq!(ents.len(), 1);
        assert_eq!(ents[0].id, "group:devs:member");
        assert_eq!(ents[0].grantable_to, vec!["user".to_string()]);
    }
}
