//! Components through a real OCI registry (Debian's docker-registry on 127.0.0.1): pushed,
//! read back by skopeo as a second client, pulled by tag and by digest into a sync (one-shot
//! and in the multi-tenant runner) whose file equals the built-in component's, described by
//! `component inspect`, started offline from the cache by digest, refused when the registry's
//! copy is tampered with or the artifact is not a component (a container image, a component of
//! another world), and reached with credentials from the flags or a Docker config file.

use crate::util::{component, content, run_host};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway registry with its storage in a temporary folder; stopped when dropped.
struct Registry {
    child: Child,
    address: String,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

/// The user and password of a registry started with [`Registry::start_with_login`].
const REGISTRY_USER: &str = "publisher";
const REGISTRY_PASSWORD: &str = "canary-registry-password-71c2";

impl Registry {
    fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that answers only [`REGISTRY_USER`] with [`REGISTRY_PASSWORD`] (basic auth).
    fn start_with_login() -> Registry {
        Registry::start_with(Some(format!("{REGISTRY_USER}:{}\n", bcrypt::hash(REGISTRY_PASSWORD, 5).unwrap())))
    }

    fn start_with(htpasswd: Option<String>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let extra_yaml = match htpasswd {
            Some(lines) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, lines).unwrap();
                format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", file.display())
            }
            None => String::new(),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("registry.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_yaml}",
            storage.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (.ci/run installs it with apt-get)");
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the registry did not start on {address}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, address, storage, _dir: dir }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sync_with(component: &str, sim: &Simulator, file: &Path, cache: &Path) -> crate::util::Run {
    run_host(
        &["--file", file.to_str().unwrap(), "--component", component],
        &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN), ("BATON_CACHE_DIR", cache.to_str().unwrap())],
    )
}

/// A three-user site: enough to tell a sync that ran from one that did not.
fn small_site() -> Simulator {
    Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap()
}

/// The `[tenant.config]` and `[tenant.secrets]` of a tenant syncing `sim`.
/// A tenant's settings for `sim`, in the profile the one-shot runs of these tests use
/// (`util::host_command`).
fn tenant_settings(sim: &Simulator) -> String {
    format!("[tenant.config]\nhostname = \"{}\"\ncompat = \"go-2025-01\"\n[tenant.secrets]\naccess-token = {{ env = \"TENANT_TOKEN\" }}\n", sim.base_url())
}

/// `serve --tenants FILE --once` in `dir` (output in `dir/out`), pulling through `cache`.
fn serve_once(dir: &Path, tenants: &str, cache: &Path) -> crate::util::Run {
    let file = dir.join("tenants.toml");
    std::fs::write(&file, format!("output_dir = \"out\"\n\n{tenants}")).unwrap();
    run_host(&["serve", "--tenants", file.to_str().unwrap(), "--once", "--cache-dir", cache.to_str().unwrap()], &[("TENANT_TOKEN", ADMIN_TOKEN)])
}

fn push(reference: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["component", "push", reference];
    args.extend_from_slice(extra);
    run_host(&args, &[("BATON_REVISION", "0123abc")])
}

