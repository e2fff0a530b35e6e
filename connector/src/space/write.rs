//! Changing space permissions: who a grant or revoke is about (`Holder`, with every name the
//! APIs may want), whether they hold the permission now (read as a sync reads it, so granting is
//! idempotent), and the change itself: REST on 9.1+ (`PUT /rest/api/space/{key}/permissions/...`,
//! users by userKey), JSON-RPC before and for group names with `/`. Over JSON-RPC a name that is
//! both a user and a group is refused before anything is sent, since which of the two Confluence
//! would change is unconfirmed.

use crate::client::encode_component;
use crate::directory::Change;
use crate::directory::groups;
use crate::directory::subjects::{Holder, holder_of, permission_grant, same_holder};
use crate::directory::users;
use crate::guest_log;
use crate::space::catalogue::{Permission, permission_of};
use crate::space::read;
use crate::syncer::Context;
use crate::transport::Method;
use crate::types::{ConnectorError, Entitlement, Grant, GrantOutcome, GrantResult, Resource, RevokeOutcome};

/// Gives a principal a permission on a space, unless they hold it already.
pub fn grant(cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
    let key = &entitlement.resource.resource;
    let permission = permission_of(&entitlement.slug, &entitlement.id)?;
    let holder = holder_of(cx, &principal.id, principal.user.as_ref().map(|u| u.login.as_str()), "space permissions")?;
    // The grant is named after the entitlement asked for, in whichever profile's spelling it came.
    let grants = vec![permission_grant(entitlement.id.clone(), entitlement.resource.clone(), principal.id.clone())];
    if holds(cx, key, permission, &holder)? {
        return Ok(GrantResult { outcome: GrantOutcome::AlreadyGranted, grants });
    }
    change_permission(cx, key, permission, &holder, Change::Add)?;
    Ok(GrantResult { outcome: GrantOutcome::Granted, grants })
}

/// Takes a permission on a space away from a principal, unless they no longer hold it.
pub fn revoke(cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
    let key = &grant.entitlement_resource.resource;
    let slug = grant.entitlement_id.rsplit(':').next().unwrap_or_default();
    let permission = permission_of(slug, &grant.entitlement_id)?;
    let holder = holder_of(cx, &grant.principal, None, "space permissions")?;
    if !holds(cx, key, permission, &holder)? {
        return Ok(RevokeOutcome::AlreadyRevoked);
    }
    change_permission(cx, key, permission, &holder, Change::Remove)?;
    Ok(RevokeOutcome::Revoked)
}

/// Whether the holder has the permission now (read the way a sync reads it).
fn holds(cx: &Context, key: &str, permission: &Permission, holder: &Holder) -> Result<bool, ConnectorError> {
    Ok(read::held(cx, key)?.iter().any(|(p, subject)| p.key == permission.key && same_holder(subject, holder)))
}

/// Grants or revokes: REST on 9.1+ (users by userKey), JSON-RPC before and for group names a
/// path cannot carry (`/`).
fn change_permission(cx: &Context, key: &str, permission: &Permission, holder: &Holder, change: Change) -> Result<(), ConnectorError> {
    let slash_group = matches!(holder, Holder::Group(name) if !groups::path_safe(name));
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
    cx.client.write(Method::Put, &path, Some(&body)).map_err(|err| read::needs_admin(err, key))?;
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
    let _: serde_json::Value = cx.client.json_rpc(method, params).map_err(|err| read::needs_admin(err, key))?;
    Ok(())
}

/// JSON-RPC names a user or a group by one `remoteEntityName`, and which one Confluence picks when
/// a user and a group share the name is unconfirmed (docs/confluence-dc.md §9.4). Such a change is
/// refused before anything is sent, rather than risk changing the other principal's access.
fn refuse_ambiguous_entity(cx: &Context, holder: &Holder) -> Result<(), ConnectorError> {
    let (name, shared) = match holder {
        Holder::User { username, .. } => (username, groups::exists(cx, username)?),
        Holder::Group(name) => (name, users::exists(cx, name)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ids::anonymous_id;
    use crate::kv::KeyValue;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::settings::Compat;
    use crate::settings::UserId;
    use crate::space::catalogue::by_slug;
    use crate::space::fixtures::{ada, rpc_methods, view};
    use crate::space::read::space_grant;
    use crate::transport::FakeTransport;

    #[test]
    fn rest_grants_address_users_by_key_and_skip_what_is_held() {
        let held = r#"[{"operation":{"targetType":"space","operationKey":"read"},"subject":{"type":"user","userKey":"k1"}}]"#;
        let fake = FakeTransport::new(vec![FakeTransport::json(200, "[]"), FakeTransport::json(204, ""), FakeTransport::json(200, held)]);
        let kv = kv_with_version("9.2.0");
        kv.set("username:ada", "k1");
        let ada =
            crate::directory::users::user_resource(serde_json::from_str(r#"{"username":"ada","userKey":"k1"}"#).unwrap(), UserId::Username, None).unwrap();
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
        let grant = space_grant("PUB", by_slug("view").unwrap(), anonymous_id(), Compat::default());
        let c = connector(&fake, &kv);
        assert_eq!(c.revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        assert_eq!(c.revoke(&grant).unwrap(), RevokeOutcome::AlreadyRevoked);
        assert_eq!(fake.sent_paths()[1], "/rpc/json-rpc/confluenceservice-v2/removeAnonymousPermissionFromSpace");
        assert_eq!(fake.sent.borrow()[1].body.as_deref(), Some(&br#"["VIEWSPACE","PUB"]"#[..]));
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
        let grant = space_grant("ENG", by_slug("view").unwrap(), crate::directory::groups::group_resource("ada").id, Compat::default());
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
        let grant = space_grant("ENG", by_slug("edit-space").unwrap(), crate::directory::groups::group_resource("team/alpha").id, Compat::default());
        assert_eq!(connector(&fake, &kv).revoke(&grant).unwrap(), RevokeOutcome::Revoked);
        assert_eq!(fake.sent_paths()[1], "/rest/api/user?username=team%2Falpha&expand=status");
        assert_eq!(rpc_methods(&fake), vec!["removePermissionFromSpace"]);
        assert_eq!(fake.sent.borrow()[2].body.as_deref(), Some(&br#"["EDITSPACE","team/alpha","ENG"]"#[..]));
    }
}
