//! Confluence users as `user` resources.
//!
//! Sources by version (see `version.rs`): `GET /rest/api/user/list?expand=status` on 8.4+ (every
//! registered user, disabled ones included); before 8.4 there is no list endpoint, so the
//! usernames come from JSON-RPC `getActiveUsers(true)` and each user's details from
//! `GET /rest/api/user?username=` — one request per user, the price of missing no one (a union
//! of group members would miss users in no group). Whether `getActiveUsers(true)` includes
//! deactivated users is unconfirmed (docs/confluence-dc.md §5.5); those it leaves out are still
//! found through `get` when a grant names them. Emails exist only on 9.3+
//! (`/rest/api/admin/users/list/active`); they are never invented.
//!
//! Resource id = username by default (the older Go connector's convention, so review history
//! carries over), or the userKey with `user-id=user-key`. Status: `current` -> enabled, any
//! other value -> disabled, absent -> unspecified. Listing users also records
//! userKey <-> username in the per-sync store for the space-permission and membership mappings.

use crate::client::encode_component;
use crate::guest_log;
use crate::kv;
use crate::settings::UserId;
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{
    AccountInfo, AccountType, Capability, ConnectorError, CreateAccountOutcome, Email, ProfileField, ProfileValue, Resource, ResourceId, ResourcePage, ResourceTrait,
    ResourceType, Status, UserTrait,
};
use serde::Deserialize;

/// Resource type id of users.
pub const USER: &str = "user";
/// Users whose details one call fetches when listing through JSON-RPC (pre-8.4).
const DETAIL_BATCH: usize = 50;
const KV_ALL_USERNAMES: &str = "all-usernames";
const KV_EMAILS_LOADED: &str = "emails-loaded";
const RPC_TOKEN_PREFIX: &str = "rpc:";

/// Lists users.
pub struct UserSyncer;

/// A user as Confluence returns it (list items, member lists, single lookups).
#[derive(Debug, Clone, Deserialize)]
pub struct ConfluenceUser {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    #[serde(rename = "userKey")]
    pub user_key: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    pub status: Option<String>,
    pub email: Option<String>,
}

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
        if !version.has_user_list() || token.is_some_and(|t| t.starts_with(RPC_TOKEN_PREFIX)) {
            return list_through_json_rpc(cx, token);
        }
        if token.is_none() && version.has_admin_active_users() {
            load_emails(cx)?;
        }
        let path = token.map(str::to_string).unwrap_or_else(|| first_page_path(cx.options.page_size));
        let page = cx.client.get_page::<ConfluenceUser>(&path)?;
        let items = page.items.into_iter().filter_map(|u| remember_and_map(cx, u)).collect();
        Ok(ResourcePage { items, next_page_token: page.next })
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        let by = match cx.options.user_id {
            UserId::Username => "username",
            UserId::UserKey => "key",
        };
        let found = match lookup_user(cx, by, &id.resource)? {
            Some(user) => Some(user),
            None if !cx.version()?.has_user_list() => lookup_user_over_json_rpc(cx, by, &id.resource)?,
            None => None,
        };
        found
            .and_then(|user| remember_and_map(cx, user))
            .ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user with {by} {:?}", id.resource)))
    }

    fn create_account(&self, cx: &Context, account: &AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        crate::account::create(cx, account)
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::AccountProvisioning, Capability::TargetedSync]
    }
}

/// A user as JSON-RPC `getUser` / `getUserByKey` answers (the remote API's `RemoteUser`). It
/// carries no status, so a user found this way has status unspecified.
#[derive(Debug, Deserialize)]
struct RemoteUser {
    name: Option<String>,
    fullname: Option<String>,
    email: Option<String>,
    key: Option<String>,
}

