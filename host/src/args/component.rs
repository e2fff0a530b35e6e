//! `component push | sign | inspect | test | precompile`: their flags and the commands they make.

use super::{output_format, output_format_arg, registry_args, registry_options};
use crate::component::{ComponentInspect, ComponentPush, ComponentSign};
use crate::conformance::ComponentTest;
use crate::product::Product;
use anyhow::{Result, bail};
use clap::{Arg, ArgMatches, Command};
use std::path::PathBuf;

/// `component push` or `component inspect`.
#[derive(Debug)]
pub enum ComponentCommand {
    Push(ComponentPush),
    Inspect(ComponentInspect),
    Sign(ComponentSign),
    Test(ComponentTest),
    /// `component precompile [--component FILE]`.
    Precompile(Option<PathBuf>),
}

/// `component push ...` or `component inspect ...` when it is the command given (it must
/// come first).
pub fn component_command_requested(product: &Product) -> Result<Option<ComponentCommand>> {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.get(1).map(String::as_str) != Some("component") {
        return Ok(None);
    }
    let text = |name: &'static str, env: &'static str, help: &'static str| Arg::new(name).long(name).env(env).value_name("TEXT").help(help);
    let push = Command::new("push")
        .about("Push the connector component to an OCI registry as a WebAssembly artifact; prints the manifest digest")
        .arg(Arg::new("reference").required(true).value_name("oci://REGISTRY/REPOSITORY:TAG"))
        .arg(
            Arg::new("component")
                .long("component")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The component to push [default: the built-in one]"),
        )
        .args(registry_args().into_iter().filter(|arg| arg.get_id() != "cache-dir" && arg.get_id() != "verify-key"))
        .arg(text("revision", "BATON_REVISION", "Source revision for the org.opencontainers.image.revision annotation"))
        .arg(text("source", "BATON_SOURCE", "Source repository URL for the org.opencontainers.image.source annotation"))
        .arg(path_arg("sign-key", "Also sign the pushed manifest with this cosign private key (its password in COSIGN_PASSWORD)"));
    let sign = Command::new("sign")
        .about("Sign a pushed component with a cosign private key (its password in COSIGN_PASSWORD); cosign verifies the signature")
        .arg(Arg::new("reference").required(true).value_name("oci://REGISTRY/REPOSITORY@sha256:DIGEST"))
        .arg(path_arg("key", "The cosign private key (cosign generate-key-pair)").required(true))
        .args(registry_args().into_iter().filter(|arg| arg.get_id() != "cache-dir" && arg.get_id() != "verify-key"));
    let inspect = Command::new("inspect")
        .about("Describe a component without running it: digest, size, annotations, the baton:connector world it implements and its settings")
        .arg(Arg::new("reference").value_name("PATH | oci://REGISTRY/REPOSITORY:TAG | oci://...@sha256:DIGEST").help("[default: the built-in component]"))
        .args(registry_args())
        .arg(output_format_arg());
    let test = Command::new("test")
        .about("Check a component against the baton:connector contract, run against a target: one line per check (docs/conformance.md); fails when one fails")
        .arg(Arg::new("reference").value_name("PATH | oci://REGISTRY/REPOSITORY:TAG | oci://...@sha256:DIGEST").help("[default: the built-in component]"))
        .arg(Arg::new("against").long("against").value_name("URL").help("The target: the value of the component's origin setting"))
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("NAME=VALUE")
                .action(clap::ArgAction::Append)
                .help("A setting of the component (repeat for each); BATON_<NAME> is read for those not given, and is the way to pass a secret"),
        )
        .arg(
            Arg::new("max-pages")
                .long("max-pages")
                .value_name("N")
                .value_parser(clap::value_parser!(usize))
                .default_value("1000")
                .help("Most pages one list may take before the kit calls it endless"),
        )
        .args(registry_args());
    let precompile = Command::new("precompile")
        .about("Compile the component for this machine and write it beside the component file (what `make image` ships, so the image starts without compiling)")
        .arg(
            Arg::new("component")
                .long("component")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The component file [default: the built-in one]"),
        );
    let command = Command::new("component")
        .bin_name(format!("{} component", product.name))
        .subcommand_required(true)
        .subcommand(push)
        .subcommand(sign)
        .subcommand(inspect)
        .subcommand(test)
        .subcommand(precompile);
    let matches = match command.try_get_matches_from(&arguments[1..]) {
        Ok(matches) => matches,
        Err(err) => err.exit(),
    };
    let value = |matches: &ArgMatches, name: &str| matches.get_one::<String>(name).cloned();
    match matches.subcommand() {
        Some(("push", push)) => Ok(Some(ComponentCommand::Push(ComponentPush {
            reference: value(push, "reference").unwrap_or_default(),
            component: push.get_one::<PathBuf>("component").cloned(),
            login: registry_options(push).login,
            revision: value(push, "revision"),
            source: value(push, "source"),
            sign_key: push.get_one::<PathBuf>("sign-key").cloned(),
        }))),
        Some(("sign", sign)) => Ok(Some(ComponentCommand::Sign(ComponentSign {
            reference: value(sign, "reference").unwrap_or_default(),
            key: sign.get_one::<PathBuf>("key").cloned().unwrap_or_default(),
            login: registry_options(sign).login,
        }))),
        Some(("inspect", inspect)) => Ok(Some(ComponentCommand::Inspect(ComponentInspect {
            reference: value(inspect, "reference"),
            registry: registry_options(inspect),
            format: output_format(inspect),
        }))),
        Some(("test", test)) => Ok(Some(ComponentCommand::Test(ComponentTest {
            reference: value(test, "reference"),
            registry: registry_options(test),
            config: config_values(test)?,
            against: value(test, "against"),
            max_pages: test.get_one::<usize>("max-pages").copied().unwrap_or(1000),
        }))),
        Some(("precompile", precompile)) => Ok(Some(ComponentCommand::Precompile(precompile.get_one::<PathBuf>("component").cloned()))),
        _ => bail!("unknown component command: try `component push`, `component sign`, `component inspect`, `component test` or `component precompile`"),
    }
}

/// A `--NAME PATH` option.
fn path_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("PATH").value_parser(clap::value_parser!(PathBuf)).help(help)
}

/// The `--config NAME=VALUE` pairs, in order.
fn config_values(matches: &ArgMatches) -> Result<Vec<(String, String)>> {
    let given = matches.get_many::<String>("config").into_iter().flatten();
    given
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => bail!("--config {pair:?} is not NAME=VALUE (for example --config hostname=https://wiki.example.com)"),
        })
        .collect()
}
