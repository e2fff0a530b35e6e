//! The connector component as an artifact: where it comes from (`--component` as a file or an
//! `oci://` reference, else the one shipped beside the program), pushing it to a registry with
//! its annotations, and describing one without connecting anywhere (`component inspect`).

use crate::inspect::{Format, aligned_table};
use crate::product::Product;
use crate::registry::{self, RegistryLogin, RegistryOptions};
use crate::settings;
use anyhow::{Context, Result};
use baton_sandbox::Sandbox;
use baton_sandbox::runtime::{Limits, Runtime};
use baton_sandbox::wit::{FieldKind, Metadata};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `component push REFERENCE`: what to push and where.
#[derive(Debug)]
pub struct ComponentPush {
    pub reference: String,
    /// The component file; the built-in one when not given.
    pub component: Option<PathBuf>,
    pub login: RegistryLogin,
    pub revision: Option<String>,
    pub source: Option<String>,
    /// A cosign private key to sign the pushed manifest with (`--sign-key`).
    pub sign_key: Option<PathBuf>,
}

/// `component sign oci://REGISTRY/REPOSITORY@sha256:DIGEST --key cosign.key`.
#[derive(Debug)]
pub struct ComponentSign {
    pub reference: String,
    pub key: PathBuf,
    pub login: RegistryLogin,
}

/// The password of a cosign private key: `COSIGN_PASSWORD`, as cosign reads it.
fn cosign_password() -> Result<String> {
    let password = std::env::var("COSIGN_PASSWORD").map_err(|_| anyhow::anyhow!("set COSIGN_PASSWORD to the signing key's password (as for cosign)"))?;
    crate::secrets::note(&password);
    Ok(password)
}

/// `component sign`: a cosign signature of the manifest the reference names by digest, stored
/// where cosign looks for it.
pub async fn sign(sign: &ComponentSign) -> Result<String> {
    let Some((repository, digest)) = sign.reference.split_once('@') else {
        anyhow::bail!("{}: sign a manifest by its digest (oci://REGISTRY/REPOSITORY@sha256:DIGEST, as component push prints it)", sign.reference);
    };
    registry::sign(repository, digest, &sign.key, &cosign_password()?, &sign.login).await?;
    Ok(format!("signed {digest} in {repository} with {}", sign.key.display()))
}

/// `component inspect [REFERENCE]`: which component to describe.
#[derive(Debug)]
pub struct ComponentInspect {
    /// A .wasm file or an `oci://` reference; the built-in component when not given.
    pub reference: Option<String>,
    pub registry: RegistryOptions,
    pub format: Format,
}

/// The interface a component must export to fit this host (its version included).
const WORLD_PREFIX: &str = "baton:connector/";

/// A component found and checked against this host, before it runs.
pub struct Found {
    pub runtime: Runtime,
    pub bytes: Vec<u8>,
    /// The reference pinned to a digest, when it came from a registry.
    pub pinned: Option<String>,
    /// The manifest's digest and annotations, when it came from a registry.
    pub manifest: Option<(String, BTreeMap<String, String>)>,
    /// What compiling it for this machine took, when this start had to (see [`prepare`]).
    pub prepared: Option<Prepared>,
}

/// A compile this start made: how long it took, and whether later starts reuse it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub took: std::time::Duration,
    pub cached: bool,
    /// Kept compiled files found damaged or changed, which this start compiled again.
    pub damaged: Vec<PathBuf>,
}

impl Prepared {
    /// The log line for it, once logging is set up.
    pub fn log(&self) {
        for file in &self.damaged {
            tracing::warn!(file = %file.display(), "the compiled component in the cache was damaged or was changed; compiling it again");
        }
        let took = format!("{:.1} s", self.took.as_secs_f64());
        if self.cached {
            tracing::info!(took = %took, "prepared the connector for this machine; later starts reuse it from the cache");
        } else {
            tracing::warn!(took = %took, "prepared the connector for this machine; with no cache folder (set XDG_CACHE_HOME or HOME) every start does this again");
        }
    }
}

/// `bytes` compiled for this machine (from the cache when an earlier start did it). A compile
/// takes seconds: on a terminal it is said at once, before the wait; the caller logs the
/// returned [`Prepared`] once logging is set up. `name` is the component's path when it came
/// from a file.
pub fn prepare(product: &Product, bytes: &[u8], name: &str, shipped: bool) -> Result<(Runtime, Option<Prepared>)> {
    let sandbox = Sandbox::new(product.name, None)?;
    if sandbox.is_prepared(bytes) {
        let started = std::time::Instant::now();
        let runtime = sandbox.load(bytes, name)?;
        let damaged = sandbox.take_damaged();
        let prepared = (!damaged.is_empty()).then(|| Prepared { took: started.elapsed(), cached: sandbox.has_compile_cache(), damaged });
        return Ok((runtime, prepared));
    }
    // Native code is taken only from the program's own cache or beside the component shipped
    // with it; never beside a component a user or a registry supplied.
    if shipped {
        let precompiled = precompiled_path(Path::new(name), bytes);
        if precompiled.is_file() {
            return Ok((sandbox.load_precompiled(bytes, &precompiled, name)?, None));
        }
    }
    if std::io::stderr().is_terminal() {
        eprintln!("preparing the connector for this machine (once: later starts reuse it) ...");
    }
    let started = std::time::Instant::now();
    let runtime = sandbox.load(bytes, name)?;
    Ok((runtime, Some(Prepared { took: started.elapsed(), cached: sandbox.has_compile_cache(), damaged: sandbox.take_damaged() })))
}

