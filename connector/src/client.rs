//! Talking to Confluence: JSON GETs, the offset-paged envelope (`results`, `size`, `_links.next`)
//! and the one edge where HTTP answers become the typed `connector-error`.
//!
//! Quirks handled here (facts in `docs/confluence-dc.md` §4.2-§4.4):
//! - `_links.next` may be relative without the context path (the common form), relative with it,
//!   or absolute with the server's own "base URL" (which may name another host behind a proxy).
//!   We keep the configured origin and context path and take only the part from `/rest/` on.
//! - Servers clamp `limit` silently, so a short page is not the last page: only a missing `next`
//!   or an empty page ends a list.

use crate::transport::{Method, Request, Response, Transport};
use crate::types::{ConnectorError, RateLimit};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Page size asked for unless configured; servers clamp it to their own maximum.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// One page of an offset-paged Confluence list.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Envelope<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub results: Vec<T>,
    #[serde(rename = "_links", default, deserialize_with = "null_as_default")]
    pub links: Links,
}

/// Reads `null` as the field's default, as if it were absent (servers write either).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The `_links` object of a page.
#[derive(Debug, Default, Deserialize)]
pub struct Links {
    pub next: Option<String>,
}

/// A page's items and the path of the next page, if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Confluence over a transport.
pub struct Client<'t> {
    transport: &'t dyn Transport,
}

impl<'t> Client<'t> {
    pub fn new(transport: &'t dyn Transport) -> Client<'t> {
        Client { transport }
    }

    /// GETs `path_and_query` and decodes the JSON body; non-2xx answers become typed errors.
    pub fn get_json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, ConnectorError> {
        let response = self.transport.send(&Request::get_json(path_and_query))?;
        let response = ensure_success("GET", path_and_query, response)?;
        decode_json(path_and_query, &response.body)
    }

    /// Sends a write (`PUT`, `POST`, `DELETE`) with the write headers and an optional JSON body;
    /// non-2xx answers become typed errors.
    pub fn write(&self, method: Method, path: &str, body: Option<&serde_json::Value>) -> Result<Response, ConnectorError> {
        let request = Request { method, path_and_query: path.to_string(), headers: write_headers(), body: body.map(|b| b.to_string().into_bytes()) };
        ensure_success(method.as_str(), path, self.transport.send(&request)?)
    }

    /// Calls a JSON-RPC method in light mode (`POST /rpc/json-rpc/confluenceservice-v2/<method>`
    /// with the positional parameters as a JSON array) and decodes the result.
    pub fn json_rpc<T: DeserializeOwned>(&self, method: &str, params: serde_json::Value) -> Result<T, ConnectorError> {
        let (path, response) = self.send_json_rpc(method, params)?;
        let response = ensure_success("POST", &path, response)?;
        if let Some(message) = json_rpc_error(&response.body) {
            return Err(ConnectorError::Internal(format!("JSON-RPC {method} failed: {message}")));
        }
        decode_json_rpc(method, &response.body)
    }

    /// A JSON-RPC lookup: like [`Self::json_rpc`], but an error answer of the API itself (a
    /// body with `error`, whatever the status: how the remote API says "no such object") is
    /// none, with its message logged.
    pub fn json_rpc_lookup<T: DeserializeOwned>(&self, method: &str, params: serde_json::Value) -> Result<Option<T>, ConnectorError> {
        let (path, response) = self.send_json_rpc(method, params)?;
        if let Some(message) = json_rpc_error(&response.body) {
            crate::guest_log::debug("the JSON-RPC lookup found nothing", &[("method", method), ("answer", &message)]);
            return Ok(None);
        }
        let response = ensure_success("POST", &path, response)?;
        decode_json_rpc(method, &response.body).map(Some)
    }

    fn send_json_rpc(&self, method: &str, params: serde_json::Value) -> Result<(String, Response), ConnectorError> {
        let path = format!("{}/{method}", crate::declared::JSON_RPC);
        let mut headers = write_headers();
        if method.starts_with("get") {
            // A read over POST: the host may send it again after a dropped connection.
            headers.push(("x-baton-retry-safe".into(), "1".into()));
        }
        let request = Request { method: Method::Post, path_and_query: path.clone(), headers, body: Some(params.to_string().into_bytes()) };
        let response = self.transport.send(&request)?;
        Ok((path, response))
    }

    /// GETs one page of an offset-paged list. `next` is the path of the following page, or none
    /// when this page is the last one.
    pub fn get_page<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<Page<T>, ConnectorError> {
        Ok(self.get_json::<Envelope<T>>(path_and_query)?.into_page(path_and_query))
    }
}

impl<T> Envelope<T> {
    /// The page that `path_and_query` answered with: its items and the path of the next page,
    /// none when this one is empty or links to itself (docs/confluence-dc.md §4.4).
    pub fn into_page(self, path_and_query: &str) -> Page<T> {
        let next = if self.results.is_empty() { None } else { self.links.next.as_deref().map(rest_path_of_link).filter(|next| next != path_and_query) };
        Page { items: self.results, next }
    }
}

/// Reading or changing `what` needs an administrator: says so instead of "bad credentials".
pub fn needs_admin(err: ConnectorError, what: &str) -> ConnectorError {
    match err {
        ConnectorError::Unauthenticated(m) | ConnectorError::PermissionDenied(m) => {
            ConnectorError::PermissionDenied(format!("reading or changing {what} needs a Confluence administrator's token or account ({m})"))
        }
        other => other,
    }
}

/// Headers of every write: JSON both ways and the XSRF opt-out Atlassian REST expects.
pub fn write_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into()), ("accept".into(), "application/json".into()), ("x-atlassian-token".into(), "no-check".into())]
}