#[test]
fn a_pushed_component_is_pulled_by_tag_and_digest_and_syncs_as_the_builtin_one() {
    let mut registry = Registry::start();
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), max_limit: 7, dataset: Dataset::generate(12), ..SimConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let tagged = format!("oci://{}/baton/confluence-datacenter:test", registry.address);

    let pushed = push(&tagged, &[]);
    assert!(pushed.success, "{}", pushed.output());
    let digest = pushed.stdout.trim().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "the manifest digest is printed: {digest}");

    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{}/baton/confluence-datacenter:test", registry.address)])
        .output()
        .expect("skopeo (.ci/run installs it with apt-get)");
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&raw.stderr)));
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["layers"][0]["annotations"]["org.opencontainers.image.title"], "confluence_connector.wasm", "the layer is named as wkg names it");
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.revision"], "0123abc");
    assert_eq!(annotations["dev.baton.connector.world"], "baton:connector/connector@0.4.0");
    for key in ["version", "created", "description", "licenses"] {
        assert!(annotations[format!("org.opencontainers.image.{key}")].is_string(), "{key} annotation: {annotations}");
    }

    let builtin = dir.path().join("builtin.c1z");
    let run = run_host(&["--file", builtin.to_str().unwrap()], &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(run.success, "{}", run.output());
    let by_tag = dir.path().join("by-tag.c1z");
    let run = sync_with(&tagged, &sim, &by_tag, &cache);
    assert!(run.success, "{}", run.output());
    assert!(run.stderr.contains(&digest), "the digest the tag resolved to is logged: {}", run.stderr);
    assert!(content(&by_tag) == content(&builtin), "pulled by tag: the same file as the built-in component");

    let pinned = format!("oci://{}/baton/confluence-datacenter@{digest}", registry.address);
    let by_digest = dir.path().join("by-digest.c1z");
    let run = sync_with(&pinned, &sim, &by_digest, &cache);
    assert!(run.success, "{}", run.output());
    assert!(content(&by_digest) == content(&builtin), "pulled by digest: the same file");

    let served = serve_once(dir.path(), &format!("[[tenant]]\nname = \"acme\"\ncomponent = \"{tagged}\"\n{}", tenant_settings(&sim)), &cache);
    assert!(served.success, "{}", served.output());
    assert!(served.stderr.contains(&digest), "the runner logs the digest the tenant's tag resolved to: {}", served.stderr);
    assert!(content(&dir.path().join("out/acme/sync.c1z")) == content(&builtin), "the runner's tenant, pulled by tag: the same file");

    registry.stop();
    let offline = dir.path().join("offline.c1z");
    let run = run_host(
        &["--file", offline.to_str().unwrap(), "--component", &pinned, "--cache-dir", cache.to_str().unwrap()],
        &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN)],
    );
    assert!(run.success, "a digest starts from the cache (--cache-dir) with the registry gone: {}", run.output());
    assert!(content(&offline) == content(&builtin));

    let inspected = run_host(&["component", "inspect", &pinned, "--cache-dir", cache.to_str().unwrap(), "-o", "json"], &[]);
    assert!(inspected.success, "{}", inspected.output());
    let described: serde_json::Value = serde_json::from_str(&inspected.stdout).unwrap();
    assert_eq!(described["manifestDigest"], digest.as_str());
    assert!(described["signature"].as_str().unwrap_or_default().starts_with("cannot be checked"), "offline, the signature is not known: {described}");
    assert_eq!(described["world"], "baton:connector/connector@0.4.0");
    assert_eq!(described["annotations"]["org.opencontainers.image.revision"], "0123abc");
    assert_eq!(described["size"], std::fs::metadata(component("confluence_connector")).unwrap().len());
    let setting =
        |name: &str| described["settings"].as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap_or_else(|| panic!("{name}: {described}"));
    assert_eq!((setting("hostname")["required"].clone(), setting("hostname")["secret"].clone()), (true.into(), false.into()));
    assert_eq!(setting("access-token")["secret"], true);
    let text = run_host(&["component", "inspect", &pinned, "--cache-dir", cache.to_str().unwrap()], &[]);
    assert!(text.success && text.stdout.contains(&digest) && text.stdout.contains("--access-token") && text.stdout.contains("secret"), "{}", text.output());
    // What it declares it sends, for an operator to review before running it.
    let listed = |key: &str| described[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(listed("mayRead").contains(&"POST /rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets".to_string()), "{described}");
    assert!(listed("mayChangeWithProvisioning").contains(&"PUT /rest/api/permissions".to_string()), "{described}");
    assert!(
        text.stdout.contains("may read: GET, HEAD, POST /rpc/json-rpc/") && text.stdout.contains("may change, with provisioning: POST /rpc/json-rpc/"),
        "{}",
        text.stdout
    );
    let run = sync_with(&tagged, &sim, &dir.path().join("tag-offline.c1z"), &cache);
    assert!(!run.success && run.stderr.contains("cannot read the manifest of"), "a tag needs the registry: {}", run.output());
}

