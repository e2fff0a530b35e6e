//! Components in an OCI registry: pushed as a WebAssembly artifact (a `application/vnd.wasm.config.v0+json`
//! config naming the component's imports and exports, one `application/wasm` layer, annotations),
//! pulled by tag or digest into a cache kept by digest. Every blob is checked against its digest
//! when it arrives and again whenever it is read from the cache; a reference by digest starts
//! from the cache without the network. Registry credentials come from the flags or the Docker
//! config file; plain HTTP is used only for a registry on this machine.

use crate::signature::{self, Found, Verdict, VerifyKey};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use baton_sandbox::engine::digest as digest_of;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Manifests asked for besides ours, so that what a reference holds (a multi-platform index,
/// a Docker image) is named in the refusal instead of the registry's "manifest invalid".
const OTHER_MANIFEST_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
/// The largest component or manifest accepted from a registry.
const MAX_BLOB_BYTES: usize = 64 << 20;

/// Who we are to the registry: both given, or neither (then the Docker config file decides).
/// Its `Debug` never shows the password.
#[derive(Clone, Default)]
pub struct RegistryLogin {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin").field("username", &self.username).field("password", &self.password.as_ref().map(|_| "<redacted>")).finish()
    }
}

/// How components are pulled: the cache folder (`--cache-dir`, else the default one) and the
/// login (`--registry-username` / `--registry-password`, else the Docker config file).
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    pub cache_dir: Option<PathBuf>,
    pub login: RegistryLogin,
    /// A cosign public key every pulled component must carry a signature of (`--verify-key`).
    pub verify_key: Option<PathBuf>,
}

/// Whether a `--component` value names a registry artifact.
pub fn is_reference(text: &str) -> bool {
    text.starts_with("oci://")
}

/// Whether `text` is a well-formed `oci://` reference, with what to fix if not.
pub fn check_reference(text: &str) -> Result<()> {
    parse(text).map(|_| ())
}

/// A component pulled (or read from the cache), checked against its digests.
pub struct Pulled {
    pub bytes: Vec<u8>,
    /// The manifest's digest: what the reference resolved to.
    pub digest: String,
    /// `oci://registry/repository@digest`, for messages and logs.
    pub pinned: String,
    /// The manifest's annotations (version, created, source, world...).
    pub annotations: BTreeMap<String, String>,
}

/// What a push sends besides the component.
pub struct Artifact<'a> {
    pub component: &'a [u8],
    /// The component's file name (`<name>.wasm`), the layer's `org.opencontainers.image.title`
    /// as wkg and the WebAssembly OCI convention name it.
    pub file_name: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// The folder pulled blobs are kept in: `dir` if given, else beside the compile cache
/// (`$XDG_CACHE_HOME/<program>/oci`, else `~/.cache/<program>/oci`).
fn cache_dir(dir: Option<&Path>, program: &str) -> Result<PathBuf> {
    if let Some(dir) = dir {
        return Ok(dir.to_path_buf());
    }
    let base = baton_sandbox::engine::program_cache_dir(program)
        .ok_or_else(|| anyhow!("no cache folder for pulled components: set --cache-dir, XDG_CACHE_HOME or HOME"))?;
    Ok(base.join("oci"))
}

