//! The XSRF rule of atlassian-rest (docs/confluence-dc.md §3.4): a mutating request (POST, PUT,
//! DELETE) whose body type is one a browser form can send (`application/x-www-form-urlencoded`,
//! `multipart/form-data`, `text/plain`) must carry `X-Atlassian-Token: no-check` (or `nocheck`);
//! otherwise it is answered 403 `XSRF check failed` in plain text. JSON passes.

use axum::http::{Method, StatusCode};

use crate::request::SimRequest;
use crate::responses::{HttpResponse, with_body};

/// Body types a cross-site form can send without a CORS preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/// The 403 answer when `request` fails the check, `None` when it passes.
pub fn xsrf_rejection(request: &SimRequest) -> Option<HttpResponse> {
    let rejected = is_mutating(&request.method) && has_simple_content_type(request) && !has_no_check_token(request);
    rejected.then(xsrf_failed)
}

fn is_mutating(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::DELETE].contains(method)
}

/// The media type of `Content-Type` without parameters, compared case-insensitively.
fn has_simple_content_type(request: &SimRequest) -> bool {
    request
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .is_some_and(|media| SIMPLE_CONTENT_TYPES.contains(&media.as_str()))
}

fn has_no_check_token(request: &SimRequest) -> bool {
    request.headers.get_all("x-atlassian-token").iter().filter_map(|value| value.to_str().ok()).any(|value| {
        let value = value.trim();
        value.eq_ignore_ascii_case("no-check") || value.eq_ignore_ascii_case("nocheck")
    })
}

fn xsrf_failed() -> HttpResponse {
    with_body(StatusCode::FORBIDDEN, "text/plain", "XSRF check failed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn request(method: Method, headers: &[(&'static str, &'static str)]) -> SimRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        SimRequest { method, path: "/rest/api/admin/user".into(), query: Vec::new(), headers: map, body: Vec::new() }
    }

    #[test]
    fn simple_bodies_need_the_token_and_json_passes() {
        let form = ("content-type", "application/x-www-form-urlencoded");
        let text = ("content-type", "Text/Plain; charset=UTF-8");
        let multipart = ("content-type", "multipart/form-data; boundary=x");
        for header in [form, text, multipart] {
            assert!(xsrf_rejection(&request(Method::POST, &[header])).is_some());
            assert!(xsrf_rejection(&request(Method::DELETE, &[header])).is_some());
            for token in ["no-check", "nocheck", "No-Check"] {
                let with_token = [header, ("x-atlassian-token", token)];
                assert!(xsrf_rejection(&request(Method::PUT, &with_token)).is_none());
            }
            assert!(xsrf_rejection(&request(Method::GET, &[header])).is_none());
        }
        let json = ("content-type", "application/json");
        assert!(xsrf_rejection(&request(Method::POST, &[json])).is_none());
        assert!(xsrf_rejection(&request(Method::POST, &[])).is_none());
    }
}