#[test]
fn a_tampered_blob_or_an_artifact_that_is_no_connector_is_refused_before_anything_runs() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let sim = small_site();
    let tagged = format!("oci://{}/baton/confluence-datacenter:tampered", registry.address);
    let pushed = push(&tagged, &[]);
    assert!(pushed.success, "{}", pushed.output());

    // The registry keeps blobs as .../blobs/sha256/<2 hex>/<hex>/data: change the component's.
    let layer = largest_blob(&registry.storage);
    let mut bytes = std::fs::read(&layer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let file = dir.path().join("sync.c1z");
    let run = sync_with(&tagged, &sim, &file, &dir.path().join("cache"));
    assert!(!run.success && run.stderr.contains("do not match the digest the manifest says") && run.stderr.contains("refusing it"), "{}", run.output());
    assert!(!file.exists() && sim.requests().is_empty(), "nothing ran");

    // A container image (another config media type), pushed by skopeo, is not a component.
    let image = format!("{}/baton/an-image:1", registry.address);
    let layout = container_image_layout(dir.path());
    skopeo_copy(&layout, &image, &[]);
    let run = sync_with(&format!("oci://{image}"), &sim, &file, &dir.path().join("cache"));
    assert!(
        !run.success && run.stderr.contains("is not a connector component") && run.stderr.contains("application/vnd.oci.image.config.v1+json"),
        "{}",
        run.output()
    );
    // The same image as a Docker schema 2 manifest: another manifest media type.
    let docker = format!("{}/baton/an-image:docker", registry.address);
    skopeo_copy(&layout, &docker, &["--format", "v2s2"]);
    let run = sync_with(&format!("oci://{docker}"), &sim, &file, &dir.path().join("cache"));
    assert!(!run.success && run.stderr.contains("its manifest is application/vnd.docker.distribution.manifest.v2+json"), "{}", run.output());
    // A wasm artifact whose component implements another version of the world, pushed by skopeo
    // (our push refuses it): pulled, it is refused before it runs, naming both versions.
    let other_world = format!("{}/baton/confluence-datacenter:other-world", registry.address);
    let config = serde_json::to_vec(&serde_json::json!({ "architecture": "wasm", "os": "wasip2" })).unwrap();
    let layout = one_layer_layout(
        &dir.path().join("other-world-layout"),
        (config, "application/vnd.wasm.config.v0+json"),
        (component_of_another_world_version(), "application/wasm"),
    );
    skopeo_copy(&layout, &other_world, &[]);
    let run = sync_with(&format!("oci://{other_world}"), &sim, &file, &dir.path().join("cache"));
    assert!(
        !run.success
            && run.stderr.contains("does not fit this host")
            && run.stderr.contains("connector@0.4.0")
            && run.stderr.contains("its baton:connector exports: baton:connector/connector@0.9.0"),
        "{}",
        run.output()
    );
    assert!(!file.exists() && sim.requests().is_empty(), "nothing ran");

    // A component that implements no baton:connector world is refused before it is pushed.
    let not_a_connector = dir.path().join("empty.wasm");
    std::fs::write(&not_a_connector, wat_free_empty_component()).unwrap();
    let wrong = format!("oci://{}/baton/not-a-connector:1", registry.address);
    let pushed = push(&wrong, &["--component", not_a_connector.to_str().unwrap()]);
    assert!(
        !pushed.success && pushed.stderr.contains("does not fit this host") && pushed.stderr.contains("baton:connector/connector@0.4.0"),
        "{}",
        pushed.output()
    );
}

