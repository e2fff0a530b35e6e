//! Legacy JSON-RPC (docs/confluence-dc.md §9), all versions: light mode
//! `POST /rpc/json-rpc/confluenceservice-v2/<method>` with a JSON array of positional params
//! (answer = the raw return value; failures = HTTP 4xx/5xx with `{"error":{"message"}}`) and
//! envelope mode `POST /rpc/json-rpc/confluenceservice-v2` with `{"jsonrpc","method","params","id"}`
//! (always HTTP 200 with `result` or `error`). Methods: `getSpacePermissionSets`,
//! `getActiveUsers`, `getUser`, `getUserByKey`, `getGroups`, `getUserGroups`, and the writes of
//! [`super::jsonrpc_writes`].

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::jsonrpc_writes;
use crate::auth::Caller;
use crate::dataset::{SimSpace, Subject};
use crate::request::SimRequest;
use crate::responses::{HttpResponse, json_response, ok_json};
use crate::state::SimState;

/// A failed call: the light-mode HTTP status, the envelope error code and the message.
#[derive(Debug)]
pub(super) struct RpcError {
    status: StatusCode,
    code: i64,
    message: String,
}

impl RpcError {
    pub(super) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> RpcError {
        RpcError { status, code, message: message.into() }
    }

    pub(super) fn server(message: impl Into<String>) -> RpcError {
        RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, -32000, message)
    }
}

pub fn light_mode(state: &SimState, request: &SimRequest, caller: &Caller, method: &str) -> HttpResponse {
    let result = parse_params(&request.body).and_then(|params| call(state, caller, method, &params));
    match result {
        Ok(value) => ok_json(&value),
        Err(error) => json_response(error.status, &json!({"error": {"message": error.message}})),
    }
}

pub fn envelope_mode(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let result = match (body.get("method").and_then(Value::as_str), body.get("params")) {
        (Some(method), None) => call(state, caller, method, &[]),
        (Some(method), Some(Value::Array(params))) => call(state, caller, method, params),
        (Some(_), Some(_)) => Err(RpcError::server("params must be an array")),
        (None, _) => Err(RpcError::new(StatusCode::BAD_REQUEST, -32600, "Invalid request")),
    };
    let reply = match result {
        Ok(value) => json!({"jsonrpc": "2.0", "result": value, "id": id}),
        Err(error) => json!({
            "jsonrpc": "2.0",
            "error": {"code": error.code, "message": error.message},
            "id": id,
        }),
    };
    ok_json(&reply)
}

/// The light-mode body: a JSON array (an empty body counts as `[]`).
fn parse_params(body: &[u8]) -> Result<Vec<Value>, RpcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(params)) => Ok(params),
        Ok(_) => Err(RpcError::server("The request body must be a JSON array of parameters")),
        Err(error) => Err(RpcError::server(format!("Cannot parse request body: {error}"))),
    }
}

fn call(state: &SimState, caller: &Caller, method: &str, params: &[Value]) -> Result<Value, RpcError> {
    if caller.user().is_none() {
        return Err(RpcError::new(StatusCode::UNAUTHORIZED, 401, "User not authenticated or authentication failed"));
    }
    if jsonrpc_writes::is_write_method(method) {
        return jsonrpc_writes::call(state, caller, method, params);
    }
    match method {
        "getSpacePermissionSets" => space_permission_sets(state, caller, params),
        "getActiveUsers" => active_users(state, params),
        "getUser" => remote_user(state, params, false),
        "getUserByKey" => remote_user(state, params, true),
        "getGroups" => Ok(groups(state)),
        "getUserGroups" => user_groups(state, params),
        other => Err(RpcError::new(StatusCode::INTERNAL_SERVER_ERROR, -32601, format!("No such method: {other}"))),
    }
}

/// HTTP 403 (error code 403) with `message` unless the caller is an administrator.
pub(super) fn require_admin(caller: &Caller, message: &str) -> Result<(), RpcError> {
    if caller.is_admin() { Ok(()) } else { Err(RpcError::new(StatusCode::FORBIDDEN, 403, message)) }
}

