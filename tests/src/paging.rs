//! Offset pagination of the v1 REST API: parsing `start`/`limit` (with the server-side clamp) and
//! writing the page envelope `{results,start,limit,size,_links}` (docs/confluence-dc.md §4).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, ok_json};
use crate::state::SimState;

/// Characters escaped in generated query strings (everything but unreserved ones).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A validated page request; `limit` is already clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub start: usize,
    pub limit: usize,
}

impl PageRequest {
    /// Reads `start` and `limit`; `Err(message)` for values that are not non-negative integers.
    pub fn from_request(request: &SimRequest, default_limit: usize, max_limit: usize) -> Result<PageRequest, String> {
        let start = parse_non_negative(request.param("start"), "start")?.unwrap_or(0);
        let limit = parse_non_negative(request.param("limit"), "limit")?.unwrap_or(default_limit);
        Ok(PageRequest { start, limit: limit.min(max_limit) })
    }

    /// The slice of `items` this page covers.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self.start.min(items.len());
        let end = start.saturating_add(self.limit).min(items.len());
        &items[start..end]
    }
}

fn parse_non_negative(value: Option<&str>, name: &str) -> Result<Option<usize>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<usize>().map(Some).map_err(|_| format!("Invalid value for parameter '{name}': {text}")),
    }
}

/// Builds the envelope for one page of a resource of `total` items.
/// `resource_path` excludes the context path, e.g. "/rest/api/user/list".
pub fn page_envelope(state: &SimState, request: &SimRequest, resource_path: &str, page: PageRequest, results: Vec<Value>, total: usize) -> Value {
    let size = results.len();
    let mut links = Map::new();
    links.insert("self".into(), json!(state.absolute_link(resource_path)));
    links.insert("base".into(), json!(state.link_base()));
    links.insert("context".into(), json!(state.link_context()));
    if let Some(next_start) = next_start(page, size, total, state.config.empty_page_next_oddity) {
        let query = navigation_query(request, page.limit, next_start);
        let next = state.config.hostile_next_link.clone().unwrap_or_else(|| state.navigation_link(&format!("{resource_path}?{query}")));
        links.insert("next".into(), json!(next));
    }
    if page.start > 0 && page.limit > 0 {
        let query = navigation_query(request, page.limit, page.start.saturating_sub(page.limit));
        links.insert("prev".into(), json!(state.navigation_link(&format!("{resource_path}?{query}"))));
    }
    json!({
        "results": results,
        "start": page.start,
        "limit": page.limit,
        "size": size,
        "_links": Value::Object(links),
    })
}

/// One page of `items` in an envelope, items rendered with `to_json`; `default_limit` applies
/// when `limit` is absent (then clamped). Malformed paging parameters give a 400 response.
pub fn page_of<T>(
    state: &SimState,
    request: &SimRequest,
    resource_path: &str,
    default_limit: usize,
    items: &[T],
    to_json: impl Fn(&T) -> Value,
) -> Result<Value, Box<HttpResponse>> {
    let page =
        PageRequest::from_request(request, default_limit, state.config.max_limit).map_err(|message| Box::new(bad_request(&message, request.wants_json())))?;
    let results = page.slice(items).iter().map(to_json).collect();
    Ok(page_envelope(state, request, resource_path, page, results, items.len()))
}

/// [`page_of`] answered as a 200 JSON response.
pub fn paged_response<T>(
    state: &SimState,
    request: &SimRequest,
    resource_path: &str,
    default_limit: usize,
    items: &[T],
    to_json: impl Fn(&T) -> Value,
) -> HttpResponse {
    match page_of(state, request, resource_path, default_limit, items, to_json) {
        Ok(envelope) => ok_json(&envelope),
        Err(response) => *response,
    }
}

/// Where `next` points, if anywhere. With the oddity, every page has a `next`: the last
/// non-empty page points at an empty one, and an empty page points past itself
/// (with `limit=0`, at itself, as captured from a real server).
fn next_start(page: PageRequest, size: usize, total: usize, oddity: bool) -> Option<usize> {
    let following = page.start.saturating_add(size);
    let has_more = page.limit > 0 && size > 0 && following < total;
    if has_more {
        Some(following)
    } else if oddity {
        Some(if size == 0 { page.start.saturating_add(page.limit) } else { following })
    } else {
        None
    }
}

/// The request's other query parameters plus `limit` and `start`, sorted by name.
fn navigation_query(request: &SimRequest, limit: usize, start: usize) -> String {
    let mut params: Vec<(String, String)> = request.query.iter().filter(|(name, _)| name != "start" && name != "limit").cloned().collect();
    params.push(("limit".into(), limit.to_string()));
    params.push(("start".into(), start.to_string()));
    params.sort_by(|a, b| a.0.cmp(&b.0));
    params
        .iter()
        .map(|(name, value)| format!("{}={}", utf8_percent_encode(name, QUERY_VALUE), utf8_percent_encode(value, QUERY_VALUE)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_start_follows_the_rules() {
        let page = |start, limit| PageRequest { start, limit };
        assert_eq!(next_start(page(0, 10), 10, 25, false), Some(10));
        assert_eq!(next_start(page(20, 10), 5, 25, false), None);
        assert_eq!(next_start(page(20, 5), 5, 25, false), None);
        assert_eq!(next_start(page(0, 0), 0, 25, false), None);
        assert_eq!(next_start(page(20, 5), 5, 25, true), Some(25));
        assert_eq!(next_start(page(25, 5), 0, 25, true), Some(30));
        assert_eq!(next_start(page(0, 0), 0, 25, true), Some(0));
    }

    #[test]
    fn slice_never_panics() {
        let items = [1, 2, 3];
        assert_eq!(PageRequest { start: 10, limit: 5 }.slice(&items), &[] as &[i32]);
        assert_eq!(PageRequest { start: 1, limit: usize::MAX }.slice(&items), &[2, 3]);
    }
}
