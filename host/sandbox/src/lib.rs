//! The sandbox a baton connector component runs in. The component is untrusted: it may come
//! from a registry, and one host may run many tenants' components. This crate decides what an
//! instance can reach and use; it knows no product.
//!
//! - [`bindings`]: the `baton:connector` world as Rust types ([`wit`]).
//! - [`engine`]: the one wasmtime engine of a process (compile cache, pooling allocator,
//!   epoch ticker) and its components, compiled once per content digest.
//! - [`epoch`]: the tick CPU budgets are counted in, and the thread that advances it.
//! - [`pool`]: the shape of one instance and the pooling allocator's slots.
//! - [`runtime`]: one component: linker, per-instance limits, typed calls.
//! - [`declared`]: the requests beyond GET and HEAD a component declares, and which of them a
//!   call may send (a sync only reads).
//! - [`origin`]: the one destination requests may reach, and how a request's URI is judged
//!   against it.
//! - [`egress`]: the one outgoing-request hook: admission of a request to the configured
//!   origin, credential injection, then [`retry`] around the send.
//! - [`retry`]: classify, back off, pace, the adaptive in-flight limit, and the loop that sends
//!   a request again while they allow.
//! - [`outbound`]: the pooled client that sends: trust, proxies, client certificates, and
//!   failures explained.
//! - [`guest_log`]: what a component writes to the host's log, escaped, capped and rate-limited.
//! - [`store`]: the per-sync key-value store the component reads and writes.

pub mod bindings;
pub mod declared;
pub mod egress;
pub mod engine;
pub mod epoch;
pub mod guest_log;
pub mod origin;
pub mod outbound;
pub mod pool;
pub mod retry;
pub mod runtime;
pub mod store;

pub use bindings::wit;
pub use engine::Sandbox;
pub use pool::Pooling;
pub use runtime::{CallError, Instance, InstanceContext, Limits, Runtime};