/// Pulls the component `text` names (`oci://REGISTRY/REPOSITORY:TAG` or `...@sha256:DIGEST`)
/// for `program`, through its cache.
pub async fn pull(text: &str, options: &RegistryOptions, program: &str) -> Result<Pulled> {
    let reference = parse(text)?;
    let cache = cache_dir(options.cache_dir.as_deref(), program)?;
    let login = &options.login;
    let store = BlobStore { dir: cache.join("blobs").join("sha256") };
    let key = options.verify_key.as_deref().map(VerifyKey::read).transpose()?;
    let client = client_for(&reference);
    if let Some(digest) = reference.digest()
        && let Some(pulled) = from_cache(&store, &reference, digest)?
    {
        // The signature is checked again on every pull: a cached verdict could outlive a key.
        if let Some(key) = &key {
            require_signature(&client, &reference, &auth_for(&reference, login)?, &pulled.digest, key, text).await?;
        }
        tracing::info!(component = %pulled.pinned, "component from the cache");
        return Ok(pulled);
    }
    let auth = auth_for(&reference, login)?;
    let (manifest_bytes, _) = client
        .pull_manifest_raw(&reference, &auth, &[&[MANIFEST_MEDIA_TYPE][..], &OTHER_MANIFEST_MEDIA_TYPES].concat())
        .await
        .map_err(|e| registry_error(text, "cannot read the manifest of", e))?;
    let digest = digest_of(&manifest_bytes);
    if let Some(pinned) = reference.digest()
        && pinned != digest
    {
        bail!("{text}: the registry sent a manifest whose digest is {digest}, not the one asked for: refusing it");
    }
    let (manifest, layer) = wasm_manifest(&manifest_bytes).with_context(|| format!("{text} is not a connector component"))?;
    if let Some(key) = &key {
        require_signature(&client, &reference, &auth, &digest, key, text).await?;
    }
    let bytes = match store.read_verified(&layer.digest)? {
        Some(bytes) => bytes,
        None => download(&client, &reference, &layer).await.with_context(|| format!("{text}: the component layer"))?,
    };
    store.write(&digest, &manifest_bytes)?;
    store.write(&layer.digest, &bytes)?;
    let pinned = pinned_text(&reference, &digest);
    tracing::info!(component = %text, digest = %digest, "component pulled");
    Ok(Pulled { bytes, digest, pinned, annotations: manifest.annotations.unwrap_or_default() })
}

/// Pushes `artifact` to `text` (a tag); returns the manifest digest.
pub async fn push(text: &str, artifact: &Artifact<'_>, login: &RegistryLogin) -> Result<String> {
    let reference = parse(text)?;
    if reference.digest().is_some() {
        bail!("{text}: push to a tag (oci://REGISTRY/REPOSITORY:TAG), not to a digest");
    }
    let client = client_for(&reference);
    let auth = auth_for(&reference, login)?;
    client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
    let layer_digest = digest_of(artifact.component);
    let config = serde_json::to_vec(&serde_json::json!({
        "created": artifact.annotations.get("org.opencontainers.image.created"),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": { "imports": artifact.imports, "exports": artifact.exports },
    }))?;
    let config_digest = digest_of(&config);
    for (blob, digest) in [(&config[..], &config_digest), (artifact.component, &layer_digest)] {
        client.push_blob(&reference, blob, digest).await.map_err(|e| registry_error(text, "cannot upload to", e))?;
    }
    let descriptor = |media_type: &str, digest: &str, size: usize| OciDescriptor {
        media_type: media_type.into(),
        digest: digest.into(),
        size: size as i64,
        ..OciDescriptor::default()
    };
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        config: descriptor(WASM_CONFIG_MEDIA_TYPE, &config_digest, config.len()),
        layers: vec![OciDescriptor {
            annotations: Some(BTreeMap::from([("org.opencontainers.image.title".to_string(), artifact.file_name.clone())])),
            ..descriptor(WASM_LAYER_MEDIA_TYPE, &layer_digest, artifact.component.len())
        }],
        subject: None,
        artifact_type: None,
        annotations: Some(artifact.annotations.clone()),
    };
    let body = serde_json::to_vec(&manifest)?;
    let digest = digest_of(&body);
    client
        .push_manifest_raw(&reference, body, http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE))
        .await
        .map_err(|e| registry_error(text, "cannot store the manifest in", e))?;
    Ok(digest)
}

/// Refuses the manifest `digest` unless a signature beside it verifies with `key`, naming
/// whether none was there, or each was made with another key or for another digest.
async fn require_signature(client: &Client, reference: &Reference, auth: &RegistryAuth, digest: &str, key: &VerifyKey, text: &str) -> Result<()> {
    let found = signatures(client, reference, auth, digest).await.with_context(|| format!("cannot read the signatures of {text}"))?;
    match signature::judge(&found, digest, key) {
        Verdict::Verified { key } => {
            tracing::info!(component = %text, digest, key = %key, "the component's signature verifies");
            Ok(())
        }
        Verdict::NotSigned => {
            bail!("refusing {text} ({digest}): it is not signed (no {} beside it), and --verify-key asks for a signature", signature::signature_tag(digest))
        }
        Verdict::DoesNotVerify(why) => bail!("refusing {text} ({digest}): its signature does not verify: {why}"),
    }
}

