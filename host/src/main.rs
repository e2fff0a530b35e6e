//! `baton-confluence-datacenter`: the command line of the connector host.

use baton_host::cli;
use baton_host::product::Product;

/// This binary: the generic host with the Confluence component beside it.
const PRODUCT: Product = Product { name: "baton-confluence-datacenter", version: env!("CARGO_PKG_VERSION"), component_file: "confluence_connector.wasm" };

/// mimalloc: allocations made on one thread and freed on another (pages of rows handed to the
/// writer thread) stay on its fast path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main(PRODUCT)
}