/// The biggest `data` file under the registry's storage: the component layer.
fn largest_blob(storage: &Path) -> PathBuf {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    let mut pending = vec![storage.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "data") {
                found.push((entry.metadata().unwrap().len(), path));
            }
        }
    }
    found.into_iter().max().expect("the registry stored blobs").1
}

/// An OCI image layout in `dir` holding a one-layer (empty) Linux container image tagged
/// `latest`: what skopeo copies to the registry as a thing that is not a component.
fn container_image_layout(dir: &Path) -> PathBuf {
    let layer = [0u8; 1024]; // an empty tar archive: two zero blocks
    let diff_id = format!("sha256:{:x}", <sha2::Sha256 as sha2::Digest>::digest(layer));
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [diff_id] } });
    let config = (serde_json::to_vec(&config).unwrap(), "application/vnd.oci.image.config.v1+json");
    one_layer_layout(&dir.join("image-layout"), config, (layer.to_vec(), "application/vnd.oci.image.layer.v1.tar"))
}

/// An OCI image layout at `layout` with one manifest, tagged `latest`, of `config` and one
/// `layer` (each bytes and media type), as a second client (skopeo) can copy to a registry.
fn one_layer_layout(layout: &Path, config: (Vec<u8>, &str), layer: (Vec<u8>, &str)) -> PathBuf {
    use sha2::Digest;
    let blobs = layout.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let store = |bytes: &[u8], media_type: &str| {
        let hex = format!("{:x}", sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len() })
    };
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": store(&config.0, config.1),
        "layers": [store(&layer.0, layer.1)],
    });
    let mut manifest = store(&serde_json::to_vec(&manifest).unwrap(), manifest_type);
    manifest["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": "latest" });
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&serde_json::json!({ "schemaVersion": 2, "manifests": [manifest] })).unwrap()).unwrap();
    layout.to_path_buf()
}

/// `oci:LAYOUT:latest` copied by skopeo to `docker://DESTINATION` (with `extra` flags).
fn skopeo_copy(layout: &Path, destination: &str, extra: &[&str]) {
    let copied = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .args(extra)
        .args([format!("oci:{}:latest", layout.display()), format!("docker://{destination}")])
        .output()
        .expect("skopeo (.ci/run installs it with apt-get)");
    assert!(copied.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&copied.stderr));
}

/// The built-in component with its `baton:connector` interfaces renamed to version 0.9.0 (a
/// same-length edit of every name): a component of a world version this host does not have.
fn component_of_another_world_version() -> Vec<u8> {
    let mut bytes = std::fs::read(component("confluence_connector")).unwrap();
    let (from, to) = (b"baton:connector/connector@0.4.0", b"baton:connector/connector@0.9.0");
    let mut renamed = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + to.len();
        renamed += 1;
    }
    assert!(renamed > 0, "the built-in component names its world");
    bytes
}

/// The smallest valid component (the preamble alone): it implements nothing.
fn wat_free_empty_component() -> Vec<u8> {
    vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
}

