//! `PUT /rest/api/permissions` (administrators only): a JSON array of at most 40
//! `{"userKey"|"groupName": ..., "operations": [{"targetType","operationKey"}, ...]}`, with set
//! semantics: each named subject ends up with exactly its listed operations (an empty list
//! revokes all of them), subjects not named are untouched. The whole request is checked before
//! anything changes: a malformed body, too many subjects or an unsupported pair -> 400, an
//! unknown userKey or group -> 404. Success answers `SimConfig::global_put_status`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::permission_writes::parse_operation;
use super::write_support::{require_admin, write_error_response};
use crate::auth::Caller;
use crate::config::SimConfig;
use crate::mutations::{GlobalChange, WriteError};
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, json_response, no_content};
use crate::state::{Directory, SimState};

/// The most subjects one request may set.
const MAX_SUBJECTS_PER_REQUEST: usize = 40;

/// A subject as the body names it.
enum NamedSubject {
    UserKey(String),
    GroupName(String),
}

/// One body item: who, and the (targetType, operationKey) pairs they are to hold.
struct RequestedGrants {
    subject: NamedSubject,
    operations: Vec<(String, String)>,
}

/// Answers `PUT /rest/api/permissions`.
pub(super) fn set(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    if let Err(denied) = require_admin(caller, wants_json) {
        return *denied;
    }
    let requested = match parse_body(&request.body) {
        Ok(requested) => requested,
        Err(message) => return bad_request(&message, wants_json),
    };
    let mut directory = state.directory_mut();
    let changes = match resolve(&directory, &state.config, requested) {
        Ok(changes) => changes,
        Err(error) => return write_error_response(&error, wants_json),
    };
    match directory.set_global_permissions(&changes, state.config.refuse_last_sysadmin_removal) {
        Ok(()) => success(state.config.global_put_status),
        Err(error) => write_error_response(&error, wants_json),
    }
}

/// 204 with no body, or another (2xx) status with `{}`.
fn success(status: u16) -> HttpResponse {
    match StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT) {
        StatusCode::NO_CONTENT => no_content(),
        status => json_response(status, &json!({})),
    }
}

/// The body's items; `Err(message)` for anything malformed or more than 40 subjects.
fn parse_body(body: &[u8]) -> Result<Vec<RequestedGrants>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("Cannot parse request body: {error}"))?;
    let Value::Array(items) = value else {
        return Err("The request body must be a JSON array of subjects with their operations".to_string());
    };
    if items.len() > MAX_SUBJECTS_PER_REQUEST {
        return Err(format!("At most {MAX_SUBJECTS_PER_REQUEST} subjects can be set in one request, not {}", items.len()));
    }
    items.iter().map(parse_item).collect()
}

fn parse_item(item: &Value) -> Result<RequestedGrants, String> {
    let subject = named_subject(item)?;
    let Some(Value::Array(operations)) = item.get("operations") else {
        return Err("Each subject needs an 'operations' array".to_string());
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in operations.iter().map(parse_operation) {
        let pair = pair?;
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    Ok(RequestedGrants { subject, operations: pairs })
}

/// Exactly one of `userKey` and `groupName`.
fn named_subject(item: &Value) -> Result<NamedSubject, String> {
    match (string_field(item, "userKey")?, string_field(item, "groupName")?) {
        (Some(key), None) => Ok(NamedSubject::UserKey(key)),
        (None, Some(name)) => Ok(NamedSubject::GroupName(name)),
        (Some(_), Some(_)) => Err("Each subject needs either a 'userKey' or a 'groupName', not both".to_string()),
        (None, None) => Err("Each subject needs a 'userKey' or a 'groupName'".to_string()),
    }
}

/// A string field; absent or null is `None`, any other type an error.
fn string_field(item: &Value, name: &str) -> Result<Option<String>, String> {
    match item.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("'{name}' must be a string")),
    }
}

/// The stored subject of each item (404 when unknown) and its pairs, all supported (else 400).
fn resolve(directory: &Directory, config: &SimConfig, requested: Vec<RequestedGrants>) -> Result<Vec<GlobalChange>, WriteError> {
    requested
        .into_iter()
        .map(|item| {
            let subject = match &item.subject {
                NamedSubject::UserKey(key) => directory.user_key_subject(key)?,
                NamedSubject::GroupName(name) => directory.group_subject(name)?,
            };
            if let Some((target, operation)) = item.operations.iter().find(|(t, o)| !config.supports_global_operation(t, o)) {
                return Err(WriteError::UnknownGlobalPermission(format!("{target}/{operation}")));
            }
            Ok((subject, item.operations))
        })
        .collect()
}
