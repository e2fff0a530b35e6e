//! Global permission reads (the Global Permissions REST API, since
//! `SimConfig::global_permissions_since`): `GET /rest/api/permissions` (every subject),
//! `/permissions/anonymous`, `/permissions/group/{groupName}` (404 for an unknown group) and
//! `/permissions/unlicensed` (always empty), administrators only. Each item is
//! `{"operation":{"targetType","operationKey"},"subject":S}`, one per pair per subject, for the
//! pairs the server supports; S follows `global_user_subject` / `global_group_subject`, and the
//! list is a bare array or a page envelope as `global_list_style` says.

use serde_json::{Value, json};

use super::GlobalScope;
use super::decode_segment;
use super::write_support::{require_admin, write_error_response};
use crate::auth::Caller;
use crate::config::{GlobalListStyle, GroupSubjectStyle, SimConfig, UserSubjectStyle};
use crate::dataset::{SimGlobalPermission, SimUser, Subject};
use crate::mutations::WriteError;
use crate::paging::paged_response;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, ok_json};
use crate::state::{Directory, SimState};

/// Answers a global permission GET for `scope`.
pub(super) fn list(state: &SimState, request: &SimRequest, caller: &Caller, scope: &GlobalScope) -> HttpResponse {
    let wants_json = request.wants_json();
    if let Err(denied) = require_admin(caller, wants_json) {
        return *denied;
    }
    let directory = state.directory();
    let covered = match Covered::by(&directory, scope) {
        Ok(covered) => covered,
        Err(error) => return write_error_response(&error, wants_json),
    };
    let items: Vec<Value> = served_rows(&state.config, &directory, &covered).into_iter().filter_map(|row| item_json(&state.config, &directory, row)).collect();
    match state.config.global_list_style {
        GlobalListStyle::Array => ok_json(&Value::Array(items)),
        GlobalListStyle::Paged => paged_response(state, request, &request.path, state.config.default_limit, &items, Value::clone),
    }
}

/// The stored rows of `covered` subjects whose pair the server supports, each once, in order.
fn served_rows<'a>(config: &SimConfig, directory: &'a Directory, covered: &Covered) -> Vec<&'a SimGlobalPermission> {
    let mut served: Vec<&SimGlobalPermission> = Vec::new();
    for row in directory.global_permissions.iter().filter(|row| covered.includes(&row.subject) && config.supports_global_operation(&row.target, &row.operation))
    {
        if !served.contains(&row) {
            served.push(row);
        }
    }
    served
}

/// The subjects a path's scope covers.
enum Covered {
    Everyone,
    Only(Subject),
    Nobody,
}

impl Covered {
    /// What `scope` covers; an unknown group is an error.
    fn by(directory: &Directory, scope: &GlobalScope) -> Result<Covered, WriteError> {
        Ok(match scope {
            GlobalScope::All => Covered::Everyone,
            GlobalScope::Anonymous => Covered::Only(Subject::Anonymous),
            GlobalScope::Group(raw) => Covered::Only(directory.group_subject(&decode_segment(raw))?),
            GlobalScope::Unlicensed => Covered::Nobody,
        })
    }

    fn includes(&self, subject: &Subject) -> bool {
        match self {
            Covered::Everyone => true,
            Covered::Only(only) => only == subject,
            Covered::Nobody => false,
        }
    }
}

/// One item; `None` when a user subject no longer resolves.
fn item_json(config: &SimConfig, directory: &Directory, row: &SimGlobalPermission) -> Option<Value> {
    let subject = match &row.subject {
        Subject::User(username) => user_subject_json(config.global_user_subject, directory.user_by_username(username)?),
        Subject::Group(name) => group_subject_json(config.global_group_subject, name),
        Subject::Anonymous => json!({"type": "anonymous", "displayName": "Anonymous"}),
    };
    Some(json!({
        "operation": {"targetType": row.target, "operationKey": row.operation},
        "subject": subject,
    }))
}

fn user_subject_json(style: UserSubjectStyle, user: &SimUser) -> Value {
    let display_name = user.display_name.as_deref().filter(|name| !name.is_empty()).unwrap_or(&user.username);
    match style {
        UserSubjectStyle::UserKey => json!({"type": "user", "userKey": user.user_key, "displayName": display_name}),
        UserSubjectStyle::Username => json!({"type": "user", "username": user.username, "displayName": display_name}),
        UserSubjectStyle::Both => json!({"type": "user", "userKey": user.user_key, "username": user.username, "displayName": display_name}),
        UserSubjectStyle::DisplayNameOnly => json!({"type": "user", "displayName": display_name}),
    }
}

fn group_subject_json(style: GroupSubjectStyle, name: &str) -> Value {
    match style {
        GroupSubjectStyle::Name => json!({"type": "group", "name": name, "displayName": name}),
        GroupSubjectStyle::GroupName => json!({"type": "group", "groupName": name}),
        GroupSubjectStyle::DisplayNameOnly => json!({"type": "group", "displayName": name}),
    }
}
