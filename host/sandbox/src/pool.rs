//! The shape of one component instance (how many core instances, memories and tables it may
//! create) and the pooling allocator's slots built from it: the numbers the engine's
//! configuration and each instance's memory cap share.

use wasmtime::PoolingAllocationConfig;

/// Core instances, memories and tables one component instance may create (a Rust component
/// has a handful of each). The memory cap enforces the same numbers on the default allocator.
pub const MAX_CORE_INSTANCES: usize = 100;
pub const MAX_MEMORIES: usize = 10;
pub const MAX_TABLES: usize = 100;

/// Slots of the pooling allocator: instantiation takes a prepared slot instead of mapping
/// fresh memory, and the number of instances alive at once is bounded for the whole process.
#[derive(Debug, Clone, Copy)]
pub struct Pooling {
    /// Component instances alive at once, across every component and tenant. Each
    /// instance's memory cap stays its own ([`crate::Limits`]): a slot only reserves address
    /// space.
    pub instances: u32,
}

/// The pooling allocator for `pooling`'s slots, each shaped as one instance may be.
pub(crate) fn pooling_config(pooling: Pooling) -> PoolingAllocationConfig {
    let instances = pooling.instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(MAX_CORE_INSTANCES as u32))
        .total_memories(instances.saturating_mul(MAX_MEMORIES as u32))
        .total_tables(instances.saturating_mul(MAX_TABLES as u32))
        .total_stacks(instances)
        .max_core_instances_per_component(MAX_CORE_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32);
    pool
}
