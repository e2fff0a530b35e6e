//! `baton-confluence-datacenter`: the command line of the connector host.

use baton_host::cli;
use baton_host::product::Product;

/// This binary: the generic host with the Confluence component beside it.
const PRODUCT: Product = Product { name: "baton-confluence-datacenter", version: env!("CARGO_PKG_VERSION"), component_file: "confluence_connector.wasm" };

fn main() -> std::process::ExitCode {
    cli::main(PRODUCT)
}