pub(super) fn string_param<'a>(params: &'a [Value], index: usize, name: &str) -> Result<&'a str, RpcError> {
    params.get(index).and_then(Value::as_str).ok_or_else(|| RpcError::server(format!("Missing or invalid parameter {index} ({name})")))
}

/// `[spaceKey]` -> one set per stored key (first-appearance order), rows as stored.
fn space_permission_sets(state: &SimState, caller: &Caller, params: &[Value]) -> Result<Value, RpcError> {
    require_admin(caller, "You do not have permission to view the permissions of this space")?;
    let key = string_param(params, 0, "spaceKey")?;
    let directory = state.directory();
    let space = directory.space_by_key(key).ok_or_else(|| RpcError::server(format!("No space found for space key: {key}")))?;
    Ok(permission_sets(space))
}

fn permission_sets(space: &SimSpace) -> Value {
    let mut keys: Vec<&str> = Vec::new();
    for row in &space.permissions {
        if !keys.contains(&row.key.as_str()) {
            keys.push(&row.key);
        }
    }
    let sets: Vec<Value> = keys
        .iter()
        .map(|key| {
            let rows: Vec<Value> = space.permissions.iter().filter(|p| p.key == *key).map(|p| permission_row(key, &p.subject)).collect();
            json!({"type": key, "spacePermissions": rows})
        })
        .collect();
    Value::Array(sets)
}

fn permission_row(key: &str, subject: &Subject) -> Value {
    let (user_name, group_name) = match subject {
        Subject::User(name) => (Some(name.as_str()), None),
        Subject::Group(name) => (None, Some(name.as_str())),
        Subject::Anonymous => (None, None),
    };
    json!({"type": key, "userName": user_name, "groupName": group_name})
}

/// `[username]` (or `[userKey]` for `getUserByKey`) -> the remote API's user bean
/// `{name, fullname, email, url, key}`; an unknown user is a server error, as for other
/// lookups. The bean has no status.
fn remote_user(state: &SimState, params: &[Value], by_key: bool) -> Result<Value, RpcError> {
    let value = string_param(params, 0, if by_key { "userKey" } else { "username" })?;
    let directory = state.directory();
    let user = if by_key { directory.user_by_key(value) } else { directory.user_by_username(value) };
    let Some(user) = user else {
        let what = if by_key { "key" } else { "username" };
        return Err(RpcError::server(format!("No user with {what} '{value}' found")));
    };
    Ok(json!({
        "name": user.username,
        "fullname": user.display_name.clone().unwrap_or_default(),
        "email": user.email.clone().unwrap_or_default(),
        "url": state.absolute_link(&format!("/display/~{}", user.username)),
        "key": user.user_key,
    }))
}

/// `[viewAll]`: every username when true, only non-deactivated ones otherwise. Whether
/// `viewAll = true` really includes deactivated users is unconfirmed (docs/confluence-dc.md
/// §5.5), so [`crate::SimConfig::view_all_includes_deactivated`] chooses.
fn active_users(state: &SimState, params: &[Value]) -> Result<Value, RpcError> {
    let view_all = match params.first() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(RpcError::server("Parameter 0 (viewAll) must be a boolean")),
    };
    let directory = state.directory();
    let names: Vec<&str> = directory
        .users
        .iter()
        .filter(|u| (view_all && state.config.view_all_includes_deactivated) || !u.is_deactivated())
        .map(|u| u.username.as_str())
        .collect();
    Ok(json!(names))
}

fn groups(state: &SimState) -> Value {
    let directory = state.directory();
    let names: Vec<&str> = directory.groups.iter().map(|g| g.name.as_str()).collect();
    json!(names)
}

/// `[username]` -> the names of the user's groups.
fn user_groups(state: &SimState, params: &[Value]) -> Result<Value, RpcError> {
    let username = string_param(params, 0, "username")?;
    let directory = state.directory();
    if directory.user_by_username(username).is_none() {
        return Err(RpcError::server(format!("No user with username '{username}' found")));
    }
    let names: Vec<&str> = directory.groups_of(username).iter().map(|g| g.name.as_str()).collect();
    Ok(json!(names))
}
