//! Group endpoints (docs/confluence-dc.md §6): `/rest/api/group` (paged list), `/group/{name}`,
//! `/group/{name}/member` (admin only; 401 on 8.x, 403 elsewhere), the 10.2+ query-parameter
//! forms `/group/info?groupName=` and `/group/member?groupName=`, and the Group JSON shape.

use axum::http::StatusCode;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::decode_segment;
use super::users::user_json;
use crate::auth::Caller;
use crate::dataset::{SimGroup, SimUser};
use crate::paging::paged_response;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, forbidden, ok_json, rest_error};
use crate::state::SimState;

const GROUP_LIST_PATH: &str = "/rest/api/group";
const MEMBER_QUERY_PATH: &str = "/rest/api/group/member";
/// Default page size of the group endpoints (docs/confluence-dc.md §6.1).
pub const GROUP_DEFAULT_LIMIT: usize = 200;

/// Characters escaped in a path segment (everything but unreserved ones).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `{"type":"group","name":...,"_links":{"self":...}}`.
pub fn group_json(state: &SimState, group: &SimGroup) -> Value {
    let encoded = utf8_percent_encode(&group.name, SEGMENT);
    json!({
        "type": "group",
        "name": group.name,
        "_links": {"self": state.absolute_link(&format!("{GROUP_LIST_PATH}/{encoded}"))},
    })
}

/// Every group, paged. Anonymous callers get 403.
pub fn group_list(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    if caller.user().is_none() {
        return forbidden("User not permitted to view groups", request.wants_json());
    }
    let directory = state.directory();
    paged_response(state, request, GROUP_LIST_PATH, GROUP_DEFAULT_LIMIT, &directory.groups, |g| group_json(state, g))
}

pub fn group_by_path(state: &SimState, request: &SimRequest, caller: &Caller, raw_name: &str) -> HttpResponse {
    group_info(state, request, caller, &decode_segment(raw_name))
}

pub fn group_by_query(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    match request.param("groupName") {
        Some(name) => group_info(state, request, caller, name),
        None => bad_request("groupName is required", request.wants_json()),
    }
}

fn group_info(state: &SimState, request: &SimRequest, caller: &Caller, name: &str) -> HttpResponse {
    let wants_json = request.wants_json();
    if caller.user().is_none() {
        return forbidden("User not permitted to view groups", wants_json);
    }
    match state.directory().group_by_name(name) {
        Some(group) => ok_json(&group_json(state, group)),
        None => group_not_found(name, wants_json),
    }
}

pub fn members_by_path(state: &SimState, request: &SimRequest, caller: &Caller, raw_name: &str) -> HttpResponse {
    let path = format!("{GROUP_LIST_PATH}/{raw_name}/member");
    members(state, request, caller, &decode_segment(raw_name), &path)
}

pub fn members_by_query(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    match request.param("groupName") {
        Some(name) => members(state, request, caller, name, MEMBER_QUERY_PATH),
        None => bad_request("groupName is required", request.wants_json()),
    }
}

/// The members of `name`, paged (admin only). A name holding a literal `%2F` (sent as `%252F`)
/// answers an empty page, as real servers do for that "wrong group" (docs/confluence-dc.md §6.2).
fn members(state: &SimState, request: &SimRequest, caller: &Caller, name: &str, resource_path: &str) -> HttpResponse {
    let wants_json = request.wants_json();
    if !caller.is_admin() {
        return deny_non_admin(state, wants_json);
    }
    let directory = state.directory();
    let users: Vec<&SimUser> = match directory.group_by_name(name) {
        Some(group) => group.members.iter().filter_map(|m| directory.user_by_username(m)).collect(),
        None if name.to_ascii_lowercase().contains("%2f") => Vec::new(),
        None => return group_not_found(name, wants_json),
    };
    let expand_status = request.expands("status");
    paged_response(state, request, resource_path, GROUP_DEFAULT_LIMIT, &users, |u| user_json(state, u, expand_status))
}

/// 8.x answers non-admins with 401 (XML `<status>` unless JSON is accepted); others with 403.
fn deny_non_admin(state: &SimState, wants_json: bool) -> HttpResponse {
    if state.version.denies_with_401() {
        rest_error(StatusCode::UNAUTHORIZED, "Client must be authenticated to access this resource.", wants_json)
    } else {
        forbidden("User is not permitted to view group members", wants_json)
    }
}

fn group_not_found(name: &str, wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::NOT_FOUND, &format!("No group found with name : {name}"), wants_json)
}