/// The component `given` names (a file, an `oci://` reference pulled through the cache), else
/// the built-in one.
pub async fn find(product: &Product, given: Option<&str>, registry: &RegistryOptions) -> Result<Found> {
    match given {
        Some(reference) if registry::is_reference(reference) => {
            let pulled = registry::pull(reference, registry, product.name).await?;
            let (runtime, prepared) = prepare(product, &pulled.bytes, &pulled.pinned, false)?;
            Ok(Found { runtime, bytes: pulled.bytes, pinned: Some(pulled.pinned), manifest: Some((pulled.digest, pulled.annotations)), prepared })
        }
        given => {
            let (path, shipped) = match given {
                Some(path) => (PathBuf::from(path), is_builtin(product, Path::new(path))),
                None => (product.builtin_component()?, true),
            };
            let bytes = read(&path)?;
            let (runtime, prepared) = prepare(product, &bytes, &path.display().to_string(), shipped)?;
            Ok(Found { runtime, bytes, pinned: None, manifest: None, prepared })
        }
    }
}

/// Whether `path` names the component shipped beside this program (an image names it in
/// `BATON_COMPONENT` too).
fn is_builtin(product: &Product, path: &Path) -> bool {
    let builtin = product.builtin_component().ok().and_then(|b| b.canonicalize().ok());
    builtin.is_some() && builtin == path.canonicalize().ok()
}

/// The bytes of the component file at `path`.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the component {}", path.display()))
}

/// Where the precompiled form of the component file `component` (holding `bytes`) is kept:
/// beside it, named with the digest of the bytes it was compiled from.
pub fn precompiled_path(component: &Path, bytes: &[u8]) -> PathBuf {
    let name = component.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let digest = baton_sandbox::engine::digest(bytes);
    component.with_file_name(format!("{name}.{}.cwasm", digest.trim_start_matches("sha256:")))
}

/// `component precompile`: the component compiled for this machine, written beside it (see
/// [`precompiled_path`]); the path written.
pub fn precompile(product: &Product, component: Option<&Path>) -> Result<PathBuf> {
    let path = match component {
        Some(path) => path.to_path_buf(),
        None => product.builtin_component()?,
    };
    let bytes = read(&path)?;
    let sandbox = Sandbox::new(product.name, None)?;
    let out = precompiled_path(&path, &bytes);
    let compiled = sandbox.precompile(&bytes)?;
    let dir = out.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut staged, &compiled)?;
    // Linked from the staged file before it takes its name: a component that does not fit
    // this host is refused, and it is compiled once, not twice.
    sandbox.load_precompiled(&bytes, staged.path(), &path.display().to_string())?;
    staged.persist(&out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}

/// The component of this run: `given` (`--component` / `BATON_COMPONENT`, read before the full
/// parse, since the component declares the other flags), pulled with `registry`.
pub async fn of_this_run(product: &Product, given: Option<&str>, registry: &RegistryOptions) -> Result<Found> {
    find(product, given.filter(|v| !v.is_empty()), registry).await
}

/// `component push`: the component with its annotations, to the registry; the digest.
pub async fn push(product: &Product, push: &ComponentPush) -> Result<String> {
    let path = push.component.as_ref().map(|p| p.display().to_string());
    let found = find(product, path.as_deref(), &RegistryOptions::default()).await?;
    let metadata = describe_itself(&found.runtime).await?;
    let (imports, exports) = found.runtime.interfaces();
    let mut annotations = BTreeMap::from([
        ("org.opencontainers.image.version".to_string(), product.version.to_string()),
        ("org.opencontainers.image.created".to_string(), humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
        ("org.opencontainers.image.title".to_string(), metadata.display_name.clone()),
        ("org.opencontainers.image.description".to_string(), metadata.description.clone()),
        ("org.opencontainers.image.licenses".to_string(), env!("CARGO_PKG_LICENSE").to_string()),
        ("dev.baton.connector.world".to_string(), world(&exports)),
    ]);
    for (key, value) in [("org.opencontainers.image.revision", &push.revision), ("org.opencontainers.image.source", &push.source)] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            annotations.insert(key.to_string(), value.clone());
        }
    }
    let file_name =
        push.component.as_deref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| product.component_file.to_string());
    let artifact = registry::Artifact { component: &found.bytes, file_name, imports, exports, annotations };
    let digest = registry::push(&push.reference, &artifact, &push.login).await?;
    if let Some(key) = &push.sign_key {
        registry::sign(&push.reference, &digest, key, &cosign_password()?, &push.login).await?;
    }
    Ok(digest)
}

