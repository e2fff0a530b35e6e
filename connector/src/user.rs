//! The `user` resource type: [`UserSyncer`] lists users, reads one, and creates accounts
//! (through `account`). Reading, mapping and remembering users is `directory::users`'.
//!
//! Sources by version (see `version.rs`): `GET /rest/api/user/list?expand=status` on 8.4+ (every
//! registered user, disabled ones included); before 8.4 there is no list endpoint, so the
//! usernames come from JSON-RPC `getActiveUsers(true)` and each user's details from
//! `GET /rest/api/user?username=` — one request per user, the price of missing no one (a union
//! of group members would miss users in no group). Whether `getActiveUsers(true)` includes
//! deactivated users is unconfirmed (docs/confluence-dc.md §5.5); those it leaves out are still
//! found through `get` when a grant names them. Emails exist only on 9.3+
//! (`/rest/api/admin/users/list/active`); they are never invented. Listing users also records
//! userKey <-> username in the per-sync store for the space-permission and membership mappings.
//! Page tokens: a REST next path on 8.4+, an offset into the username list before.

use crate::directory::ids::USER;
use crate::directory::keys;
use crate::directory::paging::each_page;
use crate::directory::users::{self, ConfluenceUser};
use crate::guest_log;
use crate::page_token::PageToken;
use crate::settings::UserId;
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{AccountInfo, Capability, ConnectorError, CreateAccountOutcome, Resource, ResourceId, ResourcePage, ResourceTrait, ResourceType};
use std::ops::ControlFlow;

/// Users whose details one call fetches when listing through JSON-RPC (pre-8.4).
const DETAIL_BATCH: usize = 50;

/// Lists users.
pub struct UserSyncer;

impl ResourceSyncer for UserSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: USER.into(),
            display_name: "User".into(),
            description: "A Confluence user account".into(),
            traits: vec![ResourceTrait::User],
            skip_entitlements_and_grants: true,
        }
    }

    fn list(&self, cx: &Context, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        let version = cx.version()?;
        let path = match PageToken::decode_optional(token)? {
            Some(PageToken::Offset(offset)) => return list_through_json_rpc(cx, offset),
            None if !version.has_user_list() => return list_through_json_rpc(cx, 0),
            None => {
                if version.has_admin_active_users() {
                    load_emails(cx)?;
                }
                first_page_path(cx.options.page_size)
            }
            Some(PageToken::Path(path)) if version.has_user_list() => path,
            Some(other) => return Err(other.not_for("users")),
        };
        let page = cx.client.get_page::<ConfluenceUser>(&path)?;
        let items = page.items.into_iter().filter_map(|u| users::remember_and_map(cx, u)).collect();
        Ok(ResourcePage { items, next_page_token: page.next.map(|next| PageToken::Path(next).encode()) })
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        let by = match cx.options.user_id {
            UserId::Username => "username",
            UserId::UserKey => "key",
        };
        let found = match users::lookup_user(cx, by, &id.resource)? {
            Some(user) => Some(user),
            None if !cx.version()?.has_user_list() => users::lookup_user_over_json_rpc(cx, by, &id.resource)?,
            None => None,
        };
        found
            .and_then(|user| users::remember_and_map(cx, user))
            .ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user with {by} {:?}", id.resource)))
    }

    fn create_account(&self, cx: &Context, account: &AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        crate::account::create(cx, account)
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::AccountProvisioning, Capability::TargetedSync]
    }
}

fn first_page_path(page_size: u32) -> String {
    format!("/rest/api/user/list?limit={page_size}&start=0&expand=status")
}

/// Pre-8.4 listing: a batch of usernames from the JSON-RPC list, from `offset` on, each looked
/// up over REST.
fn list_through_json_rpc(cx: &Context, offset: usize) -> Result<ResourcePage, ConnectorError> {
    let usernames = users::all_usernames(cx)?;
    let end = (offset + DETAIL_BATCH).min(usernames.len());
    let mut items = Vec::new();
    for username in &usernames[offset.min(end)..end] {
        if let Some(user) = users::lookup_user(cx, "username", username)? {
            items.extend(users::remember_and_map(cx, user));
        }
    }
    let next_page_token = (end < usernames.len()).then(|| PageToken::Offset(end).encode());
    Ok(ResourcePage { items, next_page_token })
}

