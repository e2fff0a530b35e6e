//! What the fake remembers about each call, for tests to assert on: token requests (accepted
//! or not, and why), RPCs with the token they used, uploads, and calls refused for want of a
//! valid token.

/// One `POST /auth/v1/token`, with the fields as sent and the decoded assertion.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenRequestRecord {
    pub content_type: Option<String>,
    pub client_id: Option<String>,
    pub grant_type: Option<String>,
    pub client_assertion_type: Option<String>,
    /// The assertion's protected header, when it decoded as JSON.
    pub assertion_header: Option<serde_json::Value>,
    /// The assertion's claims, when they decoded as JSON.
    pub assertion_claims: Option<serde_json::Value>,
    pub outcome: TokenOutcome,
}

impl TokenRequestRecord {
    pub fn accepted(&self) -> bool {
        matches!(self.outcome, TokenOutcome::Issued { .. })
    }

    /// Why the request was refused (`None` when a token was issued).
    pub fn rejection(&self) -> Option<&str> {
        match &self.outcome {
            TokenOutcome::Rejected { reason } => Some(reason),
            TokenOutcome::Issued { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenOutcome {
    Issued { access_token: String },
    Rejected { reason: String },
}

impl Default for TokenOutcome {
    fn default() -> Self {
        TokenOutcome::Rejected { reason: "not checked".into() }
    }
}

/// One authenticated RPC: the access token it carried, the full request, and why the fake
/// refused it with `INVALID_ARGUMENT` (`None` when it was answered normally).
#[derive(Clone, Debug, PartialEq)]
pub struct RpcCall<T> {
    pub token: String,
    pub request: T,
    pub rejection: Option<String>,
}

/// An RPC refused with `UNAUTHENTICATED` before it was looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnauthenticatedCall {
    /// The RPC name, e.g. `"GetTask"`.
    pub method: &'static str,
    pub reason: String,
}

/// One UploadAsset stream, as far as it got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadRecord {
    pub token: String,
    /// From the metadata message (`None` if the stream did not start with one).
    pub host_id: Option<String>,
    pub task_id: Option<String>,
    /// The data chunks, joined.
    pub data: Vec<u8>,
    /// The size of each data chunk, in order.
    pub chunk_sizes: Vec<usize>,
    /// The checksum sent in the eof message.
    pub sha256_sent: Option<Vec<u8>>,
    /// Whether the eof checksum equals the sha256 of `data` (`None` without an eof).
    pub sha256_matched: Option<bool>,
    /// Why the upload was refused (a protocol violation, a checksum mismatch, an injected
    /// failure or a broken stream); `None` when it was accepted.
    pub rejection: Option<String>,
}

impl UploadRecord {
    pub fn accepted(&self) -> bool {
        self.rejection.is_none()
    }
}
