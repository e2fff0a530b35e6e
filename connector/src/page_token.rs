//! The one page token of every list this connector pages: a typed [`PageToken`], serialized to
//! the world's opaque `next-page-token` string as tagged JSON (`{"path":"/rest/..."}`,
//! `{"offset":50}`, `{"space_page":{"status":"current","path":"/rest/..."}}`) and decoded back,
//! with `invalid-argument` for anything this connector did not issue.
//!
//! Syncs checkpointed by earlier builds carry the older ad-hoc strings, and a resumed sync must
//! go on from them, so decoding also accepts those: `rpc:<n>` (an offset into the JSON-RPC user
//! list), `<status>|/rest/...` (a space page) and a plain `/rest/...` path (users, groups and
//! group members).

use crate::types::ConnectorError;
use serde::{Deserialize, Serialize};

/// Prefix of the legacy offset token (`rpc:50`).
const LEGACY_OFFSET_PREFIX: &str = "rpc:";

/// Where the next page of a list starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageToken {
    /// The REST path (from `/rest/` on) of the next page of an offset-paged list.
    Path(String),
    /// An index into a list read whole (the JSON-RPC usernames before 8.4).
    Offset(usize),
    /// The next page of the spaces of one status (`current`, `archived`).
    SpacePage { status: String, path: String },
}

impl PageToken {
    /// The opaque string handed to the host.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a page token always serializes")
    }

    /// The token a string encodes: the JSON form, or one of the legacy forms.
    pub fn decode(token: &str) -> Result<PageToken, ConnectorError> {
        if token.starts_with('{') {
            return serde_json::from_str(token).map_err(|err| invalid(token, &err.to_string()));
        }
        if let Some(offset) = token.strip_prefix(LEGACY_OFFSET_PREFIX) {
            return offset.parse().map(PageToken::Offset).map_err(|_| invalid(token, "the offset is not a number"));
        }
        if let Some((status, path)) = token.split_once('|')
            && !status.is_empty()
            && status.chars().all(|c| c.is_ascii_alphabetic())
            && path.starts_with('/')
        {
            return Ok(PageToken::SpacePage { status: status.to_string(), path: path.to_string() });
        }
        if token.starts_with('/') {
            return Ok(PageToken::Path(token.to_string()));
        }
        Err(invalid(token, "it is neither this connector's JSON form nor one of its older forms"))
    }

    /// Decodes an optional token.
    pub fn decode_optional(token: Option<&str>) -> Result<Option<PageToken>, ConnectorError> {
        token.map(PageToken::decode).transpose()
    }

    /// The path of an optional [`PageToken::Path`] token of the named list; a token of another
    /// kind is `invalid-argument`.
    pub fn path_of(token: Option<&str>, list: &str) -> Result<Option<String>, ConnectorError> {
        match PageToken::decode_optional(token)? {
            None => Ok(None),
            Some(PageToken::Path(path)) => Ok(Some(path)),
            Some(other) => Err(other.not_for(list)),
        }
    }

    /// The error for a well-formed token handed to a list it does not belong to.
    pub fn not_for(&self, list: &str) -> ConnectorError {
        ConnectorError::InvalidArgument(format!("page token {} is not a page token of {list}", self.encode()))
    }
}

fn invalid(token: &str, why: &str) -> ConnectorError {
    ConnectorError::InvalidArgument(format!("{token:?} is not a page token of this connector ({why})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_tagged_json() {
        let tokens = [
            (PageToken::Path("/rest/api/user/list?limit=2&start=2".into()), r#"{"path":"/rest/api/user/list?limit=2&start=2"}"#),
            (PageToken::Offset(50), r#"{"offset":50}"#),
            (
                PageToken::SpacePage { status: "archived".into(), path: "/rest/api/space?limit=1000&start=0&status=archived".into() },
                r#"{"space_page":{"status":"archived","path":"/rest/api/space?limit=1000&start=0&status=archived"}}"#,
            ),
        ];
        for (token, json) in tokens {
            assert_eq!(token.encode(), json);
            assert_eq!(PageToken::decode(&token.encode()).unwrap(), token);
        }
    }

    #[test]
    fn legacy_forms_still_decode() {
        assert_eq!(PageToken::decode("rpc:50").unwrap(), PageToken::Offset(50));
        assert_eq!(
            PageToken::decode("archived|/rest/api/space?limit=1000&start=0&status=archived").unwrap(),
            PageToken::SpacePage { status: "archived".into(), path: "/rest/api/space?limit=1000&start=0&status=archived".into() }
        );
        assert_eq!(
            PageToken::decode("/rest/api/group/devs/member?limit=1000&start=1000&expand=status").unwrap(),
            PageToken::Path("/rest/api/group/devs/member?limit=1000&start=1000&expand=status".into())
        );
        assert_eq!(PageToken::path_of(Some("/rest/api/group?limit=5&start=5"), "groups").unwrap().as_deref(), Some("/rest/api/group?limit=5&start=5"));
    }

    #[test]
    fn garbage_is_invalid_argument() {
        for garbage in ["", "hello", "rpc:", "rpc:x", "{", r#"{"page":3}"#, r#"{"offset":-1}"#, "|/rest/api/space", "cur rent|/rest/api/space"] {
            let err = PageToken::decode(garbage).unwrap_err();
            assert!(matches!(&err, ConnectorError::InvalidArgument(m) if m.contains("page token")), "{garbage:?}: {err:?}");
        }
    }

    #[test]
    fn a_token_of_another_list_is_invalid_argument() {
        let err = PageToken::path_of(Some(&PageToken::Offset(3).encode()), "groups").unwrap_err();
        assert!(matches!(&err, ConnectorError::InvalidArgument(m) if m.contains("groups")), "{err:?}");
        assert_eq!(PageToken::path_of(None, "groups").unwrap(), None);
    }
}
