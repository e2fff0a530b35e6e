//! User creation over REST (8.4+, docs/confluence-dc.md §5.6): `POST /rest/api/admin/user` with
//! `{"userName","fullName","email","password"?,"notifyViaEmail"}` -> 201 `{"userKey"}`.
//! Invalid fields -> 400 naming the field; existing userName -> 409; no licence seat
//! -> 402 ([`crate::SimConfig::licence_seats`]); malformed JSON -> 400.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::write_support::{require_admin, write_error_response};
use crate::auth::Caller;
use crate::new_user::NewUser;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, json_response};
use crate::state::SimState;

pub(super) fn create_user(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    if let Err(denied) = require_admin(caller, wants_json) {
        return *denied;
    }
    let new_user = match parse_new_user(&request.body) {
        Ok(new_user) => new_user,
        Err(message) => return bad_request(&message, wants_json),
    };
    let created = state.directory_mut().create_user(new_user, state.config.licence_seats);
    match created {
        Ok(user) => json_response(StatusCode::CREATED, &json!({"userKey": user.user_key})),
        Err(error) => write_error_response(&error, wants_json),
    }
}

/// The body as a [`NewUser`]; missing strings count as blank (validation names them).
fn parse_new_user(body: &[u8]) -> Result<NewUser, String> {
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("Cannot parse request body: {error}"))?;
    if !value.is_object() {
        return Err("The request body must be a JSON object".to_string());
    }
    Ok(NewUser {
        username: optional_string(&value, "userName")?.unwrap_or_default(),
        full_name: optional_string(&value, "fullName")?.unwrap_or_default(),
        email: optional_string(&value, "email")?.unwrap_or_default(),
        password: optional_string(&value, "password")?,
        notify_via_email: optional_bool(&value, "notifyViaEmail")?.unwrap_or(false),
    })
}

fn optional_string(value: &Value, field: &str) -> Result<Option<String>, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn optional_bool(value: &Value, field: &str) -> Result<Option<bool>, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(format!("{field} must be a boolean")),
    }
}
