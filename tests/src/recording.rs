//! What the simulator remembers about traffic (`RecordedRequest`) and the faults a test can
//! queue to be answered instead of normal routing (`Fault`).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};

/// One request as received, with the status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Raw path and query as sent, including the context path.
    pub path_and_query: String,
    pub authorization: Option<String>,
    /// Every header, names lower-cased, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// 0 while the request is still being answered.
    pub status: u16,
    /// The request body (lossy UTF-8).
    pub body: String,
    /// When the simulator received it.
    pub received: std::time::Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A canned answer for exactly one upcoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Fault {
    /// 429 with `Retry-After` and the rate-limit headers of docs/confluence-dc.md §10.
    pub fn rate_limited(retry_after_seconds: u64) -> Fault {
        Fault {
            status: 429,
            headers: vec![
                ("Retry-After".into(), retry_after_seconds.to_string()),
                ("X-RateLimit-Limit".into(), "10".into()),
                ("X-RateLimit-Remaining".into(), "0".into()),
                ("X-RateLimit-Interval-Seconds".into(), "1".into()),
                ("X-RateLimit-FillRate".into(), "1".into()),
                ("Content-Type".into(), "application/json;charset=UTF-8".into()),
            ],
            body: r#"{"message":"Rate limit exceeded."}"#.into(),
        }
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(retry_after_seconds: u64) -> Fault {
        Fault { status: 503, headers: vec![("Retry-After".into(), retry_after_seconds.to_string())], body: "Service Unavailable".into() }
    }

    /// Builds the response; invalid status codes or headers are replaced/skipped, never panic.
    pub fn to_response(&self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = status;
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}
