//! Components through a real OCI registry (Debian's docker-registry on 127.0.0.1): pushed,
//! read back by skopeo as a second client, pulled by tag and by digest into a sync whose file
//! equals the built-in component's, started offline from the cache by digest, and refused when
//! the registry's copy is tampered with or the artifact is not a component.

use crate::util::{content, run_host};
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

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("registry.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
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
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.revision"], "0123abc");
    assert_eq!(annotations["dev.baton.connector.world"], "baton:connector/connector@0.2.0");
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

    registry.stop();
    let offline = dir.path().join("offline.c1z");
    let run = sync_with(&pinned, &sim, &offline, &cache);
    assert!(run.success, "a digest starts from the cache with the registry gone: {}", run.output());
    assert!(content(&offline) == content(&builtin));
    let run = sync_with(&tagged, &sim, &dir.path().join("tag-offline.c1z"), &cache);
    assert!(!run.success && run.stderr.contains("cannot read the manifest of"), "a tag needs the registry: {}", run.output());
}

#[test]
fn a_tampered_blob_or_an_artifact_that_is_no_connector_is_refused_before_anything_runs() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap();
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

    // A component that implements no baton:connector world is refused before it is pushed.
    let not_a_connector = dir.path().join("empty.wasm");
    std::fs::write(&not_a_connector, wat_free_empty_component()).unwrap();
    let wrong = format!("oci://{}/baton/not-a-connector:1", registry.address);
    let pushed = push(&wrong, &["--component", not_a_connector.to_str().unwrap()]);
    assert!(
        !pushed.success && pushed.stderr.contains("does not fit this host") && pushed.stderr.contains("baton:connector/connector@0.2.0"),
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

/// The smallest valid component (the preamble alone): it implements nothing.
fn wat_free_empty_component() -> Vec<u8> {
    vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
}
