//! The fake's test credentials: an Ed25519 key pair, the client id that names the fake as
//! its token host, and the client secret (the private key as a JWK) that the host is given,
//! in the formats of docs/c1z-and-c1.md §4.1–4.2.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};

/// The `<clientName>` part of the client id.
pub const CLIENT_NAME: &str = "test-client";
/// Everything in a client secret before the base64url JWK.
pub const SECRET_PREFIX: &str = "secret-token:conductorone.com:v1:";

/// The key pair and the identifiers derived from the fake's address.
#[derive(Clone)]
pub struct Credentials {
    key: SigningKey,
    client_id: String,
    audience: String,
}

impl Credentials {
    /// Credentials for a fake listening on `address` (`host:port`).
    pub fn new(seed: [u8; 32], address: &str) -> Credentials {
        Credentials { key: SigningKey::from_bytes(&seed), client_id: format!("{CLIENT_NAME}@{address}/pcc"), audience: host_without_port(address).to_string() }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `aud` an assertion must carry: the token host without its port.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn client_secret(&self) -> String {
        client_secret_for(&self.key)
    }

    /// A well-formed secret for a key that is not ours.
    pub fn wrong_client_secret(&self) -> String {
        client_secret_for(&SigningKey::from_bytes(&different_seed(&self.key.to_bytes())))
    }
}

/// `secret-token:conductorone.com:v1:<base64url-no-padding of {"kty":"OKP","crv":"Ed25519","x","d"}>`.
pub fn client_secret_for(key: &SigningKey) -> String {
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        "d": URL_SAFE_NO_PAD.encode(key.as_bytes()),
    });
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))
}

/// Reads a client secret back into its signing key, as the SDK parses it: four `:` parts,
/// the third `v1`, the fourth a base64url JWK of an Ed25519 private key.
pub fn signing_key_from_secret(secret: &str) -> anyhow::Result<SigningKey> {
    let parts: Vec<&str> = secret.splitn(4, ':').collect();
    anyhow::ensure!(parts.len() == 4 && parts[2] == "v1", "invalid client secret");
    let jwk: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[3])?)?;
    anyhow::ensure!(jwk["kty"] == "OKP" && jwk["crv"] == "Ed25519", "invalid client secret");
    let seed = decode_key_bytes(&jwk["d"])?;
    let key = SigningKey::from_bytes(&seed);
    anyhow::ensure!(decode_key_bytes(&jwk["x"])? == key.verifying_key().to_bytes(), "invalid client secret");
    Ok(key)
}

fn decode_key_bytes(value: &serde_json::Value) -> anyhow::Result<[u8; 32]> {
    let text = value.as_str().ok_or_else(|| anyhow::anyhow!("invalid client secret"))?;
    URL_SAFE_NO_PAD.decode(text)?.try_into().map_err(|_| anyhow::anyhow!("invalid client secret"))
}

pub fn random_seed() -> [u8; 32] {
    rand::random()
}

/// A seed that differs from `seed` in every byte, so its key is certainly another one.
fn different_seed(seed: &[u8; 32]) -> [u8; 32] {
    seed.map(|byte| !byte)
}

/// `127.0.0.1:8443` → `127.0.0.1`; a host without a port is unchanged.
pub fn host_without_port(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    }
}