#[test]
fn a_registry_that_needs_a_login_takes_it_from_the_flags_or_a_docker_config_file() {
    use base64::Engine as _;
    let registry = Registry::start_with_login();
    let dir = tempfile::tempdir().unwrap();
    let sim = small_site();
    let tagged = format!("oci://{}/baton/confluence-datacenter:private", registry.address);
    let no_docker = dir.path().join("no-docker-config");
    std::fs::create_dir(&no_docker).unwrap();
    let no_docker = no_docker.to_str().unwrap();

    let anonymous = run_host(&["component", "push", &tagged], &[("DOCKER_CONFIG", no_docker)]);
    assert!(
        !anonymous.success && anonymous.stderr.contains("the registry refused the login") && anonymous.stderr.contains("--registry-username"),
        "{}",
        anonymous.output()
    );
    let pushed = run_host(
        &["component", "push", &tagged, "--registry-username", REGISTRY_USER, "--registry-password", REGISTRY_PASSWORD],
        &[("DOCKER_CONFIG", no_docker)],
    );
    assert!(pushed.success, "{}", pushed.output());

    let docker = dir.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"));
    std::fs::write(docker.join("config.json"), serde_json::json!({ "auths": { registry.address.clone(): { "auth": auth } } }).to_string()).unwrap();
    let file = dir.path().join("sync.c1z");
    let run = run_host(
        &["--file", file.to_str().unwrap(), "--component", &tagged, "--cache-dir", dir.path().join("cache").to_str().unwrap()],
        &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN), ("DOCKER_CONFIG", docker.to_str().unwrap())],
    );
    assert!(run.success && file.exists(), "the Docker config file's login pulls it: {}", run.output());

    let wrong = "canary-wrong-registry-password-0b9e";
    let refused = run_host(
        &["--file", dir.path().join("other.c1z").to_str().unwrap(), "--component", &tagged, "--cache-dir", dir.path().join("other-cache").to_str().unwrap()],
        &[
            ("BATON_HOSTNAME", &sim.base_url()),
            ("BATON_ACCESS_TOKEN", ADMIN_TOKEN),
            ("DOCKER_CONFIG", no_docker),
            ("BATON_REGISTRY_USERNAME", REGISTRY_USER),
            ("BATON_REGISTRY_PASSWORD", wrong),
        ],
    );
    assert!(
        !refused.success && refused.stderr.contains("cannot read the manifest of") && refused.stderr.contains("the registry refused the login"),
        "{}",
        refused.output()
    );
    for run in [&anonymous, &pushed, &run, &refused] {
        assert!(!run.output().contains(REGISTRY_PASSWORD) && !run.output().contains(wrong), "a registry password was printed: {}", run.output());
    }
}

/// The real cosign, as `make interop` builds it from its Go module.
fn cosign(args: &[&str], dir: &Path) -> std::process::Output {
    let cosign = crate::util::target_dir().join("tools/bin/cosign");
    assert!(cosign.is_file(), "{} is missing: `make interop` builds it (go install github.com/sigstore/cosign/v2/cmd/cosign)", cosign.display());
    Command::new(cosign).args(args).current_dir(dir).env("COSIGN_PASSWORD", "canary-cosign-pass").output().unwrap()
}

/// A cosign key pair `NAME.key` / `NAME.pub` in `dir`, made by cosign.
fn cosign_keys(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let made = cosign(&["generate-key-pair", "--output-key-prefix", name], dir);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")))
}