/// Loads emails of active users (9.3+) into the store, once per sync. Without admin rights the
/// sync goes on without emails.
fn load_emails(cx: &Context) -> Result<(), ConnectorError> {
    if cx.kv.get(keys::EMAILS_LOADED).is_some() {
        return Ok(());
    }
    let first = format!("/rest/api/admin/users/list/active?limit={}&start=0", cx.options.page_size);
    let walked = each_page(cx, first, |users: Vec<ConfluenceUser>| -> ControlFlow<()> {
        for user in users {
            if let (Some(username), Some(email)) = (user.username, user.email.filter(|e| !e.is_empty())) {
                cx.kv.set(&keys::email_of(&username), &email);
            }
        }
        ControlFlow::Continue(())
    });
    match walked {
        Ok(_) => {}
        Err(ConnectorError::PermissionDenied(message) | ConnectorError::Unauthenticated(message)) => {
            guest_log::write(
                guest_log::Level::Warn,
                "cannot read user emails (needs a Confluence administrator); users are synced without them",
                &[("detail", &message)],
            );
        }
        Err(other) => return Err(other),
    }
    cx.kv.set(keys::EMAILS_LOADED, "1");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::users::{ConfluenceUser, user_resource};
    use crate::kv::KeyValue;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;
    use crate::types::{ProfileValue, Status};

    fn page(users: &str, next: Option<&str>) -> crate::transport::Response {
        let links = match next {
            Some(n) => format!(r#"{{"base":"http://elsewhere:8090/confluence","context":"/confluence","next":"{n}"}}"#),
            None => r#"{"base":"http://elsewhere:8090/confluence","context":"/confluence"}"#.to_string(),
        };
        FakeTransport::json(200, &format!(r#"{{"results":[{users}],"start":0,"limit":2,"size":2,"_links":{links}}}"#))
    }

    const ADA: &str = r#"{"type":"known","username":"ada","userKey":"k1","displayName":"Ada","status":"current"}"#;
    const BOB: &str = r#"{"type":"known","username":"bob","userKey":"k2","displayName":"","status":"deactivated"}"#;
    const CY: &str = r#"{"type":"known","username":"cy","userKey":"k3","displayName":"שלום"}"#;

    #[test]
    fn follows_next_links_past_short_pages_until_none() {
        let fake = FakeTransport::new(vec![page(&format!("{ADA},{BOB}"), Some("/rest/api/user/list?expand=status&limit=2&start=2")), page(CY, None)]);
        let kv = kv_with_version("8.5.0");
        let connector = connector(&fake, &kv);
        let first = connector.list_resources(USER, None, None).unwrap();
        assert_eq!(first.items.len(), 2);
        let token = first.next_page_token.expect("a next page");
        let second = connector.list_resources(USER, None, Some(&token)).unwrap();
        assert_eq!(second.items.len(), 1);
        assert!(second.next_page_token.is_none());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user/list?limit=1000&start=0&expand=status", "/rest/api/user/list?expand=status&limit=2&start=2"]);
        assert_eq!(kv.get("user-key:k3").as_deref(), Some("cy"), "userKeys are remembered");
    }

    #[test]
    fn maps_status_names_and_profile() {
        let fake = FakeTransport::new(vec![page(&format!("{ADA},{BOB},{CY}"), None)]);
        let kv = kv_with_version("8.5.0");
        let items = connector(&fake, &kv).list_resources(USER, None, None).unwrap().items;
        let statuses: Vec<Status> = items.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Status::Enabled, Status::Disabled, Status::Unspecified]);
        assert_eq!(items[0].id.resource, "ada");
        assert_eq!(items[1].display_name, "bob", "empty display name falls back to the username");
        assert_eq!(items[2].display_name, "שלום");
        let user = items[0].user.as_ref().unwrap();
        assert_eq!(user.login, "ada");
        assert!(user.emails.is_empty(), "no email before 9.3");
        assert!(items[0].profile.iter().any(|f| f.key == "user_key" && matches!(&f.value, ProfileValue::Text(k) if k == "k1")));
    }

    #[test]
    fn emails_come_from_the_admin_list_on_9_3() {
        let fake = FakeTransport::new(vec![page(r#"{"username":"ada","userKey":"k1","email":"ada@example.com"}"#, None), page(&format!("{ADA},{BOB}"), None)]);
        let kv = kv_with_version("9.3.0");
        let items = connector(&fake, &kv).list_resources(USER, None, None).unwrap().items;
        assert_eq!(items[0].user.as_ref().unwrap().emails[0].address, "ada@example.com");
        assert!(items[1].user.as_ref().unwrap().emails.is_empty(), "no email is invented");
        assert!(fake.sent_paths()[0].starts_with("/rest/api/admin/users/list/active"));
    }

    #[test]
    fn before_8_4_users_come_from_json_rpc_and_single_lookups() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, r#"["ada","bob"]"#),
            FakeTransport::json(200, ADA),
            FakeTransport::json(404, r#"{"statusCode":404,"message":"no user"}"#),
        ]);
        let kv = kv_with_version("7.19.0");
        let page = connector(&fake, &kv).list_resources(USER, None, None).unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.next_page_token.is_none());
        assert_eq!(
            fake.sent_paths(),
            vec!["/rpc/json-rpc/confluenceservice-v2/getActiveUsers", "/rest/api/user?username=ada&expand=status", "/rest/api/user?username=bob&expand=status"]
        );
        let rpc = &fake.sent.borrow()[0];
        assert_eq!(rpc.body.as_deref(), Some(&b"[true]"[..]));
        assert!(rpc.headers.iter().any(|(k, v)| k == "x-atlassian-token" && v == "no-check"));
    }

    fn user_id(id: &str) -> ResourceId {
        ResourceId { resource_type: USER.into(), resource: id.into() }
    }

    #[test]
    fn get_reads_one_user_with_its_status() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, BOB)]);
        let kv = kv_with_version("8.5.0");
        let bob = connector(&fake, &kv).get_resource(&user_id("bob"), None).unwrap();
        assert_eq!(bob.id.resource, "bob");
        assert_eq!(bob.status, Status::Disabled, "deactivated is disabled");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user?username=bob&expand=status"]);
    }

    #[test]
    fn get_of_an_unknown_user_is_not_found() {
        let fake = FakeTransport::new(vec![FakeTransport::json(404, r#"{"statusCode":404,"message":"No user found with username : zed"}"#)]);
        let kv = kv_with_version("9.2.0");
        let err = connector(&fake, &kv).get_resource(&user_id("zed"), None).unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound(ref m) if m.contains("zed")), "{err:?}");
        assert_eq!(fake.sent_paths().len(), 1, "no JSON-RPC fallback on 8.4+");
    }

    #[test]
    fn before_8_4_get_falls_back_to_json_rpc_without_a_status() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(404, r#"{"statusCode":404,"message":"no user"}"#),
            FakeTransport::json(200, r#"{"name":"old","fullname":"Old Timer","email":"old@example.com","key":"k9"}"#),
        ]);
        let kv = kv_with_version("7.19.0");
        let old = connector(&fake, &kv).get_resource(&user_id("old"), None).unwrap();
        assert_eq!(old.status, Status::Unspecified, "the remote API cannot tell");
        assert_eq!(old.display_name, "Old Timer");
        assert_eq!(old.user.as_ref().unwrap().emails[0].address, "old@example.com");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user?username=old&expand=status", "/rpc/json-rpc/confluenceservice-v2/getUser"]);
        assert_eq!(kv.get("user-key:k9").as_deref(), Some("old"));
    }

    #[test]
    fn before_8_4_a_json_rpc_error_is_not_found() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(404, r#"{"statusCode":404,"message":"no user"}"#),
            FakeTransport::json(500, r#"{"error":{"code":-32000,"message":"No user with key 'k0' found"}}"#),
        ]);
        let kv = kv_with_version("7.19.0");
        let options = crate::settings::Options { user_id: UserId::UserKey, ..crate::registry::tests::january_2025() };
        let err = crate::Connector::new(&fake, &kv, options).get_resource(&user_id("k0"), None).unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user?key=k0&expand=status", "/rpc/json-rpc/confluenceservice-v2/getUserByKey"]);
    }

    #[test]
    fn user_keys_can_be_the_id() {
        let user: ConfluenceUser = serde_json::from_str(ADA).unwrap();
        assert_eq!(user_resource(user, UserId::UserKey, None).unwrap().id.resource, "k1");
    }

    #[test]
    fn entries_without_username_are_skipped() {
        let fake = FakeTransport::new(vec![page(r#"{"type":"unknown","userKey":"zz"}"#, None)]);
        let kv = kv_with_version("8.5.0");
        assert!(connector(&fake, &kv).list_resources(USER, None, None).unwrap().items.is_empty());
    }

    #[test]
    fn before_8_4_listing_resumes_from_a_legacy_offset_token() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, BOB)]);
        let kv = kv_with_version("7.19.0");
        kv.set("all-usernames", r#"["ada","bob"]"#);
        let page = connector(&fake, &kv).list_resources(USER, None, Some("rpc:1")).unwrap();
        assert_eq!(page.items.iter().map(|r| r.id.resource.as_str()).collect::<Vec<_>>(), ["bob"]);
        assert!(page.next_page_token.is_none());
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user?username=bob&expand=status"]);
    }
}
