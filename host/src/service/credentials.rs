//! ConductorOne client credentials: the client id (`name@tenant-host/suffix`) and the client
//! secret (`secret-token:conductorone.com:v1:<base64url JWK>`, an Ed25519 private key). Parsing
//! says which part is wrong and never repeats the secret; `Debug` never shows the key
//! (formats: docs/c1z-and-c1.md §4.1–4.2).

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use serde::Deserialize;

/// A parsed client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId {
    /// The whole id, as sent in `client_id`, `iss` and `sub`.
    pub full: String,
    /// The part before `@`.
    pub client_name: String,
    /// The tenant's host (and port, if any) between `@` and `/`.
    pub token_host: String,
}

impl ClientId {
    /// Parses `name@host/suffix`.
    pub fn parse(value: &str) -> Result<ClientId> {
        const SHAPE: &str = "expected the form name@tenant.conductor.one/suffix, as shown in ConductorOne";
        let value = value.trim();
        let (client_name, rest) = value.split_once('@').ok_or_else(|| anyhow!("--client-id has no '@': {SHAPE}"))?;
        let (token_host, suffix) = rest.split_once('/').ok_or_else(|| anyhow!("--client-id has no '/' after the host: {SHAPE}"))?;
        if client_name.is_empty() {
            bail!("--client-id has no name before '@': {SHAPE}");
        }
        if token_host.is_empty() || token_host.contains(['@', ' ']) {
            bail!("--client-id has no usable host between '@' and '/': {SHAPE}");
        }
        if suffix.is_empty() {
            bail!("--client-id has nothing after the '/': {SHAPE}");
        }
        Ok(ClientId { full: value.to_string(), client_name: client_name.to_string(), token_host: token_host.to_string() })
    }

    /// The token host without a port: the assertion's audience.
    pub fn audience(&self) -> &str {
        let host = &self.token_host;
        if let Some(literal) = host.strip_prefix('[') {
            return literal.split(']').next().unwrap_or(literal);
        }
        match host.split_once(':') {
            Some((name, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    }
}

/// The signing key from a client secret. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct ClientSecret {
    key: SigningKey,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The JWK inside a client secret.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    d: Option<String>,
}

impl ClientSecret {
    /// Parses `<a>:<b>:v1:<base64url(JWK)>`; the JWK must be an Ed25519 private key.
    pub fn parse(value: &str) -> Result<ClientSecret> {
        const SHAPE: &str = "expected secret-token:conductorone.com:v1:<key>, exactly as ConductorOne showed it";
        let parts: Vec<&str> = value.trim().splitn(4, ':').collect();
        if parts.len() != 4 {
            bail!("--client-secret has {} ':'-separated parts instead of 4: {SHAPE}", parts.len());
        }
        if parts[2] != "v1" {
            bail!("--client-secret's third part is not v1: {SHAPE}");
        }
        let json = URL_SAFE_NO_PAD.decode(parts[3].trim_end_matches('=')).map_err(|_| anyhow!("--client-secret's key part is not base64url: {SHAPE}"))?;
        let jwk: Jwk = serde_json::from_slice(&json).map_err(|_| anyhow!("--client-secret's key part is not a JSON Web Key: {SHAPE}"))?;
        if jwk.kty.as_deref() != Some("OKP") || jwk.crv.as_deref() != Some("Ed25519") {
            bail!("--client-secret's key is not an Ed25519 key (kty OKP, crv Ed25519)");
        }
        let seed = jwk.d.as_deref().ok_or_else(|| anyhow!("--client-secret's key has no private part (d): it is a public key"))?;
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(seed)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| anyhow!("--client-secret's private key (d) is not 32 bytes of base64url"))?;
        let key = SigningKey::from_bytes(&seed);
        if let Some(x) = &jwk.x
            && URL_SAFE_NO_PAD.decode(x).ok().as_deref() != Some(key.verifying_key().as_bytes().as_slice())
        {
            bail!("--client-secret's public key (x) does not belong to its private key (d)");
        }
        Ok(ClientSecret { key })
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// Any secret is parsed or refused, and a refusal never repeats the key part.
            #[test]
            fn secrets_are_refused_without_being_repeated(prefix in "[a-z:.-]{0,30}", key in "[A-Za-z0-9_=-]{8,60}") {
                let value = format!("{prefix}:v1:{key}");
                if let Err(error) = ClientSecret::parse(&value) {
                    prop_assert!(!error.to_string().contains(&key), "{error}");
                }
                let _ = ClientSecret::parse(&key);
            }

            /// A well-shaped secret whose key part is any JSON is refused cleanly.
            #[test]
            fn keys_of_any_json_are_refused_cleanly(json in "\\PC{0,80}") {
                let value = format!("secret-token:conductorone.com:v1:{}", URL_SAFE_NO_PAD.encode(json.as_bytes()));
                let _ = ClientSecret::parse(&value);
            }

            #[test]
            fn client_ids_are_parsed_or_refused_cleanly(value in "\\PC{0,60}") {
                let _ = ClientId::parse(&value);
            }
        }
    }

