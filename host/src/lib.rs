//! The host of baton connector components: it loads a component that implements the
//! `baton:connector` world (see `wit/`), gives it configuration but never secrets, lets its HTTP
//! requests reach only the configured origin (attaching credentials there), caps its memory and
//! CPU time, drives a full sync and writes the `.c1z` that baton tools read.
//!
//! - [`settings`]: the component's declared configuration schema -> flags, `BATON_*` variables,
//!   validation, credentials.
//! - [`policy`]: the outgoing-request hook (egress allow-list + credential injection), with
//!   [`retry`]: classify / schedule / pace for 429, 503, resets and timeouts.
//! - [`runtime`]: wasmtime engine, linker, limits, typed calls into an instance.
//! - [`sync`]: the connector-agnostic, resumable sync engine; [`store`]: the per-sync store; [`convert`]: contract types -> protobuf.
//! - [`inspect`]: reading a `.c1z` back (tables or JSON); [`capabilities`]: the capabilities
//!   document computed from the component's declarations.
//! - [`connector`]: one configured component, and the sync or change a run makes with it.
//! - [`provision`]: one-shot grant, revoke and create-account, looked up in a `.c1z`.
//! - [`service`]: service mode: ConductorOne's task loop, token exchange, upload, health.
//! - [`cli`]: the command line.

pub mod capabilities;
pub mod cli;
pub mod connector;
pub mod convert;
pub mod inspect;
pub mod policy;
pub mod provision;
pub mod retry;
pub mod runtime;
pub mod service;
pub mod settings;
pub mod store;
pub mod sync;
