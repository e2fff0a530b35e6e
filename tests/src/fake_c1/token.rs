//! `POST /auth/v1/token`: the RFC 7523 client-assertion exchange of docs/c1z-and-c1.md §4.4.
//! Checks the form fields and the assertion, issues a random bearer token or answers 401 with
//! a JSON error, and records every request either way.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::json;

use super::assertion::{self, Expected};
use super::records::{TokenOutcome, TokenRequestRecord};
use super::state::FakeState;

pub const TOKEN_PATH: &str = "/auth/v1/token";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The token route alone (no fallback, so it merges with the gRPC routes).
pub fn router(state: Arc<FakeState>) -> Router {
    Router::new().route(TOKEN_PATH, post(exchange)).with_state(state)
}

async fn exchange(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut record = TokenRequestRecord { content_type: header_text(&headers, header::CONTENT_TYPE), ..TokenRequestRecord::default() };
    let verdict = check_request(&state, &body, &mut record);
    let response = match verdict {
        Ok(()) => issue(&state, &mut record),
        Err(reason) => refuse(reason, &mut record),
    };
    state.with_logs(|logs| logs.token_requests.push(record));
    response
}

fn check_request(state: &FakeState, body: &[u8], record: &mut TokenRequestRecord) -> Result<(), String> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, v)| v.clone());
    record.client_id = field("client_id");
    record.grant_type = field("grant_type");
    record.client_assertion_type = field("client_assertion_type");
    if !is_form(record.content_type.as_deref()) {
        return Err(format!("content type is not {FORM_CONTENT_TYPE}"));
    }
    let credentials = &state.credentials;
    expect_field(&record.client_id, "client_id", credentials.client_id())?;
    expect_field(&record.grant_type, "grant_type", GRANT_TYPE)?;
    expect_field(&record.client_assertion_type, "client_assertion_type", ASSERTION_TYPE)?;
    let jws = field("client_assertion").ok_or("client_assertion is missing")?;
    let key = credentials.verifying_key();
    let expected = Expected { key: &key, client_id: credentials.client_id(), audience: credentials.audience(), now: unix_now() };
    let inspection = assertion::inspect(&jws, &expected);
    record.assertion_header = inspection.header;
    record.assertion_claims = inspection.claims;
    inspection.verdict
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.and_then(|value| value.split(';').next()).is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

fn expect_field(value: &Option<String>, name: &str, wanted: &str) -> Result<(), String> {
    match value.as_deref() {
        Some(value) if value == wanted => Ok(()),
        Some(_) => Err(format!("{name} is not {wanted:?}")),
        None => Err(format!("{name} is missing")),
    }
}

fn issue(state: &FakeState, record: &mut TokenRequestRecord) -> Response {
    let access_token = state.issue_token();
    record.outcome = TokenOutcome::Issued { access_token: access_token.clone() };
    Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": state.token_lifetime_seconds(),
    }))
    .into_response()
}

fn refuse(reason: String, record: &mut TokenRequestRecord) -> Response {
    let body = json!({ "error": "invalid_client", "error_description": reason });
    record.outcome = TokenOutcome::Rejected { reason };
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
