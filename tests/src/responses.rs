//! Response builders with the shapes of a real Confluence DC: JSON bodies, the `RestError`
//! envelope, the XML `<status>` body for non-JSON clients, and the Seraph 401 answers.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

pub type HttpResponse = Response<Body>;

pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
const XML_CONTENT_TYPE: &str = "application/xml;charset=UTF-8";
const HTML_CONTENT_TYPE: &str = "text/html;charset=UTF-8";

pub fn with_body(status: StatusCode, content_type: &str, body: String) -> HttpResponse {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

pub fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    with_body(status, JSON_CONTENT_TYPE, body.to_string())
}

pub fn ok_json(body: &Value) -> HttpResponse {
    json_response(StatusCode::OK, body)
}

/// 204 with an empty body (successful writes that return nothing).
pub fn no_content() -> HttpResponse {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub fn xml_response(status: StatusCode, body: String) -> HttpResponse {
    with_body(status, XML_CONTENT_TYPE, body)
}

fn reason_phrase(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Unknown")
}

/// The `RestError` envelope (docs/confluence-dc.md §3.2).
pub fn rest_error_body(status: StatusCode, message: &str) -> Value {
    json!({
        "statusCode": status.as_u16(),
        "data": {
            "authorized": !matches!(status.as_u16(), 401 | 403),
            "valid": status.as_u16() != 400,
            "allowedInReadOnlyMode": true,
            "errors": [],
            "successful": false
        },
        "message": message,
        "reason": reason_phrase(status)
    })
}

/// The JAX-RS `<status>` body a non-JSON client gets for REST errors.
pub fn xml_status_body(status: StatusCode, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><status><status-code>{}</status-code><message>{}</message></status>",
        status.as_u16(),
        escape_xml(message)
    )
}

/// A REST error: `RestError` JSON when the client accepts JSON, the XML `<status>` otherwise.
pub fn rest_error(status: StatusCode, message: &str, wants_json: bool) -> HttpResponse {
    if wants_json { json_response(status, &rest_error_body(status, message)) } else { xml_response(status, xml_status_body(status, message)) }
}

pub fn not_found(wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::NOT_FOUND, "null for uri: resource not found", wants_json)
}

pub fn bad_request(message: &str, wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::BAD_REQUEST, message, wants_json)
}

pub fn forbidden(message: &str, wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::FORBIDDEN, message, wants_json)
}

pub fn method_not_allowed(wants_json: bool) -> HttpResponse {
    rest_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", wants_json)
}

/// 401 for wrong credentials (Seraph): login-reason and OAuth challenge headers; HTML body
/// unless the client accepts JSON.
pub fn authentication_failed(realm: &str, wants_json: bool) -> HttpResponse {
    let mut response = if wants_json {
        json_response(StatusCode::UNAUTHORIZED, &rest_error_body(StatusCode::UNAUTHORIZED, "Authentication failed"))
    } else {
        with_body(StatusCode::UNAUTHORIZED, HTML_CONTENT_TYPE, authentication_failed_html())
    };
    insert_header(&mut response, "x-seraph-loginreason", "AUTHENTICATED_FAILED");
    insert_header(&mut response, "www-authenticate", &format!("OAuth realm=\"{realm}\""));
    response
}

/// 401 for a request without credentials when anonymous access is off.
pub fn authentication_required(realm: &str, wants_json: bool) -> HttpResponse {
    let message = "Client must be authenticated to access this resource.";
    let mut response = rest_error(StatusCode::UNAUTHORIZED, message, wants_json);
    insert_header(&mut response, "www-authenticate", &format!("OAuth realm=\"{realm}\""));
    response
}

pub fn insert_header(response: &mut HttpResponse, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn authentication_failed_html() -> String {
    "<!DOCTYPE html><html><head><title>Unauthorized (401)</title></head><body>\
     <h1>Unauthorized (401)</h1><p>Basic Authentication Failure - Reason : AUTHENTICATED_FAILED</p>\
     </body></html>"
        .to_string()
}

pub fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Tomcat's own 400 page, e.g. for an encoded slash (`%2F`) in the path, which Tomcat rejects
/// before Confluence (and its authentication) ever sees the request.
pub fn tomcat_bad_request() -> HttpResponse {
    with_body(
        StatusCode::BAD_REQUEST,
        HTML_CONTENT_TYPE,
        "<!doctype html><html lang=\"en\"><head><title>HTTP Status 400 – Bad Request</title></head>\
         <body><h1>HTTP Status 400 – Bad Request</h1></body></html>"
            .to_string(),
    )
}
