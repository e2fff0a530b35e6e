//! Test helpers: locating the built binary and components, running the host with a clean
//! environment, and reading a `.c1z` back.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"))
}

fn built(path: PathBuf) -> PathBuf {
    assert!(path.is_file(), "{} is missing: run `make test`, which builds the host and the components first", path.display());
    path
}

/// The host binary (debug build).
pub fn host_binary() -> PathBuf {
    built(std::env::var_os("BATON_BIN").map(PathBuf::from).unwrap_or_else(|| target_dir().join("debug").join("baton-confluence-datacenter")))
}

/// A component built with `--profile guest`.
pub fn component(name: &str) -> PathBuf {
    built(target_dir().join("wasm32-wasip2").join("guest").join(format!("{name}.wasm")))
}

/// What a run of the host printed and how it ended.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything printed, for assertions about secrets.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The host command with `args` and only the given `BATON_*` and proxy variables (none inherited).
///
/// The tests are written in the ids of the January 2025 Go release (users by username, space
/// permissions as `view`, ...), so `BATON_COMPAT=go-2025-01` is set unless `env` names a profile;
/// the default profile's ids have tests of their own, which use [`host_command_as_shipped`].
pub fn host_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = host_command_as_shipped(args, env);
    if !env.iter().any(|(key, _)| *key == "BATON_COMPAT") {
        command.env("BATON_COMPAT", "go-2025-01");
    }
    command
}

/// The host as a user runs it: only `env` (and no `BATON_*` of the machine's).
pub fn host_command_as_shipped(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(host_binary());
    command.args(args).env("XDG_CACHE_HOME", target_dir().join("test-cache"));
    for (key, _) in std::env::vars() {
        // Proxy settings of the machine running the tests would route the simulator's traffic.
        if key.starts_with("BATON_") || key.to_ascii_uppercase().ends_with("_PROXY") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Runs the host to completion.
pub fn run_host(args: &[&str], env: &[(&str, &str)]) -> Run {
    finished(host_command(args, env))
}

/// Runs the host as a user runs it ([`host_command_as_shipped`]) to completion.
pub fn run_host_as_shipped(args: &[&str], env: &[(&str, &str)]) -> Run {
    finished(host_command_as_shipped(args, env))
}

/// Runs the host like [`run_host`], sampling its peak resident memory (`VmHWM`) while it runs;
/// the run and the highest peak seen, in KiB.
pub fn run_host_watching_memory(args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut command = host_command(args, env);
    command.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = command.spawn().expect("running the host binary");
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|status| status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    (Run { success: status.success(), stdout: read(&out), stderr: read(&err) }, peak_kib)
}

fn finished(mut command: Command) -> Run {
    let output = command.output().expect("running the host binary");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the host on `file` against `sim` with `token` and `args`.
pub fn run_on(sim: &confluence_sim::Simulator, file: &Path, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["--file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run_host(&all, &[("BATON_HOSTNAME", &sim.base_url()), ("BATON_ACCESS_TOKEN", token)])
}

/// Runs a one-shot change (`--provisioning` and `args`) as the administrator that must
/// succeed; returns what it printed.
pub fn change(sim: &confluence_sim::Simulator, file: &Path, args: &[&str]) -> String {
    let run = provisioning_run(sim, file, args);
    assert!(run.success, "{args:?}:\n{}", run.output());
    run.stdout
}

/// Runs a one-shot change as the administrator that must fail; returns what it printed on stderr.
pub fn refused_change(sim: &confluence_sim::Simulator, file: &Path, args: &[&str]) -> String {
    let run = provisioning_run(sim, file, args);
    assert!(!run.success, "{args:?} should fail:\n{}", run.output());
    run.stderr
}

fn provisioning_run(sim: &confluence_sim::Simulator, file: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--provisioning"];
    all.extend_from_slice(args);
    run_on(sim, file, confluence_sim::ADMIN_TOKEN, &all)
}

/// Files in `dir` other than `keep`.
pub fn other_files(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|name| !keep.contains(&name.as_str())).collect()
}

/// The decompressed SQLite bytes of a `.c1z`, to search for things that must not be there.
pub fn c1z_database_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..5], b"C1ZF\0", "v1 magic");
    zstd::decode_all(&bytes[5..]).unwrap()
}

/// Everything in a file except what differs by design between runs (sync id, timestamps), in
/// row order.
pub fn content(file: &Path) -> Vec<Vec<u8>> {
    use prost::Message;
    let reader = baton_c1z::C1zReader::open(file).unwrap();
    let mut rows: Vec<Vec<u8>> = Vec::new();
    rows.extend(reader.resource_types().unwrap().iter().map(Message::encode_to_vec));
    rows.extend(reader.resources(None).unwrap().iter().map(Message::encode_to_vec));
    rows.extend(reader.entitlements().unwrap().iter().map(Message::encode_to_vec));
    rows.extend(reader.grants().unwrap().iter().map(Message::encode_to_vec));
    rows
}

/// `text` without the terminal colour codes of the console format.
pub fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}
