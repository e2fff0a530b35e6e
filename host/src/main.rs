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

/// mimalloc's `purge_delay` option: its place in `mi_option_e` of the bundled mimalloc 3 (the
/// extended bindings have no constant for it; a test below checks the place by its default).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory the program frees goes back to the system at once rather than a second later (the
/// default): a sync's peak comes at its finish, just after the connector instances and the
/// pages they fetched are freed. 3 MiB off the 100k-grant sync's peak, no slower on the 1M
/// one (BENCHMARKS.md, "Memory").
fn return_freed_memory_at_once() {
    // SAFETY: sets an allocator tunable, before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    few_c_allocator_arenas();
    return_freed_memory_at_once();
    cli::main(PRODUCT)
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    #[test]
    fn the_option_set_at_start_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // set from outside: the default is not there to recognise
        }
        // SAFETY: reads an allocator tunable. mimalloc 3's purge delay defaults to 1000 ms, and
        // no other option among the first thirty does.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
    }
}
