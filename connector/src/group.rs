//! The `group` resource type: [`GroupSyncer`] lists Confluence groups, each with one `member`
//! entitlement whose grants are the group's users, reads one group, and grants and revokes
//! memberships. Reading groups, names and a user's groups is `directory::groups`'.
//!
//! Sources: `GET /rest/api/group` (paged) and `GET /rest/api/group/{name}/member` (paged,
//! administrators only: others get 401 on some 8.5 releases and 403 elsewhere, so both read as
//! "needs an administrator", docs/confluence-dc.md §3.3). Group names
//! go into paths percent-encoded, but a name containing `/` cannot be addressed by path on any
//! version (Tomcat rejects `%2F`). On 10.2+ such groups use `/rest/api/group/member?groupName=`;
//! before that their members are found by asking every user for their groups
//! (`/rest/api/user/memberof`), once per sync, only when such a group exists (logged with its cost).
//! Memberships change over REST on 8.2+ (`PUT/DELETE /rest/api/user/{u}/group/{g}`), over
//! JSON-RPC before and for names with `/`. Page tokens are REST next paths.

use crate::client::{self, encode_component};
use crate::directory::Change;
use crate::directory::groups::{self, ConfluenceGroup, group_resource};
use crate::directory::ids::{GROUP, MEMBER, USER, member_entitlement_id};
use crate::directory::keys;
use crate::directory::users::{self, ConfluenceUser};
use crate::guest_log;
use crate::page_token::PageToken;
use crate::syncer::{Context, ResourceSyncer};
use crate::transport::Method;
use crate::types::{
    Capability, ConnectorError, Entitlement, EntitlementPage, Grant, GrantOutcome, GrantPage, GrantResult, Purpose, Resource, ResourceId, ResourcePage,
    ResourceTrait, ResourceType, RevokeOutcome,
};
use std::collections::BTreeMap;

/// Lists groups and their members.
pub struct GroupSyncer;

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
        let path = PageToken::path_of(token, "groups")?.unwrap_or_else(|| groups::first_group_list_path(cx.options.page_size));
        let page = cx.client.get_page::<ConfluenceGroup>(&path)?;
        let items = page.items.into_iter().filter_map(|g| g.name).filter(|n| !n.is_empty()).map(|n| group_resource(&n)).collect();
        Ok(ResourcePage { items, next_page_token: page.next.map(|next| PageToken::Path(next).encode()) })
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
        if !groups::path_safe(name) && !cx.version()?.has_group_query_endpoints() {
            let members = slash_group_members(cx, name)?;
            let items = members.iter().map(|id| member_grant(name, id)).collect();
            return Ok(GrantPage { items, next_page_token: None });
        }
        let path = PageToken::path_of(token, "group members")?.unwrap_or_else(|| groups::first_member_path(name, cx.options.page_size));
        let page = cx.client.get_page::<ConfluenceUser>(&path).map_err(|err| needs_admin(err, name))?;
        let items = page.items.iter().filter_map(|u| users::user_id_of(u, cx.options.user_id)).map(|id| member_grant(name, &id)).collect();
        Ok(GrantPage { items, next_page_token: page.next.map(|next| PageToken::Path(next).encode()) })
    }

    fn grant(&self, cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
        let group = &entitlement.resource.resource;
        let username = member_username(cx, &principal.id, principal.user.as_ref().map(|u| u.login.as_str()), group)?;
        let grants = vec![member_grant(group, &principal.id.resource)];
        if groups::is_member(cx, &username, group)? {
            return Ok(GrantResult { outcome: GrantOutcome::AlreadyGranted, grants });
        }
        change_membership(cx, &username, group, Change::Add)?;
        Ok(GrantResult { outcome: GrantOutcome::Granted, grants })
    }

    fn revoke(&self, cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        let group = &grant.entitlement_resource.resource;
        let username = member_username(cx, &grant.principal, None, group)?;
        if !groups::is_member(cx, &username, group)? {
            return Ok(RevokeOutcome::AlreadyRevoked);
        }
        change_membership(cx, &username, group, Change::Remove)?;
        Ok(RevokeOutcome::Revoked)
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        let name = &id.resource;
        let found = if groups::path_safe(name) {
            groups::read_group(cx, &format!("/rest/api/group/{}", encode_component(name)))?
        } else if cx.version()?.has_group_query_endpoints() {
            groups::read_group(cx, &format!("/rest/api/group/info?groupName={}", encode_component(name)))?
        } else {
            groups::find_in_group_list(cx, name)?
        };
        found.map(|n| group_resource(&n)).ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no group {name:?}")))
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::Provision, Capability::TargetedSync]
    }
}

/// The username of a membership principal: only users can be members.
fn member_username(cx: &Context, principal: &ResourceId, login: Option<&str>, group: &str) -> Result<String, ConnectorError> {
    if principal.resource_type != USER {
        return Err(ConnectorError::InvalidArgument(format!(
            "only users can be members of Confluence group {group:?}; {}:{} is a {}",
            principal.resource_type, principal.resource, principal.resource_type
        )));
    }
    if let Some(login) = login.filter(|l| !l.is_empty()) {
        return Ok(login.to_string());
    }
    users::username_of(cx, &principal.resource)?.ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user {:?}", principal.resource)))
}

