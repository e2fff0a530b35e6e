//! Who vouched for a component: cosign's key-based signatures, as cosign writes and reads them
//! (docs/registry.md). A signature signs a small JSON document, the "simple signing" payload,
//! naming the repository and the manifest digest it vouches for; it is stored in the same
//! repository under the tag `sha256-<hex>.sig`, one layer per signature, the signature itself
//! (base64) in the layer's `dev.cosignproject.cosign/signature` annotation. Keys are cosign's
//! files (`cosign generate-key-pair`): the private one encrypted with `COSIGN_PASSWORD`, the
//! public one PEM. The cryptography and the key formats are the `sigstore` crate's.

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use std::path::Path;

/// The media type of a signature layer.
pub const SIGNATURE_LAYER_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// The tag a manifest's signatures are stored under.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// The simple signing payload (the fields cosign writes and checks).
#[derive(Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload vouching for `digest` in `repository` (`REGISTRY/REPOSITORY`).
pub fn payload(repository: &str, digest: &str) -> Result<Vec<u8>> {
    let payload = Payload {
        critical: Critical {
            identity: Identity { docker_reference: repository.to_string() },
            image: Image { docker_manifest_digest: digest.to_string() },
            kind: PAYLOAD_TYPE.to_string(),
        },
        optional: None,
    };
    Ok(serde_json::to_vec(&payload)?)
}

/// Signs `payload` with the cosign private key at `key`, decrypted with `password`; the
/// signature in base64, as the annotation holds it.
pub fn sign(payload: &[u8], key: &Path, password: &str) -> Result<String> {
    let pem = std::fs::read(key).with_context(|| format!("cannot read the signing key {}", key.display()))?;
    let pair = SigStoreKeyPair::from_encrypted_pem(&pem, password.as_bytes())
        .map_err(|e| anyhow!("{} is not a cosign private key this password opens (set COSIGN_PASSWORD): {e}", key.display()))?;
    let signer = pair.to_sigstore_signer(&SigningScheme::default()).map_err(|e| anyhow!("cannot sign with {}: {e}", key.display()))?;
    let signature = signer.sign(payload).map_err(|e| anyhow!("cannot sign with {}: {e}", key.display()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signature))
}

/// A cosign public key, and how it is named to people.
pub struct VerifyKey {
    key: CosignVerificationKey,
    /// The file and a short fingerprint of it.
    pub name: String,
}

impl VerifyKey {
    /// The cosign public key (PEM) at `path`.
    pub fn read(path: &Path) -> Result<VerifyKey> {
        let pem = std::fs::read(path).with_context(|| format!("cannot read the verify key {}", path.display()))?;
        let key = CosignVerificationKey::from_pem(&pem, &SigningScheme::default())
            .map_err(|e| anyhow!("{} is not a public key cosign signs for (PEM, ECDSA P-256): {e}", path.display()))?;
        let fingerprint = baton_sandbox::engine::digest(String::from_utf8_lossy(&pem).trim().as_bytes());
        Ok(VerifyKey { key, name: format!("{} ({})", path.display(), &fingerprint[..19]) })
    }
}

/// One signature found beside a manifest: the payload it signs and the signature (base64).
pub struct Found {
    pub payload: Vec<u8>,
    pub signature: String,
}

/// What the signatures beside a manifest say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One verifies with the key and names this digest.
    Verified { key: String },
    /// There is none.
    NotSigned,
    /// None does: made with another key, or for another digest.
    DoesNotVerify(String),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Verified { key } => write!(f, "verified by {key}"),
            Verdict::NotSigned => f.write_str("not signed"),
            Verdict::DoesNotVerify(why) => write!(f, "does not verify ({why})"),
        }
    }
}

/// Judges `found` for the manifest `digest` with `key`.
pub fn judge(found: &[Found], digest: &str, key: &VerifyKey) -> Verdict {
    if found.is_empty() {
        return Verdict::NotSigned;
    }
    let mut for_other_digest = Vec::new();
    for one in found {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(one.signature.trim()) else { continue };
        if key.key.verify_signature(Signature::Raw(&signature), &one.payload).is_err() {
            continue;
        }
        match serde_json::from_slice::<Payload>(&one.payload) {
            Ok(payload) if payload.critical.image.docker_manifest_digest == digest && payload.critical.kind == PAYLOAD_TYPE => {
                return Verdict::Verified { key: key.name.clone() };
            }
            Ok(payload) => for_other_digest.push(payload.critical.image.docker_manifest_digest),
            Err(_) => for_other_digest.push("a payload that is not a cosign signature".into()),
        }
    }
    if let Some(other) = for_other_digest.first() {
        return Verdict::DoesNotVerify(format!("signed by this key for another digest, {other}, not {digest}"));
    }
    Verdict::DoesNotVerify(format!("{} signature(s), none made with {}", found.len(), key.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key pair in cosign's files, made by sigstore as cosign makes them.
    fn key_pair(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
        let pair = ECDSAKeys::new(EllipticCurve::P256).unwrap().to_sigstore_signer().unwrap().to_sigstore_keypair().unwrap();
        let (private, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
        std::fs::write(&private, pair.private_key_to_encrypted_pem(b"pw").unwrap()).unwrap();
        std::fs::write(&public, pair.public_key_to_pem().unwrap()).unwrap();
        (private, public)
    }

    #[test]
    fn a_signature_verifies_for_its_digest_and_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = key_pair(dir.path(), "ours");
        let (_, other_public) = key_pair(dir.path(), "theirs");
        let digest = "sha256:aaaa";
        let payload = payload("127.0.0.1:5000/baton/confluence", digest).unwrap();
        let found = vec![Found { signature: sign(&payload, &private, "pw").unwrap(), payload }];
        let key = VerifyKey::read(&public).unwrap();
        assert!(matches!(judge(&found, digest, &key), Verdict::Verified { .. }));
        assert_eq!(judge(&[], digest, &key), Verdict::NotSigned);
        let other = judge(&found, "sha256:bbbb", &key).to_string();
        assert!(other.contains("another digest, sha256:aaaa"), "{other}");
        let theirs = judge(&found, digest, &VerifyKey::read(&other_public).unwrap()).to_string();
        assert!(theirs.contains("none made with") && theirs.contains("theirs.pub"), "{theirs}");
        assert!(sign(b"x", &private, "wrong").unwrap_err().to_string().contains("COSIGN_PASSWORD"));
    }

    #[test]
    fn signatures_are_stored_under_the_digests_tag() {
        assert_eq!(signature_tag("sha256:0a1b"), "sha256-0a1b.sig");
    }
}
