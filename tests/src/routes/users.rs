//! User endpoints: `/rest/api/user/current`, `/user/anonymous`, `/user/list`, `/user`,
//! `/user/memberof`, the 9.3+ admin `/admin/users/list/active`, and the KnownUser /
//! anonymous JSON shapes (docs/confluence-dc.md §5.2).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::groups::{GROUP_DEFAULT_LIMIT, group_json};
use crate::auth::Caller;
use crate::dataset::SimUser;
use crate::paging::{PageRequest, page_envelope, page_of, paged_response};
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, forbidden, ok_json, rest_error};
use crate::state::{Directory, SimState};

const USER_LIST_PATH: &str = "/rest/api/user/list";
const MEMBER_OF_PATH: &str = "/rest/api/user/memberof";
const ACTIVE_LIST_PATH: &str = "/rest/api/admin/users/list/active";

pub fn current_user(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    match caller {
        Caller::Anonymous => anonymous_user(state),
        Caller::User(user) => ok_json(&single_user_json(state, user, request.expands("status"))),
    }
}

pub fn anonymous_user(state: &SimState) -> HttpResponse {
    ok_json(&json!({
        "type": "anonymous",
        "profilePicture": profile_picture(state, "anonymous.svg"),
        "displayName": "Anonymous",
        "_links": {
            "self": state.absolute_link("/rest/api/user/anonymous"),
            "base": state.link_base(),
            "context": state.link_context(),
        },
        "_expandable": {"operations": ""},
    }))
}

/// Every user, including deactivated ones. Anonymous and unlicensed callers get 403.
pub fn user_list(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    if !may_list_users(caller) {
        return forbidden("User not permitted to list users", wants_json);
    }
    let page = match PageRequest::from_request(request, state.config.default_limit, state.config.max_limit) {
        Ok(page) => page,
        Err(message) => return bad_request(&message, wants_json),
    };
    let expand_status = request.expands("status");
    let directory = state.directory();
    let results = page.slice(&directory.users).iter().map(|user| user_json(state, user, expand_status)).collect();
    ok_json(&page_envelope(state, request, USER_LIST_PATH, page, results, directory.users.len()))
}

/// One user by `key` or `username`; 404 RestError when unknown.
pub fn single_user(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    if caller.user().is_none() {
        return forbidden("Anonymous users are not permitted to view user profiles", wants_json);
    }
    let directory = state.directory();
    match requested_user(&directory, request) {
        Ok(user) => ok_json(&single_user_json(state, user, request.expands("status"))),
        Err(response) => *response,
    }
}

/// The groups of the user named by `username` or `key`, paged. Any signed-in caller may ask.
pub fn member_of(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    if caller.user().is_none() {
        return forbidden("Anonymous users are not permitted to view group membership", wants_json);
    }
    let directory = state.directory();
    let user = match requested_user(&directory, request) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let groups = directory.groups_of(&user.username);
    paged_response(state, request, MEMBER_OF_PATH, GROUP_DEFAULT_LIMIT, &groups, |g| group_json(state, g))
}

/// Licensed active users with their email (9.3+, admins only); the envelope adds `totalCount`.
pub fn active_user_list(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    if !caller.is_admin() {
        return forbidden("User is not a system administrator", request.wants_json());
    }
    let directory = state.directory();
    let active: Vec<&SimUser> = directory.users.iter().filter(|u| u.is_licensed_active()).collect();
    let expand_status = request.expands("status");
    let envelope = page_of(state, request, ACTIVE_LIST_PATH, state.config.default_limit, &active, |u| active_user_json(u, expand_status));
    match envelope {
        Ok(mut envelope) => {
            if let Some(object) = envelope.as_object_mut() {
                object.insert("totalCount".into(), json!(active.len()));
            }
            ok_json(&envelope)
        }
        Err(response) => *response,
    }
}

/// `{"type":"known","username","userKey","displayName","email"}`; absent fields are omitted.
fn active_user_json(user: &SimUser, expand_status: bool) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), json!("known"));
    object.insert("username".into(), json!(user.username));
    object.insert("userKey".into(), json!(user.user_key));
    if let Some(display_name) = &user.display_name {
        object.insert("displayName".into(), json!(display_name));
    }
    if let Some(email) = &user.email {
        object.insert("email".into(), json!(email));
    }
    if let (true, Some(status)) = (expand_status, &user.status) {
        object.insert("status".into(), json!(status));
    }
    Value::Object(object)
}

fn may_list_users(caller: &Caller) -> bool {
    caller.user().is_some_and(|user| !user.is_unlicensed())
}

/// The user named by the `key` (preferred) or `username` parameter: 400 when neither is
/// supplied, 404 RestError when no such user exists.
fn requested_user<'d>(directory: &'d Directory, request: &SimRequest) -> Result<&'d SimUser, Box<HttpResponse>> {
    let wants_json = request.wants_json();
    let found = match (request.param("key"), request.param("username")) {
        (Some(key), _) => directory.user_by_key(key),
        (None, Some(username)) => directory.user_by_username(username),
        (None, None) => {
            return Err(Box::new(bad_request("A username or a key must be supplied", wants_json)));
        }
    };
    found.ok_or_else(|| Box::new(rest_error(StatusCode::NOT_FOUND, &user_not_found_message(request), wants_json)))
}

fn user_not_found_message(request: &SimRequest) -> String {
    match (request.param("key"), request.param("username")) {
        (Some(key), _) => format!("No user found with key : {key}"),
        (None, Some(username)) => format!("No user found with username : {username}"),
        (None, None) => "No user found".to_string(),
    }
}

/// KnownUser as it appears in lists: `_links.self` only.
pub fn user_json(state: &SimState, user: &SimUser, expand_status: bool) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), json!("known"));
    object.insert("username".into(), json!(user.username));
    object.insert("userKey".into(), json!(user.user_key));
    object.insert("profilePicture".into(), profile_picture(state, "default.svg"));
    if let Some(display_name) = &user.display_name {
        object.insert("displayName".into(), json!(display_name));
    }
    let mut expandable = Map::new();
    match (&user.status, expand_status) {
        (Some(status), true) => {
            object.insert("status".into(), json!(status));
        }
        _ => {
            expandable.insert("status".into(), json!(""));
        }
    }
    object.insert("_links".into(), json!({"self": user_self_link(state, user)}));
    object.insert("_expandable".into(), Value::Object(expandable));
    Value::Object(object)
}

/// KnownUser as a top-level response: `_links` also carries `base` and `context`.
pub fn single_user_json(state: &SimState, user: &SimUser, expand_status: bool) -> Value {
    let mut value = user_json(state, user, expand_status);
    if let Some(links) = value.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(state.link_base()));
        links.insert("context".into(), json!(state.link_context()));
    }
    value
}

fn user_self_link(state: &SimState, user: &SimUser) -> String {
    state.absolute_link(&format!("/rest/api/user?key={}", user.user_key))
}

fn profile_picture(state: &SimState, file: &str) -> Value {
    json!({
        "path": format!("{}/images/icons/profilepics/{file}", state.context_path),
        "width": 48,
        "height": 48,
        "isDefault": true,
    })
}