/// Adds or removes a membership: REST on 8.2+ when both names can go into a path, JSON-RPC
/// otherwise.
fn change_membership(cx: &Context, username: &str, group: &str, change: Change) -> Result<(), ConnectorError> {
    if cx.version()?.has_membership_rest() && groups::path_safe(group) && groups::path_safe(username) {
        let path = format!("/rest/api/user/{}/group/{}", encode_component(username), encode_component(group));
        let method = if change == Change::Add { Method::Put } else { Method::Delete };
        cx.client.write(method, &path, None).map_err(|err| needs_admin(err, group))?;
    } else {
        let method = if change == Change::Add { "addUserToGroup" } else { "removeUserFromGroup" };
        let _: serde_json::Value = cx.client.json_rpc(method, serde_json::json!([username, group])).map_err(|err| needs_admin(err, group))?;
    }
    guest_log::info(if change == Change::Add { "added a user to a group" } else { "removed a user from a group" }, &[("user", username), ("group", group)]);
    Ok(())
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
    client::needs_admin(err, &format!("the members of group {group:?}"))
}

/// Members (as user resource ids) of a group whose name contains `/`, on versions without the
/// query-parameter endpoints: every user's group list is read once per sync and the members of
/// every such group are kept in the per-sync store.
fn slash_group_members(cx: &Context, group: &str) -> Result<Vec<String>, ConnectorError> {
    if cx.kv.get(keys::SLASH_MEMBERS_DONE).is_none() {
        compute_slash_group_members(cx, group)?;
    }
    Ok(cx.kv.get(&keys::slash_group_members(group)).and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default())
}

