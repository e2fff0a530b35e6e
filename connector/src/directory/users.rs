//! Confluence users as the directory knows them: the [`ConfluenceUser`] answer, single lookups
//! (REST `GET /rest/api/user?username=|key=` on every version, the remote API's `getUser` /
//! `getUserByKey` before 8.4), every username (`/rest/api/user/list` on 8.4+, JSON-RPC
//! `getActiveUsers(true)` before), the mapping to `user` resources, and userKey <-> username,
//! remembered in the per-sync store (listing users fills it; the space-permission and membership
//! mappings read it).
//!
//! Resource id = the userKey or the username, as the compatibility profile (the Go release whose
//! ids are kept, so review history carries over) or `user-id` says. Status: `current` -> enabled, any
//! other value -> disabled, absent -> unspecified. Emails are never invented.

use crate::client::encode_component;
use crate::directory::ids::USER;
use crate::directory::keys;
use crate::directory::paging::each_page;
use crate::directory::profile::text;
use crate::guest_log;
use crate::settings::UserId;
use crate::syncer::Context;
use crate::types::{AccountType, ConnectorError, Email, ProfileField, Resource, ResourceId, Status, UserTrait};
use serde::Deserialize;
use std::ops::ControlFlow;

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
pub fn lookup_user_over_json_rpc(cx: &Context, by: &str, value: &str) -> Result<Option<ConfluenceUser>, ConnectorError> {
    let method = if by == "key" { "getUserByKey" } else { "getUser" };
    let remote: RemoteUser = match cx.client.json_rpc_lookup(method, serde_json::json!([value])) {
        Ok(Some(remote)) => remote,
        Ok(None) | Err(ConnectorError::NotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let Some(username) = remote.name.filter(|n| !n.is_empty()) else { return Ok(None) };
    if let Some(email) = remote.email.filter(|e| !e.is_empty()) {
        cx.kv.set(&keys::email_of(&username), &email);
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

/// Every username, from the per-sync store or the server (user list pages on 8.4+, JSON-RPC
/// `getActiveUsers(true)` before).
pub fn all_usernames(cx: &Context) -> Result<Vec<String>, ConnectorError> {
    if let Some(names) = cx.kv.get(keys::ALL_USERNAMES).and_then(|json| serde_json::from_str(&json).ok()) {
        return Ok(names);
    }
    let version = cx.version()?;
    let names: Vec<String> = if version.has_user_list() {
        let mut names = Vec::new();
        each_page(cx, format!("/rest/api/user/list?limit={}&start=0", cx.options.page_size), |users: Vec<ConfluenceUser>| -> ControlFlow<()> {
            names.extend(users.into_iter().filter_map(|u| u.username));
            ControlFlow::Continue(())
        })?;
        names
    } else {
        let listed: Vec<Option<String>> = cx.client.json_rpc("getActiveUsers", serde_json::json!([true])).map_err(|err| match err {
            ConnectorError::NotFound(_) => ConnectorError::Unimplemented(format!(
                "Confluence {version} has no /rest/api/user/list (added in 8.4) and its JSON-RPC API (getActiveUsers) is not available: enable the remote API or upgrade to list users"
            )),
            other => other,
        })?;
        listed.into_iter().flatten().filter(|name| !name.is_empty()).collect()
    };
    cx.kv.set(keys::ALL_USERNAMES, &serde_json::to_string(&names).unwrap_or_default());
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
    remembered_or_looked_up(cx, &keys::username_of_key(key), "key", key, |u| u.username)
}

/// The userKey of a username, the same way.
pub fn key_for_username(cx: &Context, username: &str) -> Result<Option<String>, ConnectorError> {
    remembered_or_looked_up(cx, &keys::key_of_username(username), "username", username, |u| u.user_key)
}

/// The value kept under `kv_key`, else the part `pick` takes of the user looked up `by` `value`
/// (kept for the rest of the sync).
pub fn remembered_or_looked_up(
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

/// Records the user's userKey <-> username in the store, then maps them (with the email the
/// store has and the profile link).
pub fn remember_and_map(cx: &Context, user: ConfluenceUser) -> Option<Resource> {
    if let (Some(username), Some(key)) = (&user.username, &user.user_key) {
        cx.kv.set(&keys::username_of_key(key), username);
        cx.kv.set(&keys::key_of_username(username), key);
    }
    let email = user.username.as_deref().and_then(|u| cx.kv.get(&keys::email_of(u)));
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
    profile.extend(go_connector_user_fields(&username, user.user_key.as_deref(), user.kind.as_deref()));
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

/// The profile fields the older Go connector writes for a user (`user_name`, `id` = the userKey,
/// `account_type` = Confluence's user type), kept so what reads them keeps working.
fn go_connector_user_fields(username: &str, user_key: Option<&str>, kind: Option<&str>) -> Vec<ProfileField> {
    let mut fields = vec![text("user_name", username)];
    fields.extend(user_key.map(|k| text("id", k)));
    fields.extend(kind.map(|k| text("account_type", k)));
    fields
}

/// `current` -> enabled; any other value -> disabled; absent -> unspecified.
pub fn status_of(status: Option<&str>) -> Status {
    match status {
        None => Status::Unspecified,
        Some(s) if s.eq_ignore_ascii_case("current") => Status::Enabled,
        Some(_) => Status::Disabled,
    }
}
