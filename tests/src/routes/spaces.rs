//! Space endpoints (docs/confluence-dc.md §7, §8.3): `/rest/api/space` (paged,
//! `type`/`status`/`spaceKey` filters), `/space/{key}`, and the 9.1+ `/space/{key}/permissions`
//! bare array (anonymous access written as `space_anonymous_subject` says). Signed-in callers see every space; anonymous callers only spaces with anonymous
//! VIEWSPACE.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::decode_segment;
use crate::auth::Caller;
use crate::config::SpaceAnonymousSubject;
use crate::dataset::{SimPermission, SimSpace, Subject};
use crate::paging::paged_response;
use crate::permissions::rest_operation;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, forbidden, ok_json, rest_error};
use crate::state::{Directory, SimState};

const SPACE_LIST_PATH: &str = "/rest/api/space";
/// Default page size of `/rest/api/space` (docs/confluence-dc.md §7.1).
const SPACE_DEFAULT_LIMIT: usize = 25;

/// `{"id","key","name","type","status","_links":{"webui","self"}}`.
pub fn space_json(state: &SimState, space: &SimSpace) -> Value {
    json!({
        "id": space.id,
        "key": space.key,
        "name": space.name,
        "type": space.space_type,
        "status": space.status,
        "_links": {
            "webui": format!("/display/{}", space.key),
            "self": state.absolute_link(&format!("{SPACE_LIST_PATH}/{}", space.key)),
        },
    })
}

pub fn space_list(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    let filter = match SpaceFilter::from_request(request, state.config.space_status_default_all) {
        Ok(filter) => filter,
        Err(message) => return bad_request(&message, wants_json),
    };
    let directory = state.directory();
    let spaces: Vec<&SimSpace> = directory.spaces.iter().filter(|s| filter.matches(s) && visible_to(s, caller)).collect();
    paged_response(state, request, SPACE_LIST_PATH, SPACE_DEFAULT_LIMIT, &spaces, |s| space_json(state, s))
}

/// One space, with `_links.base`/`context`; 404 when missing or not visible.
pub fn single_space(state: &SimState, request: &SimRequest, caller: &Caller, raw_key: &str) -> HttpResponse {
    let key = decode_segment(raw_key);
    let directory = state.directory();
    let Some(space) = directory.space_by_key(&key).filter(|s| visible_to(s, caller)) else {
        return space_not_found(&key, request.wants_json());
    };
    let mut value = space_json(state, space);
    if let Some(links) = value.get_mut("_links").and_then(Value::as_object_mut) {
        links.insert("base".into(), json!(state.link_base()));
        links.insert("context".into(), json!(state.link_context()));
    }
    ok_json(&value)
}

/// Every stored permission row of the space as a bare array (admins only).
pub fn space_permissions(state: &SimState, request: &SimRequest, caller: &Caller, raw_key: &str) -> HttpResponse {
    let wants_json = request.wants_json();
    if !caller.is_admin() {
        return forbidden("User is not permitted to view space permissions", wants_json);
    }
    let key = decode_segment(raw_key);
    let directory = state.directory();
    let Some(space) = directory.space_by_key(&key) else {
        return space_not_found(&key, wants_json);
    };
    let anonymous = state.config.space_anonymous_subject;
    let rows: Vec<Value> = space.permissions.iter().filter_map(|p| permission_json(&directory, space, p, anonymous)).collect();
    ok_json(&Value::Array(rows))
}

/// A REST SpacePermission; `None` when a user subject no longer resolves. Anonymous access is
/// written as `anonymous` says.
fn permission_json(directory: &Directory, space: &SimSpace, row: &SimPermission, anonymous: SpaceAnonymousSubject) -> Option<Value> {
    let subject = match &row.subject {
        Subject::User(username) => Some(json!({"type": "user", "userKey": directory.user_by_username(username)?.user_key})),
        Subject::Group(name) => Some(json!({"type": "group", "name": name})),
        Subject::Anonymous => match anonymous {
            SpaceAnonymousSubject::Typed => Some(json!({"type": "anonymous"})),
            SpaceAnonymousSubject::Absent => None,
            SpaceAnonymousSubject::Null => Some(Value::Null),
            SpaceAnonymousSubject::Empty => Some(json!({})),
        },
    };
    let (target_type, operation_key) = rest_operation(&row.key);
    let mut entry = json!({
        "operation": {"targetType": target_type, "operationKey": operation_key},
        "spaceKey": space.key,
        "spaceId": space.id,
    });
    if let Some(subject) = subject {
        entry["subject"] = subject;
    }
    Some(entry)
}

fn visible_to(space: &SimSpace, caller: &Caller) -> bool {
    caller.user().is_some() || space.permissions.iter().any(|p| p.key == "VIEWSPACE" && p.subject == Subject::Anonymous)
}

fn space_not_found(key: &str, wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::NOT_FOUND, &format!("No space with key : {key}"), wants_json)
}

/// The `type`, `status` and `spaceKey` filters of the space list.
struct SpaceFilter {
    space_type: Option<String>,
    /// `None` = any status.
    status: Option<String>,
    keys: Vec<String>,
}

impl SpaceFilter {
    fn from_request(request: &SimRequest, status_default_all: bool) -> Result<SpaceFilter, String> {
        let space_type = checked(request.param("type"), "type", &["global", "personal"])?;
        let status = checked(request.param("status"), "status", &["current", "archived"])?;
        let status = match status {
            None if !status_default_all => Some("current".to_string()),
            other => other,
        };
        let keys = request.query.iter().filter(|(name, _)| name == "spaceKey").map(|(_, value)| value.to_lowercase()).collect();
        Ok(SpaceFilter { space_type, status, keys })
    }

    fn matches(&self, space: &SimSpace) -> bool {
        self.space_type.as_ref().is_none_or(|t| *t == space.space_type)
            && self.status.as_ref().is_none_or(|s| *s == space.status)
            && (self.keys.is_empty() || self.keys.contains(&space.key.to_lowercase()))
    }
}

/// A lower-cased parameter value from `allowed`; empty counts as absent.
fn checked(value: Option<&str>, name: &str, allowed: &[&str]) -> Result<Option<String>, String> {
    match value.map(|v| v.trim().to_lowercase()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => Err(format!("Invalid value for parameter '{name}': {v}")),
    }
}