/// The cosign signatures stored beside the manifest `digest` of `reference`'s repository (none
/// when its signature tag does not exist), each payload checked against its layer digest.
async fn signatures(client: &Client, reference: &Reference, auth: &RegistryAuth, digest: &str) -> Result<Vec<Found>> {
    let (tag, manifest) = signature_manifest(client, reference, auth, digest).await?;
    let Some(manifest) = manifest else { return Ok(Vec::new()) };
    let manifest: OciImageManifest = serde_json::from_slice(&manifest).map_err(|e| anyhow!("its signature manifest is not an OCI image manifest: {e}"))?;
    let mut found = Vec::new();
    for layer in manifest.layers.iter().filter(|layer| layer.media_type == signature::SIGNATURE_LAYER_MEDIA_TYPE) {
        let Some(signature) = layer.annotations.as_ref().and_then(|a| a.get(signature::SIGNATURE_ANNOTATION)) else { continue };
        if layer.size < 0 || layer.size > MAX_SIGNATURE_PAYLOAD {
            bail!("a signature payload claims {} bytes; at most {MAX_SIGNATURE_PAYLOAD} are accepted", layer.size);
        }
        let payload = download(client, &tag, layer).await.context("a signature payload")?;
        found.push(Found { payload, signature: signature.clone() });
    }
    Ok(found)
}

/// The tag the signatures of the manifest `digest` of `reference`'s repository are stored under,
/// and the manifest there (its bytes), `None` when there is none.
async fn signature_manifest(client: &Client, reference: &Reference, auth: &RegistryAuth, digest: &str) -> Result<(Reference, Option<Vec<u8>>)> {
    let tag = Reference::with_tag(reference.registry().to_string(), reference.repository().to_string(), signature::signature_tag(digest));
    match client.pull_manifest_raw(&tag, auth, &[MANIFEST_MEDIA_TYPE]).await {
        Ok((bytes, _)) => Ok((tag, Some(bytes))),
        Err(error) if is_not_found(&error) => Ok((tag, None)),
        Err(error) => Err(registry_error(&format!("oci://{tag}"), "cannot read", error)),
    }
}

/// The largest signature payload read (cosign's are a few hundred bytes).
const MAX_SIGNATURE_PAYLOAD: i64 = 64 << 10;

fn is_not_found(error: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match error {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| matches!(e.code, oci_client::errors::OciErrorCode::ManifestUnknown | oci_client::errors::OciErrorCode::NameUnknown))
        }
        _ => false,
    }
}

/// Signs the manifest `digest` of `text`'s repository with the cosign private key `key`
/// (opened with `password`) and stores the signature where cosign looks, beside any there.
pub async fn sign(text: &str, digest: &str, key: &Path, password: &str, login: &RegistryLogin) -> Result<()> {
    let reference = parse(text)?;
    let client = client_for(&reference);
    let auth = auth_for(&reference, login)?;
    client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
    let repository = format!("{}/{}", reference.registry(), reference.repository());
    let payload = signature::payload(&repository, digest)?;
    let signed = signature::sign(&payload, key, password)?;
    let (tag, existing) = signature_manifest(&client, &reference, &auth, digest).await?;
    // Signatures already there are kept; what is not a manifest there is written over.
    let mut layers = existing.and_then(|bytes| serde_json::from_slice::<OciImageManifest>(&bytes).ok()).map(|m| m.layers).unwrap_or_default();
    let payload_digest = digest_of(&payload);
    client.push_blob(&tag, &payload, &payload_digest).await.map_err(|e| registry_error(text, "cannot upload to", e))?;
    layers.push(OciDescriptor {
        media_type: signature::SIGNATURE_LAYER_MEDIA_TYPE.into(),
        digest: payload_digest.clone(),
        size: payload.len() as i64,
        annotations: Some(BTreeMap::from([(signature::SIGNATURE_ANNOTATION.to_string(), signed)])),
        ..OciDescriptor::default()
    });
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))?;
    let config_digest = digest_of(&config);
    client.push_blob(&tag, &config, &config_digest).await.map_err(|e| registry_error(text, "cannot upload to", e))?;
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        config: OciDescriptor {
            media_type: "application/vnd.oci.image.config.v1+json".into(),
            digest: config_digest,
            size: config.len() as i64,
            ..OciDescriptor::default()
        },
        layers,
        subject: None,
        artifact_type: None,
        annotations: None,
    };
    client
        .push_manifest_raw(&tag, serde_json::to_vec(&manifest)?, http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE))
        .await
        .map_err(|e| registry_error(text, "cannot store the signature in", e))?;
    Ok(())
}