    fn secret_for(seed: [u8; 32], with_x: bool) -> String {
        let key = SigningKey::from_bytes(&seed);
        let mut jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "d": URL_SAFE_NO_PAD.encode(seed)});
        if with_x {
            jwk["x"] = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()).into();
        }
        format!("secret-token:conductorone.com:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))
    }

    #[test]
    fn client_ids_split_into_name_and_host() {
        let id = ClientId::parse("strange-hydra-68836@acme.conductor.one/pcc").unwrap();
        assert_eq!((id.client_name.as_str(), id.token_host.as_str(), id.audience()), ("strange-hydra-68836", "acme.conductor.one", "acme.conductor.one"));
        assert_eq!(ClientId::parse("c@127.0.0.1:8443/pcc").unwrap().audience(), "127.0.0.1");
        for (bad, says) in
            [("no-at-sign/pcc", "no '@'"), ("c@host", "no '/'"), ("@host/pcc", "no name"), ("c@/pcc", "no usable host"), ("c@host/", "nothing after")]
        {
            let err = ClientId::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn secrets_parse_to_the_key_they_carry() {
        let seed = [7u8; 32];
        let secret = ClientSecret::parse(&secret_for(seed, true)).unwrap();
        assert_eq!(secret.signing_key().to_bytes(), seed);
        assert!(ClientSecret::parse(&secret_for(seed, false)).is_ok(), "x is optional");
        assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
    }

    #[test]
    fn malformed_secrets_say_which_part_is_wrong_without_repeating_it() {
        let good = secret_for([9u8; 32], true);
        let key_part = good.rsplit(':').next().unwrap().to_string();
        let wrong_x = {
            let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "d": URL_SAFE_NO_PAD.encode([9u8; 32]), "x": URL_SAFE_NO_PAD.encode([1u8; 32])});
            format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))
        };
        let public_only = format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#));
        let rsa = format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(r#"{"kty":"RSA","d":"AAAA"}"#));
        let cases = [
            ("only:three:parts".to_string(), "3 ':'-separated parts"),
            (format!("a:b:v2:{key_part}"), "third part is not v1"),
            ("a:b:v1:***not base64***".to_string(), "not base64url"),
            (format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode("not json")), "not a JSON Web Key"),
            (rsa, "not an Ed25519 key"),
            (public_only, "no private part"),
            (wrong_x, "does not belong"),
        ];
        for (bad, says) in cases {
            let err = ClientSecret::parse(&bad).unwrap_err().to_string();
            assert!(err.contains(says), "{says}: {err}");
            assert!(!err.contains(&key_part) && !err.contains("***not"), "the secret is not repeated: {err}");
        }
    }
}
