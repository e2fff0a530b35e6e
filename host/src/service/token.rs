//! The access token for ConductorOne: an RFC 7523 client assertion (a JWS signed with the
//! client secret's Ed25519 key) exchanged at `/auth/v1/token`, cached until shortly before it
//! expires (docs/c1z-and-c1.md §4.3–4.4). Neither the assertion nor the token is ever logged
//! or put into an error.

use super::connection::C1Address;
use super::credentials::{ClientId, ClientSecret};
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use serde::Deserialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// How long an assertion is valid either side of now (baton uses two minutes).
const ASSERTION_SKEW: u64 = 120;
/// A token is renewed when less than this is left of it (or half its life, if shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// The token endpoint could not be reached (worth trying again later), as opposed to every
/// other failure (refused credentials, a bad answer), which waiting does not fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(String);

/// Hands out a valid `authorization` value, asking for a new token only when needed.
pub struct TokenSource {
    http: reqwest::Client,
    url: String,
    client_id: ClientId,
    secret: ClientSecret,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    authorization: String,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: u64,
}

impl TokenSource {
    /// A token source for `client_id` at `address`.
    pub fn new(address: &C1Address, client_id: ClientId, secret: ClientSecret) -> Result<TokenSource> {
        let http = address.http_client()?;
        let url = format!("{}/auth/v1/token", address.base_url());
        Ok(TokenSource { http, url, client_id, secret, cached: Mutex::new(None) })
    }

    /// `<type> <token>` for the `authorization` metadata of an RPC.
    pub async fn authorization(&self) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(current.authorization.clone());
        }
        let fresh = self.request_token().await?;
        let value = fresh.authorization.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets the cached token (after the server refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request_token(&self) -> Result<Cached> {
        let assertion = assertion(&self.client_id, &self.secret, SystemTime::now())?;
        let form = [
            ("client_id", self.client_id.full.as_str()),
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
        ];
        let asked = Instant::now();
        let response = self.http.post(&self.url).form(&form).send().await.map_err(|e| unreachable_or_refused(&self.url, &e))?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "ConductorOne refused the client credentials (HTTP {status} from {}): check --client-id and --client-secret (BATON_CLIENT_ID / BATON_CLIENT_SECRET)",
                self.url
            );
        }
        let token: TokenResponse = response.json().await.context("ConductorOne's token endpoint answered without a token")?;
        if token.access_token.is_empty() {
            bail!("ConductorOne's token endpoint answered with an empty token");
        }
        let lifetime = Duration::from_secs(if token.expires_in == 0 { 3600 } else { token.expires_in });
        let renew_at = asked + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2));
        crate::secrets::note(&token.access_token);
        tracing::debug!(expires_in_s = lifetime.as_secs(), "got a ConductorOne access token");
        Ok(Cached { authorization: format!("{} {}", token_type(&token.token_type), token.access_token), renew_at })
    }
}

/// A failed token request: worth retrying when the network failed, final when TLS refused the
/// server (an untrusted or wrong certificate does not fix itself).
fn unreachable_or_refused(url: &str, error: &reqwest::Error) -> anyhow::Error {
    let causes = causes(error);
    let text = format!("cannot reach ConductorOne's token endpoint {url}: {causes}");
    if causes.contains("certificate") || causes.contains("handshake") {
        anyhow::anyhow!("{text}; the TLS handshake failed: if ConductorOne is behind a private CA, trust it with --c1-ca-file (or SSL_CERT_FILE)")
    } else {
        Unreachable(text).into()
    }
}

/// The error and its causes, without the URL (already said).
fn causes(error: &reqwest::Error) -> String {
    let mut parts = vec![without_url(error)];
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// As Go's oauth2 does: `bearer` or nothing means `Bearer`.
fn token_type(given: &str) -> &str {
    if given.is_empty() || given.eq_ignore_ascii_case("bearer") { "Bearer" } else { given }
}

/// A reqwest error without the URL's query (there is none here, but the text stays generic).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text
}

/// The compact JWS: header `{"alg":"EdDSA","nonce":<32 hex>}`, claims iss = sub = client id,
/// aud = the token host without port, and exp / nbf two minutes either side of `now`.
pub fn assertion(client_id: &ClientId, secret: &ClientSecret, now: SystemTime) -> Result<String> {
    let now = now.duration_since(UNIX_EPOCH).context("the clock is before 1970")?.as_secs();
    let nonce: [u8; 16] = rand::random();
    let header = serde_json::json!({"alg": "EdDSA", "nonce": hex(&nonce)});
    let claims = serde_json::json!({
        "iss": client_id.full,
        "sub": client_id.full,
        "aud": client_id.audience(),
        "exp": now + ASSERTION_SKEW,
        "iat": now,
        "nbf": now.saturating_sub(ASSERTION_SKEW),
    });
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = secret.signing_key().sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, SigningKey, Verifier};

    #[test]
    fn assertions_are_signed_with_the_secret_and_carry_baton_claims() {
        let seed = [3u8; 32];
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "d": URL_SAFE_NO_PAD.encode(seed)});
        let secret = ClientSecret::parse(&format!("s:c:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))).unwrap();
        let id = ClientId::parse("hydra@acme.conductor.one:443/pcc").unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jws = assertion(&id, &secret, at).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        let (header, claims) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(header["alg"], "EdDSA");
        let nonce = header["nonce"].as_str().unwrap();
        assert!(nonce.len() == 32 && nonce.chars().all(|c| c.is_ascii_hexdigit()), "{nonce}");
        assert_eq!(claims["iss"], id.full);
        assert_eq!(claims["sub"], id.full);
        assert_eq!(claims["aud"], "acme.conductor.one", "a plain string, without the port");
        assert_eq!((claims["iat"].as_u64(), claims["exp"].as_u64(), claims["nbf"].as_u64()), (Some(1_800_000_000), Some(1_800_000_120), Some(1_799_999_880)));
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let public = SigningKey::from_bytes(&seed).verifying_key();
        assert!(public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_ok());
        assert_ne!(assertion(&id, &secret, at).unwrap(), jws, "a fresh nonce each time");
    }

    #[test]
    fn token_types_default_to_bearer() {
        assert_eq!(token_type(""), "Bearer");
        assert_eq!(token_type("bearer"), "Bearer");
        assert_eq!(token_type("DPoP"), "DPoP");
    }
}