/// Signatures, both ways with the real cosign: ours verify with `cosign verify`, cosign's verify
/// with `--verify-key`; a component that is not signed, signed with another key, re-pushed under
/// the signed tag, or carrying a signature made for another digest is refused before it runs,
/// each named; `component inspect` says which.
#[test]
fn signatures_interoperate_with_cosign_and_an_unverified_component_never_runs() {
    let registry = Registry::start();
    let sim = small_site();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (ours, ours_pub) = cosign_keys(dir.path(), "ours");
    let (_, other_pub) = cosign_keys(dir.path(), "other");
    let repository = format!("{}/baton/signed", registry.address);
    let sync = |reference: &str, key: &Path| {
        let file = dir.path().join("sync.c1z");
        let _ = std::fs::remove_file(&file);
        run_host(
            &["--file", file.to_str().unwrap(), "--component", reference, "--verify-key", key.to_str().unwrap()],
            &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", ADMIN_TOKEN), ("BATON_CACHE_DIR", cache.to_str().unwrap())],
        )
    };

    // We sign as we push; cosign verifies, offline, with the public key.
    let pushed = run_host(
        &["component", "push", &format!("oci://{repository}:1"), "--sign-key", ours.to_str().unwrap()],
        &[("COSIGN_PASSWORD", "canary-cosign-pass"), ("BATON_REVISION", "one")],
    );
    assert!(pushed.success, "{}", pushed.output());
    let first = pushed.stdout.trim().to_string();
    let verified =
        cosign(&["verify", "--key", "ours.pub", "--insecure-ignore-tlog=true", "--allow-insecure-registry", &format!("{repository}@{first}")], dir.path());
    assert!(verified.status.success(), "cosign verifies our signature: {}", String::from_utf8_lossy(&verified.stderr));
    assert!(sync(&format!("oci://{repository}@{first}"), &ours_pub).success);
    assert!(!pushed.output().contains("canary-cosign-pass"));

    // Cosign signs; we verify, and refuse with another key.
    let second = push(&format!("oci://{repository}:2"), &[]).stdout.trim().to_string();
    let signed =
        cosign(&["sign", "--key", "ours.key", "--tlog-upload=false", "--allow-insecure-registry", "--yes", &format!("{repository}@{second}")], dir.path());
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let run = sync(&format!("oci://{repository}@{second}"), &ours_pub);
    assert!(run.success, "cosign's signature verifies here: {}", run.output());
    let run = sync(&format!("oci://{repository}@{second}"), &other_pub);
    assert!(!run.success && run.stderr.contains("its signature does not verify") && run.stderr.contains("none made with"), "{}", run.stderr);

    // Not signed at all, and the signed tag pushed over with other bytes.
    let unsigned = push(&format!("oci://{repository}:3"), &["--revision", "three"]).stdout.trim().to_string();
    let run = sync(&format!("oci://{repository}@{unsigned}"), &ours_pub);
    assert!(!run.success && run.stderr.contains("it is not signed"), "{}", run.stderr);
    assert!(push(&format!("oci://{repository}:1"), &["--revision", "swapped"]).success);
    let run = sync(&format!("oci://{repository}:1"), &ours_pub);
    assert!(!run.success && run.stderr.contains("it is not signed"), "a tag pushed over after signing: {}", run.stderr);

    // A signature made for another digest, copied beside this one.
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{repository}:{}", first.replacen(':', "-", 1) + ".sig"),
            &format!("docker://{repository}:{}", unsigned.replacen(':', "-", 1) + ".sig"),
        ])
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let run = sync(&format!("oci://{repository}@{unsigned}"), &ours_pub);
    assert!(!run.success && run.stderr.contains(&format!("for another digest, {first}")), "{}", run.stderr);

    // What inspect says of each.
    let inspect = |reference: &str, key: &Path| run_host(&["component", "inspect", reference, "--verify-key", key.to_str().unwrap(), "-o", "json"], &[]).stdout;
    let said = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap()["signature"].as_str().unwrap_or_default().to_string();
    assert!(said(inspect(&format!("oci://{repository}@{second}"), &ours_pub)).starts_with("verified by"));
    assert!(said(inspect(&format!("oci://{repository}:3"), &ours_pub)).starts_with("does not verify"));
    assert!(said(inspect(&format!("oci://{repository}@{second}"), &other_pub)).starts_with("does not verify"));
}

