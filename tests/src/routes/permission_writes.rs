//! REST space-permission writes (9.1+, docs/confluence-dc.md §8.3):
//! `PUT /rest/api/space/{key}/permissions/{user/{userKey}|group/{groupName}|anonymous}/grant`
//! and `/revoke` with a JSON array of `{"targetType","operationKey"}`. Grants skip held
//! operations, revokes skip missing ones; 204. Pairs map to the 14 legacy keys, which is
//! what is stored, so JSON-RPC reads see the change. Bad body or pair -> 400; unknown
//! space, user or group -> 404.

use serde_json::Value;

use super::write_support::{require_admin, write_error_response};
use super::{PermissionAction, RawSubject, decode_segment};
use crate::auth::Caller;
use crate::dataset::Subject;
use crate::mutations::WriteError;
use crate::permissions::legacy_key;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, no_content};
use crate::state::{Directory, SimState};

pub(super) fn change(
    state: &SimState,
    request: &SimRequest,
    caller: &Caller,
    raw_key: &str,
    raw_subject: &RawSubject,
    action: PermissionAction,
) -> HttpResponse {
    let wants_json = request.wants_json();
    if let Err(denied) = require_admin(caller, wants_json) {
        return *denied;
    }
    let operations = match parse_operations(&request.body) {
        Ok(operations) => operations,
        Err(message) => return bad_request(&message, wants_json),
    };
    let key = decode_segment(raw_key);
    let mut directory = state.directory_mut();
    match apply(&mut directory, &key, raw_subject, &operations, action) {
        Ok(()) => no_content(),
        Err(error) => write_error_response(&error, wants_json),
    }
}

/// Space first (404), then subject (404), then the pairs (400), then the change.
fn apply(directory: &mut Directory, key: &str, raw_subject: &RawSubject, operations: &[(String, String)], action: PermissionAction) -> Result<(), WriteError> {
    if directory.space_by_key(key).is_none() {
        return Err(WriteError::UnknownSpace(key.to_string()));
    }
    let subject = resolve_subject(directory, raw_subject)?;
    let keys = legacy_keys(operations)?;
    match action {
        PermissionAction::Grant => directory.grant(key, &keys, &subject),
        PermissionAction::Revoke => directory.revoke(key, &keys, &subject),
    }
}

fn resolve_subject(directory: &Directory, raw: &RawSubject) -> Result<Subject, WriteError> {
    match raw {
        RawSubject::UserKey(key) => directory.user_key_subject(&decode_segment(key)),
        RawSubject::Group(name) => directory.group_subject(&decode_segment(name)),
        RawSubject::Anonymous => Ok(Subject::Anonymous),
    }
}

fn legacy_keys(operations: &[(String, String)]) -> Result<Vec<String>, WriteError> {
    operations
        .iter()
        .map(|(target, operation)| {
            legacy_key(target, operation).map(str::to_string).ok_or_else(|| WriteError::UnknownPermission(format!("{target}/{operation}")))
        })
        .collect()
}

/// The body as `(targetType, operationKey)` pairs; `Err(message)` for anything else.
fn parse_operations(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("Cannot parse request body: {error}"))?;
    let Value::Array(items) = value else {
        return Err("The request body must be a JSON array of operations".to_string());
    };
    items.iter().map(parse_operation).collect()
}

pub(super) fn parse_operation(item: &Value) -> Result<(String, String), String> {
    let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("Each operation needs a string '{name}'"));
    Ok((field("targetType")?, field("operationKey")?))
}