/// What the signatures beside the manifest `digest` of `text`'s repository say, judged with
/// `key` when one is given (else "signed, not checked" or "not signed").
pub async fn signature_state(text: &str, digest: &str, options: &RegistryOptions) -> Result<String> {
    let reference = parse(text)?;
    let client = client_for(&reference);
    let auth = auth_for(&reference, &options.login)?;
    let found = signatures(&client, &reference, &auth, digest).await?;
    Ok(match (&options.verify_key, found.len()) {
        (Some(key), _) => signature::judge(&found, digest, &VerifyKey::read(key)?).to_string(),
        (None, 0) => Verdict::NotSigned.to_string(),
        (None, n) => format!("{n} signature(s), not checked: give --verify-key"),
    })
}

/// What a reference names: registry, repository, and its tag or digest.
pub struct Parts {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// The parts of `text` (`oci://REGISTRY/REPOSITORY:TAG` or `...@sha256:DIGEST`).
pub fn parts(text: &str) -> Result<Parts> {
    let reference = parse(text)?;
    let written_tag = text.rsplit('/').next().is_some_and(|last| last.split('@').next().is_some_and(|name| name.contains(':')));
    Ok(Parts {
        registry: reference.registry().to_string(),
        repository: reference.repository().to_string(),
        tag: reference.tag().filter(|_| written_tag).map(str::to_string),
        digest: reference.digest().map(str::to_string),
    })
}

fn parse(text: &str) -> Result<Reference> {
    let rest = text.strip_prefix("oci://").ok_or_else(|| anyhow!("{text:?} is not a registry reference: write oci://REGISTRY/REPOSITORY:TAG"))?;
    rest.parse::<Reference>()
        .map_err(|e| anyhow!("{text:?} is not a registry reference ({e}): write oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:DIGEST"))
}

fn pinned_text(reference: &Reference, digest: &str) -> String {
    format!("oci://{}/{}@{digest}", reference.registry(), reference.repository())
}

/// HTTPS, except to a registry on this machine.
fn client_for(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_string();
    let host = registry.rsplit_once(':').map(|(host, _)| host).unwrap_or(&registry).trim_matches(['[', ']']);
    let protocol = if baton_sandbox::origin::is_loopback(host) { ClientProtocol::HttpsExcept(vec![registry.clone()]) } else { ClientProtocol::Https };
    Client::new(ClientConfig { protocol, ..ClientConfig::default() })
}

/// The flags' user and password, else the Docker config file's entry for the registry, else none.
fn auth_for(reference: &Reference, login: &RegistryLogin) -> Result<RegistryAuth> {
    match (&login.username, &login.password) {
        (Some(user), Some(password)) => {
            crate::secrets::note(password);
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        (None, None) => {}
        _ => bail!("give both --registry-username and --registry-password, or neither (the Docker config file is used then)"),
    }
    Ok(docker_config_auth(reference.registry())?.unwrap_or(RegistryAuth::Anonymous))
}

/// `auths.<registry>` of `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`).
fn docker_config_auth(registry: &str) -> Result<Option<RegistryAuth>> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".docker"),
            None => return Ok(None),
        },
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    #[derive(serde::Deserialize)]
    struct DockerConfig {
        #[serde(default)]
        auths: BTreeMap<String, DockerAuth>,
    }
    #[derive(serde::Deserialize)]
    struct DockerAuth {
        auth: Option<String>,
    }
    let config: DockerConfig = serde_json::from_str(&text).map_err(|e| anyhow!("{} is not a Docker config file: {e}", path.display()))?;
    let entry = config.auths.iter().find(|(key, _)| key.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/') == registry);
    let Some(encoded) = entry.and_then(|(_, auth)| auth.auth.as_deref()) else { return Ok(None) };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| anyhow!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display()))?;
    let (user, password) =
        decoded.split_once(':').ok_or_else(|| anyhow!("{}: the auth entry for {registry} is not base64 of USER:PASSWORD", path.display()))?;
    crate::secrets::note(encoded.trim());
    crate::secrets::note(password);
    Ok(Some(RegistryAuth::Basic(user.to_string(), password.to_string())))
}

