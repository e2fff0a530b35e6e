//! `baton-confluence-datacenter`: the command line of the connector host.

use baton_host::cli;
use baton_host::product::Product;

/// This binary: the generic host with the Confluence component beside it.
const PRODUCT: Product = Product { name: "baton-confluence-datacenter", version: env!("CARGO_PKG_VERSION"), component_file: "confluence_connector.wasm" };

/// mimalloc: allocations made on one thread and freed on another (pages of rows handed to the
/// writer thread) stay on its fast path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The C allocator (SQLite's, zstd's) keeps up to eight arenas a core, one per thread that
/// allocates at once; with a thread per running sync that made the runner's peak RSS 189 MiB
/// on 100 tenants against 114 MiB with two (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn few_c_allocator_arenas() {
    // SAFETY: mallopt only sets a tunable of glibc's malloc, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    few_c_allocator_arenas();
    cli::main(PRODUCT)
}