fn compute_slash_group_members(cx: &Context, first_group: &str) -> Result<(), ConnectorError> {
    let usernames = users::all_usernames(cx)?;
    // Planned, not a fault: logged for the requests it costs, not as a warning.
    guest_log::info(
        "a group name holds a character no URL path can carry ('/', '\\', ';' or a %-escape), which this Confluence version cannot address; its members are found by reading every user's group list once",
        &[("group", first_group), ("extra_requests", &usernames.len().to_string())],
    );
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for username in &usernames {
        let Some(user_id) = users::user_id_for_username(cx, username)? else { continue };
        for name in groups::groups_of(cx, username)?.into_iter().filter(|n| !groups::path_safe(n)) {
            members.entry(name).or_default().push(user_id.clone());
        }
    }
    for (group, ids) in &members {
        cx.kv.set(&keys::slash_group_members(group), &serde_json::to_string(ids).unwrap_or_default());
    }
    cx.kv.set(keys::SLASH_MEMBERS_DONE, "1");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::groups::exists;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;

    fn members(users: &str, next: Option<&str>) -> crate::transport::Response {
        let next = next.map(|n| format!(r#","next":"{n}""#)).unwrap_or_default();
        FakeTransport::json(200, &format!(r#"{{"results":[{users}],"size":1,"_links":{{"base":"http://x"{next}}}}}"#))
    }

    fn group_id(name: &str) -> ResourceId {
        ResourceId { resource_type: GROUP.into(), resource: name.into() }
    }

    #[test]
    fn get_reads_a_group_by_path_and_keeps_its_stored_name() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, r#"{"type":"group","name":"Developers"}"#)]);
        let kv = kv_with_version("9.2.0");
        let group = connector(&fake, &kv).get_resource(&group_id("developers"), None).unwrap();
        assert_eq!(group.id.resource, "Developers");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/group/developers"]);
    }

    #[test]
    fn get_of_a_slash_group_reads_the_list_before_10_2_and_the_query_form_after() {
        let list = FakeTransport::json(200, r#"{"results":[{"name":"a"},{"name":"team/alpha"}],"_links":{}}"#);
        let fake = FakeTransport::new(vec![list]);
        let kv = kv_with_version("9.2.0");
        assert_eq!(connector(&fake, &kv).get_resource(&group_id("team/alpha"), None).unwrap().id.resource, "team/alpha");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/group?limit=1000&start=0"]);
        let fake = FakeTransport::new(vec![FakeTransport::json(404, r#"{"statusCode":404,"message":"no group"}"#)]);
        let kv = kv_with_version("10.2.0");
        let err = connector(&fake, &kv).get_resource(&group_id("team/beta"), None).unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/group/info?groupName=team%2Fbeta"]);
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

    /// Names the host would refuse in a path (it cannot tell them from path tricks) go the way
    /// `/` names go: by query parameter on 10.2, never by path.
    #[test]
    fn names_no_path_can_carry_never_go_into_one() {
        for name in ["a;b", "back\\slash", "100%41", "team/alpha"] {
            assert!(!groups::path_safe(name), "{name}");
            let fake = FakeTransport::new(vec![members(r#"{"username":"ada"}"#, None)]);
            let kv = kv_with_version("10.2.0");
            connector(&fake, &kv).list_grants(&group_resource(name), None).unwrap();
            assert!(fake.sent_paths()[0].starts_with("/rest/api/group/member?groupName="), "{name}: {:?}", fake.sent_paths());
        }
        for name in ["100% #1", "r&d + ops", "50%off", "שלום"] {
            assert!(groups::path_safe(name), "{name}");
        }
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

    fn memberof(names: &str) -> crate::transport::Response {
        FakeTransport::json(200, &format!(r#"{{"results":[{names}],"_links":{{}}}}"#))
    }

    fn ada() -> Resource {
        crate::directory::users::user_resource(
            serde_json::from_str(r#"{"username":"ada","userKey":"k1","status":"current"}"#).unwrap(),
            crate::settings::UserId::Username,
            None,
        )
        .unwrap()
    }

    fn member_entitlement(group: &str) -> Entitlement {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        connector(&fake, &kv).list_entitlements(&group_resource(group), None).unwrap().items.remove(0)
    }

    #[test]
    fn granting_membership_puts_once_and_is_idempotent() {
        let fake = FakeTransport::new(vec![memberof(r#"{"name":"other"}"#), FakeTransport::json(204, ""), memberof(r#"{"name":"Devs"}"#)]);
        let kv = kv_with_version("8.5.0");
        let c = connector(&fake, &kv);
        let granted = c.grant(&member_entitlement("devs"), &ada()).unwrap();
        assert_eq!(granted.outcome, GrantOutcome::Granted);
        assert_eq!(granted.grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["group:devs:member:user:ada"], "the grant made, with the sync's id");
        assert_eq!(c.grant(&member_entitlement("devs"), &ada()).unwrap().outcome, GrantOutcome::AlreadyGranted, "names compare case-insensitively");
        let sent = fake.sent.borrow();
        assert_eq!(sent[1].method, Method::Put);
        assert_eq!(sent[1].path_and_query, "/rest/api/user/ada/group/devs");
        assert!(sent[1].headers.iter().any(|(k, v)| k == "x-atlassian-token" && v == "no-check"));
        assert_eq!(sent.len(), 3, "no second write");
    }

    #[test]
    fn old_versions_and_slash_groups_use_json_rpc() {
        let fake =
            FakeTransport::new(vec![memberof(""), FakeTransport::json(200, "true"), memberof(r#"{"name":"team/alpha"}"#), FakeTransport::json(200, "true")]);
        let kv = kv_with_version("7.19.0");
        let c = connector(&fake, &kv);
        c.grant(&member_entitlement("devs"), &ada()).unwrap();
        let grant = Grant {
            id: "group:team/alpha:member:user:ada".into(),
            entitlement_id: "group:team/alpha:member".into(),
            entitlement_resource: group_resource("team/alpha").id,
            principal: ada().id,
            expansion: None,
        };
        assert_eq!(c.revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        let paths = fake.sent_paths();
        assert_eq!(paths[1], "/rpc/json-rpc/confluenceservice-v2/addUserToGroup");
        assert_eq!(paths[3], "/rpc/json-rpc/confluenceservice-v2/removeUserFromGroup");
        assert_eq!(fake.sent.borrow()[3].body.as_deref(), Some(&br#"["ada","team/alpha"]"#[..]));
    }

    #[test]
    fn only_users_can_be_members() {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        let err = connector(&fake, &kv).grant(&member_entitlement("devs"), &group_resource("admins")).unwrap_err();
        assert!(matches!(err, ConnectorError::InvalidArgument(ref m) if m.contains("only users")), "{err:?}");
        assert!(fake.sent.borrow().is_empty());
    }

    #[test]
    fn exists_asks_by_path_or_reads_the_list_for_slash_names() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, r#"{"type":"group","name":"r&d + ops"}"#),
            FakeTransport::json(404, "{}"),
            FakeTransport::json(200, r#"{"results":[{"name":"devs"}],"_links":{"next":"/rest/api/group?limit=1&start=1"}}"#),
            FakeTransport::json(200, r#"{"results":[{"name":"Team/Alpha"}],"_links":{}}"#),
        ]);
        let kv = kv_with_version("8.5.0");
        let cx = Context { client: crate::client::Client::new(&fake), kv: &kv, options: crate::registry::tests::january_2025() };
        assert!(exists(&cx, "r&d + ops").unwrap());
        assert!(!exists(&cx, "ghost").unwrap());
        assert!(exists(&cx, "team/alpha").unwrap(), "names compare case-insensitively");
        assert_eq!(
            fake.sent_paths(),
            vec!["/rest/api/group/r%26d%20%2B%20ops", "/rest/api/group/ghost", "/rest/api/group?limit=1000&start=0", "/rest/api/group?limit=1&start=1"]
        );
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