/// An OCI manifest whose config is a wasm config, and its one `application/wasm` layer.
fn wasm_manifest(manifest: &[u8]) -> Result<(OciImageManifest, OciDescriptor)> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let kind: Kind = serde_json::from_slice(manifest).map_err(|e| anyhow!("its manifest is not JSON: {e}"))?;
    if let Some(media_type) = kind.media_type.filter(|t| t != MANIFEST_MEDIA_TYPE) {
        bail!("its manifest is {media_type}, not {MANIFEST_MEDIA_TYPE}");
    }
    let manifest: OciImageManifest = serde_json::from_slice(manifest).map_err(|e| anyhow!("its manifest is not an OCI image manifest: {e}"))?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        bail!("its config is {}, not {WASM_CONFIG_MEDIA_TYPE} (a container image, not a WebAssembly component?)", manifest.config.media_type);
    }
    let [layer] = &manifest.layers[..] else { bail!("it has {} layers; a component artifact has one", manifest.layers.len()) };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        bail!("its layer is {}, not {WASM_LAYER_MEDIA_TYPE}", layer.media_type);
    }
    if layer.size < 0 || layer.size as usize > MAX_BLOB_BYTES {
        bail!("its layer claims {} bytes; at most {MAX_BLOB_BYTES} are accepted", layer.size);
    }
    let layer = layer.clone();
    Ok((manifest, layer))
}

/// The layer's bytes, no more than it declares, checked against its digest.
async fn download(client: &Client, reference: &Reference, layer: &OciDescriptor) -> Result<Vec<u8>> {
    let mut stream = client.pull_blob_stream(reference, layer).await.map_err(|e| anyhow!("cannot download it: {e}"))?;
    let mut bytes = Vec::with_capacity(layer.size as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            let text = e.to_string();
            if text.contains("digest") {
                anyhow!("its bytes do not match the digest the manifest says ({text}): refusing it")
            } else {
                anyhow!("the download broke off: {text}")
            }
        })?;
        if bytes.len() + chunk.len() > layer.size as usize {
            bail!("the registry sent more than the {} bytes the manifest declares", layer.size);
        }
        bytes.extend_from_slice(&chunk);
    }
    let digest = digest_of(&bytes);
    if digest != layer.digest {
        bail!("its bytes do not match the digest the manifest says ({digest}, not {}): refusing it", layer.digest);
    }
    Ok(bytes)
}

/// The manifest and layer of `digest` from the cache, both verified; `None` when either is
/// missing (or was damaged, and is removed).
fn from_cache(store: &BlobStore, reference: &Reference, digest: &str) -> Result<Option<Pulled>> {
    let Some(manifest) = store.read_verified(digest)? else { return Ok(None) };
    let (manifest, layer) = wasm_manifest(&manifest)?;
    let Some(bytes) = store.read_verified(&layer.digest)? else { return Ok(None) };
    let annotations = manifest.annotations.unwrap_or_default();
    Ok(Some(Pulled { bytes, digest: digest.to_string(), pinned: pinned_text(reference, digest), annotations }))
}

/// Blobs by digest in one folder (`<dir>/<hex>`), written atomically.
struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    fn path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest.strip_prefix("sha256:").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let hex = hex.ok_or_else(|| anyhow!("{digest:?} is not a sha256 digest"))?;
        Ok(self.dir.join(hex))
    }

    /// The blob, if cached and still matching its digest; a damaged copy is removed.
    fn read_verified(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(digest)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow!("cannot read the cached blob {}: {e}", path.display())),
        };
        if digest_of(&bytes) != digest {
            tracing::warn!(blob = %path.display(), "a cached blob does not match its digest; removed, it is fetched again");
            std::fs::remove_file(&path).with_context(|| format!("cannot remove the damaged cached blob {}", path.display()))?;
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    fn write(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(digest)?;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create the component cache {}", self.dir.display()))?;
        let mut temporary = tempfile::NamedTempFile::new_in(&self.dir).with_context(|| format!("cannot write in {}", self.dir.display()))?;
        std::io::Write::write_all(&mut temporary, bytes)?;
        temporary.persist(&path).map_err(|e| anyhow!("cannot store {}: {e}", path.display()))?;
        Ok(())
    }
}

