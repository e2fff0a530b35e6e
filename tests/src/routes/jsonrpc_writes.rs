//! JSON-RPC writes (all versions, docs/confluence-dc.md §9.2), each answering `true`:
//! `addUserToGroup` / `removeUserFromGroup` `["username","group"]` (idempotent; any group
//! name, including ones with `/`), `addPermissionToSpace` / `removePermissionFromSpace`
//! `["PERMKEY","entity","SPACEKEY"]`, `addPermissionsToSpace` `[["PERMKEY",...],"entity","SPACEKEY"]`,
//! `addAnonymousPermissionToSpace` / `removeAnonymousPermissionFromSpace` `["PERMKEY","SPACEKEY"]`
//! and `addUser` `[{"name","fullname","email"},"password"]`. Only administrators may call
//! them (403); unknown names, keys, invalid or duplicate users -> 500 `{"error":{"message"}}`.
//! `entity` is a username or group name; [`crate::SimConfig::rpc_entity_prefers_group`]
//! decides when both exist.

use serde_json::{Value, json};

use super::jsonrpc::{RpcError, require_admin, string_param};
use crate::auth::Caller;
use crate::dataset::Subject;
use crate::mutations::WriteError;
use crate::new_user::NewUser;
use crate::state::{Directory, SimState};

const WRITE_METHODS: [&str; 8] = [
    "addUserToGroup",
    "removeUserFromGroup",
    "addPermissionToSpace",
    "addPermissionsToSpace",
    "removePermissionFromSpace",
    "addAnonymousPermissionToSpace",
    "removeAnonymousPermissionFromSpace",
    "addUser",
];

pub(super) fn is_write_method(method: &str) -> bool {
    WRITE_METHODS.contains(&method)
}

/// Runs a write method (the caller is known to be signed in).
pub(super) fn call(state: &SimState, caller: &Caller, method: &str, params: &[Value]) -> Result<Value, RpcError> {
    require_admin(caller, "You do not have permission to perform this operation")?;
    let prefers_group = state.config.rpc_entity_prefers_group;
    let seats = state.config.licence_seats;
    let mut directory = state.directory_mut();
    let directory = &mut *directory;
    let result = match method {
        "addUserToGroup" => membership(directory, params, Directory::add_member),
        "removeUserFromGroup" => membership(directory, params, Directory::remove_member),
        "addPermissionToSpace" => entity_permission(directory, params, prefers_group, Change::Grant),
        "addPermissionsToSpace" => entity_permissions(directory, params, prefers_group),
        "removePermissionFromSpace" => entity_permission(directory, params, prefers_group, Change::Revoke),
        "addAnonymousPermissionToSpace" => anonymous_permission(directory, params, Change::Grant),
        "removeAnonymousPermissionFromSpace" => anonymous_permission(directory, params, Change::Revoke),
        _ => add_user(directory, params, seats),
    };
    result.map(|()| json!(true))
}

#[derive(Clone, Copy)]
enum Change {
    Grant,
    Revoke,
}

fn rpc_error(error: WriteError) -> RpcError {
    RpcError::server(error.message())
}

type MembershipChange = fn(&mut Directory, &str, &str) -> Result<(), WriteError>;

/// `["username","group"]`.
fn membership(directory: &mut Directory, params: &[Value], change: MembershipChange) -> Result<(), RpcError> {
    let username = string_param(params, 0, "username")?;
    let group = string_param(params, 1, "groupname")?;
    change(directory, username, group).map_err(rpc_error)
}

/// `["PERMKEY","entity","SPACEKEY"]`.
fn entity_permission(directory: &mut Directory, params: &[Value], prefers_group: bool, change: Change) -> Result<(), RpcError> {
    let key = string_param(params, 0, "permission")?.to_string();
    apply_to_entity(directory, params, &[key], prefers_group, change)
}

/// `[["PERMKEY",...],"entity","SPACEKEY"]`.
fn entity_permissions(directory: &mut Directory, params: &[Value], prefers_group: bool) -> Result<(), RpcError> {
    let keys = string_list_param(params, 0, "permissions")?;
    apply_to_entity(directory, params, &keys, prefers_group, Change::Grant)
}

/// The shared tail of `[permission(s),"entity","SPACEKEY"]`: resolves `entity` (param 1)
/// and applies `keys` to it in the space (param 2).
fn apply_to_entity(directory: &mut Directory, params: &[Value], keys: &[String], prefers_group: bool, change: Change) -> Result<(), RpcError> {
    let entity = string_param(params, 1, "remoteEntityName")?;
    let space = string_param(params, 2, "spaceKey")?;
    let subject = directory.entity_subject(entity, prefers_group).map_err(rpc_error)?;
    apply(directory, space, keys, &subject, change)
}

/// `["PERMKEY","SPACEKEY"]`.
fn anonymous_permission(directory: &mut Directory, params: &[Value], change: Change) -> Result<(), RpcError> {
    let key = string_param(params, 0, "permission")?.to_string();
    let space = string_param(params, 1, "spaceKey")?;
    apply(directory, space, &[key], &Subject::Anonymous, change)
}

fn apply(directory: &mut Directory, space: &str, keys: &[String], subject: &Subject, change: Change) -> Result<(), RpcError> {
    let result = match change {
        Change::Grant => directory.grant(space, keys, subject),
        Change::Revoke => directory.revoke(space, keys, subject),
    };
    result.map_err(rpc_error)
}

fn string_list_param(params: &[Value], index: usize, name: &str) -> Result<Vec<String>, RpcError> {
    let invalid = || RpcError::server(format!("Missing or invalid parameter {index} ({name})"));
    let items = params.get(index).and_then(Value::as_array).ok_or_else(invalid)?;
    items.iter().map(|item| item.as_str().map(str::to_string).ok_or_else(invalid)).collect()
}

/// `[{"name","fullname","email"},"password"]`: the REST validation with a required password.
fn add_user(directory: &mut Directory, params: &[Value], seats: Option<usize>) -> Result<(), RpcError> {
    let user = params.first().filter(|v| v.is_object()).ok_or_else(|| RpcError::server("Missing or invalid parameter 0 (user)"))?;
    let field = |name: &str| user.get(name).and_then(Value::as_str).unwrap_or_default();
    let password = match params.get(1) {
        None | Some(Value::Null) => None,
        Some(Value::String(password)) => Some(password.clone()),
        Some(_) => return Err(RpcError::server("Parameter 1 (password) must be a string")),
    };
    let new_user = NewUser {
        username: field("name").to_string(),
        full_name: field("fullname").to_string(),
        email: field("email").to_string(),
        password,
        notify_via_email: false,
    };
    directory.create_user(new_user, seats).map(|_| ()).map_err(rpc_error)
}