/// The runner under a `[policy]`: `serve --check` names every tenant the policy refuses and why
/// (no key to check a signature with, a registry not allowed, `:latest`); with the file's
/// `verify_key`, a signed component syncs and an unsigned one fails by name.
#[test]
fn the_runners_policy_and_verify_key_refuse_what_nobody_vouched_for() {
    let registry = Registry::start();
    let sim = small_site();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (key, public) = cosign_keys(dir.path(), "ops");
    let repository = format!("{}/baton/runner", registry.address);
    let signed =
        run_host(&["component", "push", &format!("oci://{repository}:1"), "--sign-key", key.to_str().unwrap()], &[("COSIGN_PASSWORD", "canary-cosign-pass")]);
    assert!(signed.success, "{}", signed.output());
    let unsigned = push(&format!("oci://{repository}:2"), &["--revision", "two"]);
    assert!(unsigned.success, "{}", unsigned.output());
    let tenant = |name: &str, component: &str| format!("[[tenant]]\nname = \"{name}\"\ncomponent = \"{component}\"\n{}\n", tenant_settings(&sim));

    let policy = format!("[policy]\nrequire_signature = true\nallowed_registries = [\"{}\"]\n", registry.address);
    let checked = [
        format!("verify_key = \"{}\"\n{policy}", public.display()),
        tenant("signed", &format!("oci://{repository}:1")),
        tenant("unsigned", &format!("oci://{repository}:2")),
        tenant("latest", &format!("oci://{repository}:latest")),
        tenant("elsewhere", "oci://ghcr.io/someone/connector:1.0.0"),
    ]
    .concat();
    let file = dir.path().join("tenants.toml");
    std::fs::write(&file, format!("output_dir = \"out\"\n{checked}")).unwrap();
    let check = run_host(&["serve", "--tenants", file.to_str().unwrap(), "--check"], &[]);
    assert!(check.stdout.contains("latest: refused: policy:") && check.stdout.contains("elsewhere: refused: policy:"), "{}", check.output());
    assert!(check.stdout.contains("signed: ok") && check.stdout.contains("unsigned: ok"), "a signature is checked when pulled: {}", check.output());

    let served = serve_once(dir.path(), &checked, &cache);
    assert!(!served.success);
    assert!(served.stdout.lines().any(|l| l.starts_with("signed: synced")), "{}", served.output());
    let line = served.stdout.lines().find(|l| l.starts_with("unsigned: ")).unwrap_or_default().to_string();
    assert!(line.contains("failed") && line.contains("it is not signed"), "{}", served.output());

    let without_key = format!("{policy}{}", tenant("unchecked", &format!("oci://{repository}:1")));
    std::fs::write(&file, format!("output_dir = \"out\"\n{without_key}")).unwrap();
    let check = run_host(&["serve", "--tenants", file.to_str().unwrap(), "--check"], &[]);
    assert!(check.stdout.contains("unchecked: refused: policy: require_signature is set: give verify_key"), "{}", check.output());
}

/// The real wkg (wasm-pkg-tools), as `make interop` installs it from crates.io.
fn wkg(args: &[&str]) -> std::process::Output {
    let wkg = crate::util::target_dir().join("tools/bin/wkg");
    assert!(wkg.is_file(), "{} is missing: `make interop` installs it (cargo install wkg)", wkg.display());
    Command::new(wkg).args(args).output().unwrap()
}