/// The client's error, with what to do when the registry wants a login it did not get.
fn registry_error(text: &str, what: &str, error: oci_client::errors::OciDistributionError) -> anyhow::Error {
    use oci_client::errors::OciDistributionError as E;
    let unauthorized = match &error {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => true,
        E::ServerError { code, .. } => *code == 401 || *code == 403,
        _ => false,
    };
    if unauthorized {
        return anyhow!(
            "{what} {text}: the registry refused the login ({error}); give --registry-username and --registry-password (BATON_REGISTRY_USERNAME / BATON_REGISTRY_PASSWORD), or an auths entry for the registry in the Docker config file ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)"
        );
    }
    anyhow!("{what} {text}: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_and_a_tag_or_digest() {
        assert!(is_reference("oci://127.0.0.1:5000/baton/confluence:1.0"));
        assert!(!is_reference("/opt/connector.wasm"));
        let reference = parse("oci://127.0.0.1:5000/baton/confluence:1.0").unwrap();
        assert_eq!((reference.registry(), reference.repository(), reference.tag()), ("127.0.0.1:5000", "baton/confluence", Some("1.0")));
        assert!(parse("127.0.0.1:5000/baton/confluence:1.0").unwrap_err().to_string().contains("write oci://"));
        assert!(parse("oci://Bad Name").is_err());
    }

    #[test]
    fn only_a_wasm_artifact_manifest_is_accepted() {
        let manifest = |config: &str, layers: &[(&str, i64)]| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "config": { "mediaType": config, "digest": format!("sha256:{}", "0".repeat(64)), "size": 2 },
                "layers": layers.iter().map(|(t, size)| serde_json::json!({ "mediaType": t, "digest": format!("sha256:{}", "1".repeat(64)), "size": size })).collect::<Vec<_>>(),
            }))
            .unwrap()
        };
        assert!(wasm_manifest(&manifest(WASM_CONFIG_MEDIA_TYPE, &[(WASM_LAYER_MEDIA_TYPE, 10)])).is_ok());
        let image = wasm_manifest(&manifest("application/vnd.oci.image.config.v1+json", &[(WASM_LAYER_MEDIA_TYPE, 10)])).unwrap_err();
        assert!(image.to_string().contains("not a WebAssembly component"), "{image}");
        assert!(wasm_manifest(&manifest(WASM_CONFIG_MEDIA_TYPE, &[])).unwrap_err().to_string().contains("0 layers"));
        assert!(wasm_manifest(&manifest(WASM_CONFIG_MEDIA_TYPE, &[("application/octet-stream", 10)])).is_err());
        assert!(wasm_manifest(&manifest(WASM_CONFIG_MEDIA_TYPE, &[(WASM_LAYER_MEDIA_TYPE, 1 << 40)])).unwrap_err().to_string().contains("at most"));
        assert!(wasm_manifest(b"{}").is_err());
        let mut docker: serde_json::Value = serde_json::from_slice(&manifest(WASM_CONFIG_MEDIA_TYPE, &[(WASM_LAYER_MEDIA_TYPE, 10)])).unwrap();
        docker["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
        let refused = wasm_manifest(&serde_json::to_vec(&docker).unwrap()).unwrap_err();
        assert!(refused.to_string().contains("its manifest is application/vnd.docker"), "{refused}");
    }

    #[test]
    fn a_damaged_cached_blob_is_removed_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore { dir: dir.path().to_path_buf() };
        let digest = digest_of(b"component");
        store.write(&digest, b"component").unwrap();
        assert_eq!(store.read_verified(&digest).unwrap().as_deref(), Some(&b"component"[..]));
        std::fs::write(store.path(&digest).unwrap(), b"tampered").unwrap();
        assert_eq!(store.read_verified(&digest).unwrap(), None);
        assert!(!store.path(&digest).unwrap().exists());
        assert!(store.path("sha256:../../etc").is_err());
    }
}
