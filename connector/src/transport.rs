//! The seam between Confluence logic and the network: the request and response types and the
//! one-method [`Transport`] trait. The component's transport is `wasi_http`; unit tests use the
//! scripted `FakeTransport`, which exists only in test builds.

use crate::types::ConnectorError;

/// HTTP methods the connector uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A request to the configured Confluence origin. `path_and_query` starts with `/` and is
/// relative to the configured base URL (its context path is added by the transport).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A GET asking for JSON.
    pub fn get_json(path_and_query: impl Into<String>) -> Request {
        Request { method: Method::Get, path_and_query: path_and_query.into(), headers: vec![("accept".into(), "application/json".into())], body: None }
    }
}

/// A complete response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one request and returns the final response. Retries are the host's job.
pub trait Transport {
    fn send(&self, request: &Request) -> Result<Response, ConnectorError>;
}

#[cfg(test)]
pub use fake::FakeTransport;

/// The test double (test builds only).
#[cfg(test)]
mod fake {
    use super::{Request, Response, Transport};
    use crate::types::ConnectorError;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// A scripted transport for tests: answers requests in order and records them.
    #[derive(Default)]
    pub struct FakeTransport {
        pub answers: RefCell<VecDeque<Response>>,
        pub sent: RefCell<Vec<Request>>,
    }

    impl FakeTransport {
        /// A fake that answers with these responses, in order.
        pub fn new(answers: Vec<Response>) -> FakeTransport {
            FakeTransport { answers: RefCell::new(answers.into()), sent: RefCell::new(Vec::new()) }
        }

        /// A JSON response with the given status.
        pub fn json(status: u16, body: &str) -> Response {
            Response { status, headers: vec![("content-type".into(), "application/json".into())], body: body.as_bytes().to_vec() }
        }

        /// The path-and-query of every request sent so far.
        pub fn sent_paths(&self) -> Vec<String> {
            self.sent.borrow().iter().map(|r| r.path_and_query.clone()).collect()
        }
    }

    impl Transport for FakeTransport {
        fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
            self.sent.borrow_mut().push(request.clone());
            self.answers.borrow_mut().pop_front().ok_or_else(|| ConnectorError::Internal(format!("fake transport: no answer for {}", request.path_and_query)))
        }
    }
}