fn decode_json_rpc<T: DeserializeOwned>(method: &str, body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|err| ConnectorError::Internal(format!("Confluence's answer to JSON-RPC {method} is not the JSON expected: {err}")))
}

/// The message of a JSON-RPC error body (`{"error": {...}}`), if the body is one.
fn json_rpc_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.as_object()?.get("error")?;
    Some(error.get("message").and_then(|m| m.as_str()).map(str::to_string).unwrap_or_else(|| error.to_string()))
}

/// The part of a `_links.next` value from `/rest/` on: drops any scheme, host and context path,
/// so the request goes to the configured origin and context path.
pub fn rest_path_of_link(link: &str) -> String {
    let without_origin = match link.find("://") {
        Some(scheme_end) => {
            let after = &link[scheme_end + 3..];
            after.find('/').map(|slash| &after[slash..]).unwrap_or("/")
        }
        None => link,
    };
    match without_origin.find("/rest/") {
        Some(start) => without_origin[start..].to_string(),
        None => without_origin.to_string(),
    }
}

/// Passes 2xx responses through and maps every other status to a typed error that says what to do.
pub fn ensure_success(method: &str, path: &str, response: Response) -> Result<Response, ConnectorError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    Err(error_for_status(method, path, &response))
}

/// The typed error for a non-2xx answer.
pub fn error_for_status(method: &str, path: &str, response: &Response) -> ConnectorError {
    let status = response.status;
    let what = format!("Confluence answered {status} to {method} {}", path_without_query(path));
    let detail = server_message(&response.body).map(|m| format!(" ({m})")).unwrap_or_default();
    match status {
        401 => {
            let reason = response.header("x-seraph-loginreason").map(|r| format!(" [X-Seraph-LoginReason: {r}]")).unwrap_or_default();
            ConnectorError::Unauthenticated(format!(
                "{what}{detail}{reason}: the credentials were refused; check the access token (or username and password) and that the account is not locked"
            ))
        }
        403 => {
            ConnectorError::PermissionDenied(format!("{what}{detail}: the account lacks a permission this needs; use a Confluence administrator's credentials"))
        }
        404 => ConnectorError::NotFound(format!("{what}{detail}")),
        429 => {
            ConnectorError::RateLimited(RateLimit { retry_after_ms: retry_after_ms(response).unwrap_or(0), message: format!("{what}{detail}: rate limited") })
        }
        500..=599 => ConnectorError::Unavailable(format!("{what}{detail}")),
        400 => ConnectorError::InvalidArgument(format!("{what}{detail}")),
        402 => ConnectorError::ResourceExhausted(format!("{what}{detail}: no Confluence licence seat is free; free one or extend the licence")),
        409 => ConnectorError::AlreadyExists(format!("{what}{detail}")),
        _ => ConnectorError::Internal(format!("{what}{detail}")),
    }
}

