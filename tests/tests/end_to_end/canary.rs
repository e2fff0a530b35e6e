//! Secret canaries: syncs and a service-mode run with recognisable random credentials, after
//! which no log line, no file left under the working and output folders (`.c1z` contents
//! decompressed), and nothing uploaded to ConductorOne holds any of them, in any form the
//! process could have written them (as given, or base64 in a Basic header).

use crate::service::{Service, config, finished};
use crate::util::{c1z_database_bytes, host_command};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use baton_c1api::pb::Task;
use confluence_sim::fake_c1::FakeC1;
use confluence_sim::{Dataset, SimConfig, Simulator};
use std::path::Path;

fn canary(kind: &str) -> String {
    format!("canary-{kind}-{:016x}", rand::random::<u64>())
}

/// A simulator whose admin answers to these credentials only (and to nothing anyone could guess).
fn simulator_with(token: &str, password: &str) -> Simulator {
    let mut dataset = Dataset::generate(20);
    dataset.tokens.retain(|(_, user)| user != "admin");
    dataset.tokens.push((token.to_string(), "admin".to_string()));
    if let Some(admin) = dataset.users.iter_mut().find(|u| u.username == "admin") {
        admin.password = Some(password.to_string());
    }
    Simulator::start_background(SimConfig { dataset, ..SimConfig::default() }).unwrap()
}

/// Every form a secret could take in what the process writes.
fn forms(secrets: &[&str]) -> Vec<Vec<u8>> {
    let mut forms: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
    forms.extend(secrets.iter().map(|s| STANDARD.encode(format!("admin:{s}")).into_bytes()));
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fails naming the file if any file under `dir` (a `.c1z` decompressed) holds a secret.
fn assert_no_secret_in_files(dir: &Path, forms: &[Vec<u8>]) {
    for entry in walk(dir) {
        let mut bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.starts_with(b"C1ZF") {
            bytes.extend(c1z_database_bytes(&entry));
        }
        for form in forms {
            assert!(!contains(&bytes, form), "{} holds a secret", entry.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn one_shot_syncs_leave_no_secret_anywhere() {
    let (token, password) = (canary("token"), canary("password"));
    let sim = simulator_with(&token, &password);
    let work = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let forms = forms(&[&token, &password]);
    let runs: [(&str, Vec<(&str, &str)>); 2] =
        [("token.c1z", vec![("BATON_ACCESS_TOKEN", token.as_str())]), ("basic.c1z", vec![("BATON_USERNAME", "admin"), ("BATON_PASSWORD", password.as_str())])];
    for (name, credentials) in runs {
        let file = out.path().join(name);
        let base_url = sim.base_url();
        let mut env = vec![("BATON_HOSTNAME", base_url.as_str()), ("BATON_LOG_LEVEL", "debug"), ("BATON_LOG_FORMAT", "json")];
        env.extend(credentials);
        let output = host_command(&["--file", file.to_str().unwrap()], &env).current_dir(work.path()).output().unwrap();
        let log = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&log));
        assert!(file.exists());
        for form in &forms {
            assert!(!contains(&log, form), "{name}: a secret is in the output:\n{}", String::from_utf8_lossy(&log));
        }
    }
    assert_no_secret_in_files(work.path(), &forms);
    assert_no_secret_in_files(out.path(), &forms);
}

#[test]
fn a_service_run_uploads_and_logs_no_secret() {
    let token = canary("token");
    let sim = simulator_with(&token, &canary("password"));
    let debug_sync = Task { debug: true, ..FakeC1::sync_full_task(1) };
    let c1 = FakeC1::start(config(vec![debug_sync])).unwrap();
    let secret = c1.client_secret();
    let mut service = Service::start(&c1, &sim, &secret, &[("BATON_ACCESS_TOKEN", token.as_str())]);
    let finish = finished(&c1, &service, 1);
    assert!(format!("{finish:?}").contains("Success"), "{}", service.log());
    let uploads = c1.uploads();
    assert_eq!(uploads.len(), 2, "the sync and its debug log");
    let key_part = secret.rsplit(':').next().unwrap().to_string();
    let forms = forms(&[&token, &secret, &key_part]);
    for (n, upload) in uploads.iter().enumerate() {
        let mut bytes = upload.data.clone();
        if bytes.starts_with(b"C1ZF") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("u.c1z");
            std::fs::write(&path, &bytes).unwrap();
            bytes.extend(c1z_database_bytes(&path));
        }
        for form in &forms {
            assert!(!contains(&bytes, form), "upload {n} holds a secret");
        }
    }
    for record in c1.token_requests() {
        if let confluence_sim::fake_c1::TokenOutcome::Issued { access_token } = record.outcome {
            assert!(!service.log().contains(&access_token), "no C1 access token in the log");
        }
    }
    assert!(service.terminate(std::time::Duration::from_secs(20)), "{}", service.log());
    let log = service.log();
    for form in &forms {
        assert!(!contains(log.as_bytes(), form), "a secret is in the service log");
    }
    assert_no_secret_in_files(&service.tmp(), &forms);
}

/// The component's own memory, searched at the end of a call: after reading every setting it is
/// offered (including fields it declares plain that are credentials) and making a request the
/// host sends with the credential, it holds the control value the operator gave in a plain
/// setting, and none of the secrets.
#[test]
fn the_guest_memory_holds_no_secret() {
    let (token, password) = (canary("token"), canary("password"));
    let sim = simulator_with(&token, &password);
    let api_token = canary("apitoken");
    let probe = crate::util::component("probe_guest");
    let base_url = sim.base_url();
    let output = host_command(
        &["--component", probe.to_str().unwrap(), "--probe-mode", "scan-memory", "--probe-url", "canary-control-value", "--log-format", "json"],
        &[
            ("BATON_HOSTNAME", base_url.as_str()),
            ("BATON_ACCESS_TOKEN", token.as_str()),
            ("BATON_API_TOKEN", api_token.as_str()),
            ("BATON_DB_PASSWORD", password.as_str()),
        ],
    )
    .output()
    .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    let report = log.lines().find(|l| l.contains("canaries")).unwrap_or_else(|| panic!("no report: {log}"));
    assert!(report.contains("canary-control-value"), "the scan finds what did come in: {report}");
    for secret in [&token, &password, &api_token] {
        assert!(!report.contains(secret.as_str()), "{secret} is in the guest's memory: {report}");
    }
}
