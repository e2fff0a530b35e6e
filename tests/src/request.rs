//! The simulator's view of an incoming request: method, path below the context path,
//! decoded query parameters, the headers that matter, and the body.

use axum::http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

#[derive(Debug, Clone)]
pub struct SimRequest {
    pub method: Method,
    /// Raw (still percent-encoded) path below the context path, starting with "/",
    /// without trailing slash, with `/rest/api/latest/` folded into `/rest/api/`.
    pub path: String,
    /// Decoded query parameters in order (form rules: `+` is a space).
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl SimRequest {
    /// First value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether error bodies should be JSON (`Accept` mentions json), as JAX-RS negotiates.
    pub fn wants_json(&self) -> bool {
        self.header("accept").is_some_and(|a| a.to_ascii_lowercase().contains("json"))
    }

    /// The `expand` parameter split on commas.
    pub fn expansions(&self) -> Vec<String> {
        self.query.iter().filter(|(n, _)| n == "expand").flat_map(|(_, v)| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    }

    pub fn expands(&self, name: &str) -> bool {
        self.expansions().iter().any(|e| e == name)
    }
}

/// Strips `context_path` from `path`; `None` when the path is outside it.
pub fn path_below_context<'a>(path: &'a str, context_path: &str) -> Option<&'a str> {
    if context_path.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(context_path)?;
    if rest.is_empty() || rest.starts_with('/') { Some(rest) } else { None }
}

/// Normalises a path below the context: leading "/", no trailing "/", `latest` alias folded.
pub fn normalize_path(path: &str) -> String {
    let mut normalized = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    while normalized.len() > 1 && normalized.ends_with('/') {
        normalized.pop();
    }
    if let Some(rest) = normalized.strip_prefix("/rest/api/latest")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        normalized = format!("/rest/api{rest}");
    }
    normalized
}

/// Parses `a=1&b=x+y&c=%C3%A9` into decoded pairs.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_form_component(name), decode_form_component(value))
        })
        .collect()
}

fn decode_form_component(text: &str) -> String {
    percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_path_is_matched_on_segment_boundaries() {
        assert_eq!(path_below_context("/confluence/rest/api", "/confluence"), Some("/rest/api"));
        assert_eq!(path_below_context("/confluence", "/confluence"), Some(""));
        assert_eq!(path_below_context("/confluencex/rest", "/confluence"), None);
        assert_eq!(path_below_context("/rest/api", "/confluence"), None);
        assert_eq!(path_below_context("/rest/api", ""), Some("/rest/api"));
    }

    #[test]
    fn paths_and_queries_are_normalised() {
        assert_eq!(normalize_path("/rest/api/user/list/"), "/rest/api/user/list");
        assert_eq!(normalize_path("/rest/api/latest/user"), "/rest/api/user");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(
            parse_query("a=1&b=x+y&c=%C3%A9&d"),
            vec![("a".into(), "1".into()), ("b".into(), "x y".into()), ("c".into(), "é".into()), ("d".into(), "".into())]
        );
    }
}