fn path_without_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn retry_after_ms(response: &Response) -> Option<u64> {
    let seconds: f64 = response.header("retry-after")?.trim().parse().ok()?;
    Some((seconds.max(0.0) * 1000.0) as u64)
}

/// The `message` of a JSON RestError body (or of a JSON-RPC `error` object), if the body is one.
fn server_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct RestError {
        message: Option<String>,
    }
    let parsed: RestError = serde_json::from_slice(body).ok()?;
    parsed.message.filter(|m| !m.is_empty()).or_else(|| json_rpc_error(body))
}

fn decode_json<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body)
        .map_err(|err| ConnectorError::Internal(format!("Confluence's answer to GET {} is not the JSON expected: {err}", path_without_query(path))))
}

/// Percent-encodes one path segment or query value (UTF-8; everything but unreserved characters).
pub fn encode_component(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    utf8_percent_encode(value, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FakeTransport;

    #[test]
    fn next_links_keep_only_the_rest_path() {
        assert_eq!(rest_path_of_link("/rest/api/user/list?limit=5&start=5"), "/rest/api/user/list?limit=5&start=5");
        assert_eq!(rest_path_of_link("/confluence/rest/api/user/list?start=5"), "/rest/api/user/list?start=5");
        assert_eq!(rest_path_of_link("https://proxy.example.com:8443/confluence/rest/api/user/list?start=5"), "/rest/api/user/list?start=5");
    }

    #[test]
    fn unauthorized_names_the_credentials_and_the_login_reason() {
        let mut response = FakeTransport::json(401, "<html>denied</html>");
        response.headers.push(("X-Seraph-LoginReason".into(), "AUTHENTICATED_FAILED".into()));
        let error = error_for_status("GET", "/rest/api/user/current", &response);
        let ConnectorError::Unauthenticated(message) = error else { panic!("wrong case: {error:?}") };
        assert!(message.contains("401"), "{message}");
        assert!(message.contains("AUTHENTICATED_FAILED"), "{message}");
        assert!(message.contains("access token"), "{message}");
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let mut response = FakeTransport::json(429, r#"{"message":"Rate limit exceeded."}"#);
        response.headers.push(("Retry-After".into(), "3".into()));
        match error_for_status("GET", "/rest/api/user/list", &response) {
            ConnectorError::RateLimited(limit) => assert_eq!(limit.retry_after_ms, 3000),
            other => panic!("wrong case: {other:?}"),
        }
    }

    #[test]
    fn empty_page_with_next_ends_the_list() {
        let fake =
            FakeTransport::new(vec![FakeTransport::json(200, r#"{"results":[],"size":0,"limit":0,"_links":{"next":"/rest/api/user/list/?limit=0&start=0"}}"#)]);
        let page: Page<serde_json::Value> = Client::new(&fake).get_page("/rest/api/user/list?start=0").unwrap();
        assert!(page.next.is_none());
    }

    #[test]
    fn components_are_percent_encoded_as_utf8() {
        assert_eq!(encode_component("a b+c&d%e#f/g"), "a%20b%2Bc%26d%25e%23f%2Fg");
        assert_eq!(encode_component("Zoë"), "Zo%C3%AB");
    }
}