/// Before 8.4, the remote API's own single-user lookup, for a user the REST lookup did not find.
/// Its error answer (the API's way of saying "no such user") and a missing API both read as
/// none.
fn lookup_user_over_json_rpc(cx: &Context, by: &str, value: &str) -> Result<Option<ConfluenceUser>, ConnectorError> {
    let method = if by == "key" { "getUserByKey" } else { "getUser" };
    let remote: RemoteUser = match cx.client.json_rpc_lookup(method, serde_json::json!([value])) {
        Ok(Some(remote)) => remote,
        Ok(None) | Err(ConnectorError::NotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let Some(username) = remote.name.filter(|n| !n.is_empty()) else { return Ok(None) };
    if let Some(email) = remote.email.filter(|e| !e.is_empty()) {
        cx.kv.set(&kv::email_of(&username), &email);
    }
    Ok(Some(ConfluenceUser {
        kind: Some("known".into()),
        user_key: remote.key.or_else(|| (by == "key").then(|| value.to_string())),
        username: Some(username),
        display_name: remote.fullname,
        status: None,
        email: None,
    }))
}

fn first_page_path(page_size: u32) -> String {
    format!("/rest/api/user/list?limit={page_size}&start=0&expand=status")
}

/// Pre-8.4 listing: a batch of usernames from the JSON-RPC list, each looked up over REST.
fn list_through_json_rpc(cx: &Context, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
    let usernames = all_usernames(cx)?;
    let offset: usize = token.and_then(|t| t.strip_prefix(RPC_TOKEN_PREFIX)).and_then(|n| n.parse().ok()).unwrap_or(0);
    let end = (offset + DETAIL_BATCH).min(usernames.len());
    let mut items = Vec::new();
    for username in &usernames[offset.min(end)..end] {
        if let Some(user) = lookup_user(cx, "username", username)? {
            items.extend(remember_and_map(cx, user));
        }
    }
    let next_page_token = (end < usernames.len()).then(|| format!("{RPC_TOKEN_PREFIX}{end}"));
    Ok(ResourcePage { items, next_page_token })
}

/// Every username, from the per-sync store or the server (user list pages on 8.4+, JSON-RPC
/// `getActiveUsers(true)` before).
pub fn all_usernames(cx: &Context) -> Result<Vec<String>, ConnectorError> {
    if let Some(names) = cx.kv.get(KV_ALL_USERNAMES).and_then(|json| serde_json::from_str(&json).ok()) {
        return Ok(names);
    }
    let version = cx.version()?;
    let names: Vec<String> = if version.has_user_list() {
        let mut names = Vec::new();
        let mut path = Some(format!("/rest/api/user/list?limit={}&start=0", cx.options.page_size));
        while let Some(current) = path {
            let page = cx.client.get_page::<ConfluenceUser>(&current)?;
            names.extend(page.items.into_iter().filter_map(|u| u.username));
            path = page.next;
        }
        names
    } else {
        cx.client.json_rpc("getActiveUsers", serde_json::json!([true])).map_err(|err| match err {
            ConnectorError::NotFound(_) => ConnectorError::Unimplemented(format!(
                "Confluence {version} has no /rest/api/user/list (added in 8.4) and its JSON-RPC API (getActiveUsers) is not available: enable the remote API or upgrade to list users"
            )),
            other => other,
        })?
    };
    cx.kv.set(KV_ALL_USERNAMES, &serde_json::to_string(&names).unwrap_or_default());
    Ok(names)
}

/// One user by `username` or `key`; none when Confluence does not know them.
pub fn lookup_user(cx: &Context, by: &str, value: &str) -> Result<Option<ConfluenceUser>, ConnectorError> {
    let path = format!("/rest/api/user?{by}={}&expand=status", encode_component(value));
    match cx.client.get_json::<ConfluenceUser>(&path) {
        Ok(user) => Ok(Some(user)),
        Err(ConnectorError::NotFound(_)) => {
            guest_log::debug("Confluence does not know this user; skipped", &[(by, value)]);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// Whether Confluence has a user with this username (`/rest/api/user?username=`, on every
/// supported version).
pub fn exists(cx: &Context, username: &str) -> Result<bool, ConnectorError> {
    Ok(lookup_user(cx, "username", username)?.is_some())
}

/// The username of a user resource id under the configured convention (a lookup by userKey
/// when users are keyed that way); none when Confluence does not know the user.
pub fn username_of(cx: &Context, user_id: &str) -> Result<Option<String>, ConnectorError> {
    match cx.options.user_id {
        UserId::Username => Ok(Some(user_id.to_string())),
        UserId::UserKey => username_for_key(cx, user_id),
    }
}

/// The user resource id of a username under the configured convention.
pub fn user_id_for_username(cx: &Context, username: &str) -> Result<Option<String>, ConnectorError> {
    match cx.options.user_id {
        UserId::Username => Ok(Some(username.to_string())),
        UserId::UserKey => key_for_username(cx, username),
    }
}

/// The username of a userKey: from the per-sync store (filled while listing users), else looked
/// up once and remembered.
pub fn username_for_key(cx: &Context, key: &str) -> Result<Option<String>, ConnectorError> {
    remembered_or_looked_up(cx, &kv::username_of_key(key), "key", key, |u| u.username)
}

/// The userKey of a username, the same way.
pub fn key_for_username(cx: &Context, username: &str) -> Result<Option<String>, ConnectorError> {
    remembered_or_looked_up(cx, &kv::key_of_username(username), "username", username, |u| u.user_key)
}

fn remembered_or_looked_up(
    cx: &Context,
    kv_key: &str,
    by: &str,
    value: &str,
    pick: impl Fn(ConfluenceUser) -> Option<String>,
) -> Result<Option<String>, ConnectorError> {
    if let Some(known) = cx.kv.get(kv_key) {
        return Ok(Some(known));
    }
    let found = lookup_user(cx, by, value)?.and_then(pick);
    if let Some(found) = &found {
        cx.kv.set(kv_key, found);
    }
    Ok(found)
}

/// Loads emails of active users (9.3+) into the store, once per sync. Without admin rights the
/// sync goes on without emails.
fn load_emails(cx: &Context) -> Result<(), ConnectorError> {
    if cx.kv.get(KV_EMAILS_LOADED).is_some() {
        return Ok(());
    }
    let mut path = Some(format!("/rest/api/admin/users/list/active?limit={}&start=0", cx.options.page_size));
    while let Some(current) = path {
        let page = match cx.client.get_page::<ConfluenceUser>(&current) {
            Ok(page) => page,
            Err(ConnectorError::PermissionDenied(message) | ConnectorError::Unauthenticated(message)) => {
                guest_log::write(
                    crate::guest_log::Level::Warn,
                    "cannot read user emails (needs a Confluence administrator); users are synced without them",
                    &[("detail", &message)],
                );
                break;
            }
            Err(other) => return Err(other),
        };
        for user in page.items {
            if let (Some(username), Some(email)) = (user.username, user.email.filter(|e| !e.is_empty())) {
                cx.kv.set(&kv::email_of(&username), &email);
            }
        }
        path = page.next;
    }
    cx.kv.set(KV_EMAILS_LOADED, "1");
    Ok(())
}

/// Records the user's userKey <-> username in the store, then maps them.
fn remember_and_map(cx: &Context, user: ConfluenceUser) -> Option<Resource> {
    if let (Some(username), Some(key)) = (&user.username, &user.user_key) {
        cx.kv.set(&kv::username_of_key(key), username);
        cx.kv.set(&kv::key_of_username(username), key);
    }
    let email = user.username.as_deref().and_then(|u| cx.kv.get(&kv::email_of(u)));
    let link = user.username.as_deref().and_then(|u| user_link(cx.options.web_base.as_deref(), u));
    user_resource(user, cx.options.user_id, email).map(|r| Resource { external_link: link, ..r })
}

/// The user's profile page, when Confluence is served over https.
pub fn user_link(web_base: Option<&str>, username: &str) -> Option<String> {
    web_base.map(|base| format!("{base}/users/viewuserprofile.action?username={}", encode_component(username)))
}

/// The id of a user resource under the configured convention; none if the needed attribute is
/// missing.
pub fn user_id_of(user: &ConfluenceUser, convention: UserId) -> Option<String> {
    let id = match convention {
        UserId::Username => user.username.as_deref(),
        UserId::UserKey => user.user_key.as_deref(),
    };
    id.filter(|i| !i.is_empty()).map(str::to_string)
}

/// Maps one Confluence user; entries without a username (or userKey, when that is the id) are
/// skipped.
pub fn user_resource(user: ConfluenceUser, convention: UserId, email: Option<String>) -> Option<Resource> {
    let (Some(id), Some(username)) = (user_id_of(&user, convention), user.username.clone().filter(|u| !u.is_empty())) else {
        guest_log::debug("skipping a user entry without a username or userKey", &[("userKey", user.user_key.as_deref().unwrap_or(""))]);
        return None;
    };
    let status = status_of(user.status.as_deref());
    let display_name = user.display_name.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| username.clone());
    let mut profile = vec![text("username", &username)];
    profile.extend(user.user_key.as_deref().map(|k| text("user_key", k)));
    profile.extend(user.kind.as_deref().map(|k| text("type", k)));
    profile.extend(user.status.as_deref().map(|s| text("status", s)));
    profile.extend(email.as_deref().map(|e| text("email", e)));
    let emails = email.into_iter().map(|address| Email { address, is_primary: true }).collect();
    Some(Resource {
        id: ResourceId { resource_type: USER.into(), resource: id },
        parent: None,
        display_name,
        description: String::new(),
        status,
        user: Some(UserTrait { login: username, emails, status, account_type: AccountType::Human }),
        group: None,
        profile,
        external_link: None,
    })
}

/// `current` -> enabled; any other value -> disabled; absent -> unspecified.
pub fn status_of(status: Option<&str>) -> Status {
    match status {
        None => Status::Unspecified,
        Some(s) if s.eq_ignore_ascii_case("current") => Status::Enabled,
        Some(_) => Status::Disabled,
    }
}

/// A text profile field.
pub fn text(key: &str, value: &str) -> ProfileField {
    ProfileField { key: key.into(), value: ProfileValue::Text(value.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KeyValue;
    use crate::syncer::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;

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
        let fake = FakeTransport::new(vec![
            page(&format!("{ADA},{BOB}"), Some("/rest/api/user/list?expand=status&limit=2&start=2")),
            page(CY, None),
        ]);
        let kv = kv_with_version("8.5.0");
        let connector = connector(&fake, &kv);
        let first = connector.list_resources(USER, None, None).unwrap();
        assert_eq!(first.items.len(), 2);
        let token = first.next_page_token.expect("a next page");
        let second = connector.list_resources(USER, None, Some(&token)).unwrap();
        assert_eq!(second.items.len(), 1);
        assert!(second.next_page_token.is_none());
        assert_eq!(
            fake.sent_paths(),
            vec!["/rest/api/user/list?limit=1000&start=0&expand=status", "/rest/api/user/list?expand=status&limit=2&start=2"]
        );
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
        let fake = FakeTransport::new(vec![
            page(r#"{"username":"ada","userKey":"k1","email":"ada@example.com"}"#, None),
            page(&format!("{ADA},{BOB}"), None),
        ]);
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
        let options = crate::settings::Options { user_id: UserId::UserKey, ..crate::settings::Options::default() };
        let err = crate::syncer::Connector::new(&fake, &kv, options).get_resource(&user_id("k0"), None).unwrap_err();
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
}
