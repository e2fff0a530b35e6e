//! Checks a client assertion (a compact JWS, docs/c1z-and-c1.md §4.3) the way the fake's
//! token endpoint demands: header exactly `{"alg":"EdDSA","nonce":<32 lowercase hex>}`, an
//! Ed25519 signature by our key, and claims exactly `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`
//! with the expected values and times (a few seconds of skew allowed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};

/// How far `iat`, `exp` and `nbf` may stray from the times the SDK would write.
pub const SKEW_SECONDS: i64 = 5;
/// The SDK writes `exp` = now + 2 min and `nbf` = now − 2 min.
pub const VALIDITY_SECONDS: i64 = 120;

/// What the assertion must say and be signed with.
pub struct Expected<'a> {
    pub key: &'a VerifyingKey,
    pub client_id: &'a str,
    pub audience: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// The decoded parts (as far as decoding got) and the verdict.
#[derive(Debug)]
pub struct Inspection {
    pub header: Option<Value>,
    pub claims: Option<Value>,
    pub verdict: Result<(), String>,
}

pub fn inspect(jws: &str, expected: &Expected) -> Inspection {
    let mut inspection = Inspection { header: None, claims: None, verdict: Ok(()) };
    inspection.verdict = check(jws, expected, &mut inspection);
    inspection
}

fn check(jws: &str, expected: &Expected, inspection: &mut Inspection) -> Result<(), String> {
    let [header_b64, claims_b64, signature_b64] = split_compact(jws)?;
    let header = decode_json_object(header_b64, "header")?;
    inspection.header = Some(Value::Object(header.clone()));
    let claims = decode_json_object(claims_b64, "claims")?;
    inspection.claims = Some(Value::Object(claims.clone()));
    check_header(&header)?;
    check_signature(header_b64, claims_b64, signature_b64, expected.key)?;
    check_claims(&claims, expected)
}

fn split_compact(jws: &str) -> Result<[&str; 3], String> {
    let parts: Vec<&str> = jws.split('.').collect();
    <[&str; 3]>::try_from(parts).map_err(|_| "client_assertion is not a compact JWS (three dot-separated parts)".into())
}

fn decode_json_object(part: &str, name: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| format!("assertion {name} is not base64url without padding"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(format!("assertion {name} is not a JSON object")),
    }
}

fn check_header(header: &Map<String, Value>) -> Result<(), String> {
    only_keys(header, &["alg", "nonce"], "header")?;
    if header.get("alg") != Some(&Value::from("EdDSA")) {
        return Err("assertion header alg is not EdDSA".into());
    }
    match header.get("nonce").and_then(Value::as_str) {
        Some(nonce) if is_lowercase_hex(nonce, 32) => Ok(()),
        _ => Err("assertion header nonce is not 32 lowercase hex characters".into()),
    }
}

fn only_keys(object: &Map<String, Value>, allowed: &[&str], name: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!("assertion {name} has unexpected field {key:?}")),
        None => Ok(()),
    }
}

fn is_lowercase_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_signature(header_b64: &str, claims_b64: &str, signature_b64: &str, key: &VerifyingKey) -> Result<(), String> {
    let bytes = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| "assertion signature is not base64url without padding".to_string())?;
    let signature = Signature::from_slice(&bytes).map_err(|_| "assertion signature is not 64 bytes".to_string())?;
    let signing_input = format!("{header_b64}.{claims_b64}");
    key.verify_strict(signing_input.as_bytes(), &signature).map_err(|_| "assertion signature does not verify with the client's key".into())
}

fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), String> {
    only_keys(claims, &["iss", "sub", "aud", "exp", "nbf", "iat"], "claims")?;
    expect_string(claims, "iss", expected.client_id)?;
    expect_string(claims, "sub", expected.client_id)?;
    expect_string(claims, "aud", expected.audience)?;
    let exp = numeric_date(claims, "exp")?;
    if exp <= expected.now {
        return Err("assertion expired (exp is in the past)".into());
    }
    expect_near(exp, expected.now + VALIDITY_SECONDS, "exp", "now + 120 s")?;
    expect_near(numeric_date(claims, "nbf")?, expected.now - VALIDITY_SECONDS, "nbf", "now - 120 s")?;
    expect_near(numeric_date(claims, "iat")?, expected.now, "iat", "now")
}

/// `aud` too must be a plain string: go-jose writes a one-element audience that way.
fn expect_string(claims: &Map<String, Value>, name: &str, wanted: &str) -> Result<(), String> {
    match claims.get(name) {
        Some(Value::String(value)) if value == wanted => Ok(()),
        Some(Value::String(value)) => Err(format!("claim {name} is {value:?}, not {wanted:?}")),
        _ => Err(format!("claim {name} is not a JSON string")),
    }
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<i64, String> {
    claims.get(name).and_then(Value::as_i64).ok_or_else(|| format!("claim {name} is not an integer NumericDate"))
}

fn expect_near(value: i64, wanted: i64, name: &str, meaning: &str) -> Result<(), String> {
    if (value - wanted).abs() <= SKEW_SECONDS { Ok(()) } else { Err(format!("claim {name} is {value}, not {meaning} ({wanted})")) }
}
