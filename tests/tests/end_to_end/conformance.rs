//! `component test`, the conformance kit: the Confluence component passes it against the
//! simulator, so does the Python example against its directory service, and the hostile probe
//! fails it with the right reasons.

use crate::util::{Run, component, run_host_as_shipped};
use confluence_sim::directory_sim::{DIRECTORY_TOKEN, Directory, DirectorySim};
use confluence_sim::{ADMIN_TOKEN, Dataset, SimConfig, Simulator};

const CHECKS: usize = 10;

fn kit(reference: &str, against: &str, config: &[&str], token: &str) -> Run {
    let mut args = vec!["component", "test", reference, "--against", against];
    for setting in config {
        args.extend(["--config", setting]);
    }
    run_host_as_shipped(&args, &[("BATON_ACCESS_TOKEN", token)])
}

fn line<'a>(run: &'a Run, check: &str) -> &'a str {
    run.stdout.lines().find(|l| l.contains(check)).unwrap_or_else(|| panic!("no line for {check:?}:\n{}", run.output()))
}

#[test]
fn the_confluence_component_passes_the_kit_against_the_simulator() {
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), max_limit: 5, dataset: Dataset::generate(12), ..SimConfig::default() }).unwrap();
    let run = kit(component("confluence_connector").to_str().unwrap(), &sim.base_url(), &[], ADMIN_TOKEN);
    assert!(run.success, "{}", run.output());
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("ok    ")).count(), CHECKS, "{}", run.stdout);
    assert!(run.stdout.ends_with(&format!("{CHECKS} checks: {CHECKS} passed, 0 failed\n")), "{}", run.stdout);
    assert!(line(&run, "errors are typed").contains("a wrong credential unauthenticated"), "{}", run.stdout);
    assert!(line(&run, "resumes to the same result").contains("stopped after its first checkpoint"), "{}", run.stdout);
    assert!(!run.output().contains(ADMIN_TOKEN), "the credential is never printed");
}

#[test]
fn the_python_example_passes_the_kit_against_its_service() {
    let Some(python) = crate::python_example::python_component() else { return };
    let sim = DirectorySim::start(Directory::generate(60, 3)).unwrap();
    let run = kit(python.to_str().unwrap(), &sim.origin(), &[], DIRECTORY_TOKEN);
    assert!(run.success, "{}", run.output());
    assert!(run.stdout.ends_with(&format!("{CHECKS} checks: {CHECKS} passed, 0 failed\n")), "{}", run.stdout);
}

#[test]
fn the_probe_fails_the_kit_with_the_right_reasons() {
    let probe = component("probe_guest");
    let sim = Simulator::start_background(SimConfig { version: "9.2.0".into(), dataset: Dataset::generate(3), ..SimConfig::default() }).unwrap();
    let (probe, url) = (probe.to_str().unwrap(), sim.base_url());
    let run = kit(probe, &url, &[], ADMIN_TOKEN);
    assert!(!run.success, "{}", run.output());
    assert!(
        line(&run, "metadata is valid").starts_with("FAIL") && line(&run, "metadata is valid").contains("must be a required url setting"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "resource types are stable").contains("no resource types"), "{}", run.stdout);
    assert!(line(&run, "errors are typed").contains("validate accepted a wrong credential"), "{}", run.stdout);
    assert!(run.stderr.contains("does not keep the contract"), "{}", run.stderr);

    let mut args = vec!["component", "test", probe, "--against", &url, "--config", "probe-mode=endless-pages", "--max-pages", "20"];
    let endless = run_host_as_shipped(&args, &[("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(!endless.success);
    assert!(line(&endless, "every list pages to an end").contains("did not end within 20 pages"), "{}", endless.stdout);
    args.truncate(5);

    args.extend(["--config", "probe-mode=fetch", "--config", "probe-url=http://127.0.0.1:9/elsewhere"]);
    let stray = run_host_as_shipped(&args, &[("BATON_ACCESS_TOKEN", ADMIN_TOKEN)]);
    assert!(!stray.success);
    assert!(line(&stray, "no request left the declared egress").starts_with("FAIL"), "a request to another origin is caught: {}", stray.stdout);
}