/// `component inspect`: what the component is and what it asks for, as text or JSON.
pub async fn inspect(product: &Product, inspect: &ComponentInspect) -> Result<String> {
    // Pulled without requiring a signature: what its signatures say is one of the facts shown.
    let unchecked = RegistryOptions { verify_key: None, ..inspect.registry.clone() };
    let found = find(product, inspect.reference.as_deref(), &unchecked).await?;
    let metadata = describe_itself(&found.runtime).await?;
    let signature = match (&found.pinned, &found.manifest) {
        // Inspect works offline (a digest from the cache): an unreadable signature is a fact too.
        (Some(pinned), Some((digest, _))) => {
            Some(registry::signature_state(pinned, digest, &inspect.registry).await.unwrap_or_else(|error| format!("cannot be checked ({error:#})")))
        }
        _ => None,
    };
    let (imports, exports) = found.runtime.interfaces();
    let withheld = settings::withheld_fields(&metadata);
    let component = found.pinned.clone().unwrap_or_else(|| inspect.reference.clone().unwrap_or_else(|| "the built-in component".into()));
    let (manifest_digest, annotations) = found.manifest.clone().unwrap_or_default();
    let (reads, changes) = settings::declared(&metadata)?.listed();
    let settings: Vec<serde_json::Value> = metadata
        .config
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "kind": kind_name(field.kind),
                "required": field.required,
                "secret": withheld.contains(&field.name.as_str()),
                "default": field.default_value,
                "choices": field.choices,
                "description": field.description,
            })
        })
        .collect();
    let document = json!({
        "component": component,
        "manifestDigest": (!manifest_digest.is_empty()).then_some(&manifest_digest),
        "componentDigest": found.runtime.digest(),
        "signature": signature,
        "size": found.bytes.len(),
        "world": world(&exports),
        "displayName": metadata.display_name,
        "description": metadata.description,
        "annotations": annotations,
        "imports": imports,
        "exports": exports,
        "settings": settings,
        "mayRead": reads,
        "mayChangeWithProvisioning": changes,
    });
    Ok(match inspect.format {
        Format::Json => serde_json::to_string_pretty(&document)? + "\n",
        Format::Console => console_text(&document, &metadata, &withheld),
    })
}

fn console_text(document: &serde_json::Value, metadata: &Metadata, withheld: &[&str]) -> String {
    let text = |key: &str| document[key].as_str().map(str::to_string).unwrap_or_else(|| document[key].to_string());
    let mut facts = vec![vec!["component".to_string(), text("component")]];
    if document["manifestDigest"].is_string() {
        facts.push(vec!["manifest digest".into(), text("manifestDigest")]);
    }
    facts.push(vec!["component digest".into(), text("componentDigest")]);
    if document["signature"].is_string() {
        facts.push(vec!["signature".into(), text("signature")]);
    }
    facts.push(vec!["size".into(), format!("{} bytes", text("size"))]);
    facts.push(vec!["world".into(), text("world")]);
    facts.push(vec!["name".into(), metadata.display_name.clone()]);
    if let Some(annotations) = document["annotations"].as_object() {
        facts.extend(annotations.iter().map(|(key, value)| vec![key.clone(), value.as_str().unwrap_or_default().to_string()]));
    }
    let mut out = aligned_table(&["", ""], &facts).lines().skip(1).map(|l| l.to_string() + "\n").collect::<String>();
    out.push_str("\nSettings:\n");
    let rows: Vec<Vec<String>> = metadata
        .config
        .iter()
        .map(|field| {
            vec![
                format!("--{}", field.name),
                kind_name(field.kind).to_string(),
                if field.required { "required" } else { "" }.to_string(),
                if withheld.contains(&field.name.as_str()) { "secret" } else { "" }.to_string(),
                field.default_value.clone().unwrap_or_default(),
                field.description.clone(),
            ]
        })
        .collect();
    out.push_str(&aligned_table(&["FLAG", "KIND", "REQUIRED", "SECRET", "DEFAULT", "DESCRIPTION"], &rows));
    let listed = |key: &str| document[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let or_none = |text: String| if text.is_empty() { "nothing".to_string() } else { text };
    out.push_str(&format!(
        "\nRequests to the configured origin:\n  may read: GET, HEAD{}\n",
        if listed("mayRead").is_empty() { String::new() } else { format!(", {}", listed("mayRead")) }
    ));
    out.push_str(&format!("  may change, with provisioning: {}\n", or_none(listed("mayChangeWithProvisioning"))));
    out
}

/// The `baton:connector` interface the component exports, with its version (empty if none:
/// loading refuses such a component before this is asked).
fn world(exports: &[String]) -> String {
    exports.iter().find(|e| e.starts_with(WORLD_PREFIX)).cloned().unwrap_or_default()
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Url => "url",
        FieldKind::Boolean => "boolean",
        FieldKind::Integer => "integer",
    }
}

/// The component's own description of itself, from an instance with no network.
async fn describe_itself(runtime: &Runtime) -> Result<Metadata> {
    let mut offline = runtime.instantiate(crate::connector::offline_context(), &Limits::default()).await?;
    Ok(offline.metadata().await?)
}