/// Our artifact is the ecosystem's: `wkg oci pull` takes what we push, byte for byte, and a
/// component `wkg oci push` pushed runs here with `--component oci://...`.
#[test]
fn components_travel_both_ways_with_wkg() {
    let registry = Registry::start();
    let sim = small_site();
    let dir = tempfile::tempdir().unwrap();
    let ours = format!("{}/baton/ours:1.0.0", registry.address);
    assert!(push(&format!("oci://{ours}"), &[]).success);
    let pulled = dir.path().join("pulled.wasm");
    let out = wkg(&["oci", "pull", "--insecure", &registry.address, &ours, "-o", pulled.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(component("confluence_connector")).unwrap(), "wkg pulls the component we pushed");

    let theirs = format!("{}/baton/theirs:1.0.0", registry.address);
    let out = wkg(&["oci", "push", "--insecure", &registry.address, &theirs, component("confluence_connector").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("sync.c1z");
    let run = sync_with(&format!("oci://{theirs}"), &sim, &file, &dir.path().join("cache"));
    assert!(run.success && file.is_file(), "a component wkg pushed runs here: {}", run.output());
}

/// A connector written in another language travels the same way: the Python example pushed,
/// pulled by tag into a sync, and described by `component inspect` from the registry.
#[test]
fn the_python_example_is_pushed_and_pulled_like_the_confluence_component() {
    use confluence_sim::directory_sim::{DIRECTORY_TOKEN, Directory, DirectorySim};
    let Some(python) = crate::python_example::python_component() else { return };
    let registry = Registry::start();
    let sim = DirectorySim::start(Directory::generate(10, 1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let tagged = format!("oci://{}/baton/directory-python:0.1.0", registry.address);
    let pushed = push(&tagged, &["--component", python.to_str().unwrap()]);
    assert!(pushed.success, "{}", pushed.output());

    let file = dir.path().join("pulled.c1z");
    let origin = sim.origin();
    let args = ["--component", &tagged, "--base-url", &origin, "--file", file.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()];
    let run = crate::util::run_host_as_shipped(&args, &[("BATON_ACCESS_TOKEN", DIRECTORY_TOKEN)]);
    assert!(run.success, "{}", run.output());
    let users = baton_c1z::C1zReader::open(&file).unwrap().resources(Some("user")).unwrap();
    assert_eq!(users.len(), 10);

    let inspected = run_host(&["component", "inspect", &tagged, "--cache-dir", cache.to_str().unwrap(), "-o", "json"], &[]);
    assert!(inspected.success, "{}", inspected.output());
    let described: serde_json::Value = serde_json::from_str(&inspected.stdout).unwrap();
    assert_eq!(described["world"], "baton:connector/connector@0.4.0");
    assert!(described["mayChangeWithProvisioning"].as_array().unwrap().iter().any(|v| v == "PUT /api/v1/groups/*/members/*"), "{described}");
}

/// The contract travels as a WIT package: `make publish-wit` pushes it with wkg under its
/// version, wkg pulls the same bytes back, and the Python example built from the pulled package
/// (not from wit/) passes the conformance kit.
#[test]
fn the_contract_is_published_as_a_wit_package_that_components_build_against() {
    use confluence_sim::directory_sim::{DIRECTORY_TOKEN, Directory, DirectorySim};
    let registry = Registry::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wit = std::fs::read_to_string(root.join("wit/connector.wit")).unwrap();
    let version = wit.lines().find_map(|l| l.strip_prefix("package baton:connector@")).and_then(|v| v.strip_suffix(';')).expect("the package line").to_string();
    let published = Command::new("make")
        .args(["-s", "publish-wit", &format!("REGISTRY={}", registry.address), &format!("WKG_FLAGS=--insecure {}", registry.address)])
        .current_dir(&root)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&published.stdout), String::from_utf8_lossy(&published.stderr));
    assert!(published.status.success() && said.contains(&format!("published {}/baton/connector:{version}", registry.address)), "{said}");

    let dir = tempfile::tempdir().unwrap();
    let pulled = dir.path().join("connector.wasm");
    let reference = format!("{}/baton/connector:{version}", registry.address);
    let out = wkg(&["oci", "pull", "--insecure", &registry.address, &reference, "-o", pulled.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let built = crate::util::target_dir().join(format!("wit-package/baton-connector-{version}.wasm"));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&built).unwrap(), "the registry holds the package byte for byte");
    assert_eq!(&std::fs::read(&pulled).unwrap()[..4], b"\0asm");

    let componentize = crate::util::target_dir().join("examples/venv/bin/componentize-py");
    if !componentize.is_file() {
        eprintln!("\n*** SKIPPED (part): componentize-py is not installed (make examples); the build from the package did not run ***\n");
        return;
    }
    let component = dir.path().join("from-package.wasm");
    let example = root.join("examples/python-directory");
    let build = Command::new(&componentize)
        .args(["-d", pulled.to_str().unwrap(), "-w", "connector-world", "componentize", "app", "-o", component.to_str().unwrap()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&example)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let sim = DirectorySim::start(Directory::generate(20, 2)).unwrap();
    let kit = crate::util::run_host_as_shipped(
        &["component", "test", component.to_str().unwrap(), "--against", &sim.origin()],
        &[("BATON_ACCESS_TOKEN", DIRECTORY_TOKEN)],
    );
    assert!(kit.success, "{}", kit.output());
}
