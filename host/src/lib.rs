//! The host of baton connector components: it loads a component that implements the
//! `baton:connector` world (see `wit/`), gives it configuration but never secrets, lets its HTTP
//! requests reach only the configured origin (attaching credentials there), caps its memory and
//! CPU time, drives a full sync and writes the `.c1z` that baton tools read.
//!
//! The sandbox (engine, limits, egress policy, retries) is the `baton-sandbox` crate, the sync
//! engine `baton-sync`, the file format `baton-c1z` and the ConductorOne API `baton-c1api`; this
//! crate puts them together for one program:
//!
//! - [`settings`]: the component's declared configuration schema -> flags, `BATON_*` variables,
//!   validation, credentials.
//! - [`connector`]: one configured component, and the sync or change a run makes with it.
//! - [`outbound`]: how connections to the source are made (CA file, proxy, client
//!   certificate) and the remedy for a failure to reach it.
//! - [`provision`]: one-shot grant, revoke and create-account, looked up in a `.c1z`.
//! - [`inspect`]: reading a `.c1z` back (tables or JSON); [`capabilities`]: the capabilities
//!   document computed from the component's declarations.
//! - [`service`]: service mode: ConductorOne's task loop, token exchange, upload, health.
//! - [`runner`]: `serve --tenants FILE`: many tenants' components in one process, isolated.
//! - [`component`]: where the component comes from (file, built-in, `oci://`), `component
//!   push` and `component inspect`; [`registry`]: the OCI registry client and blob cache.
//! - [`args`]: every flag, and the one parse into a typed invocation; [`cli`]: the run;
//!   [`product`]: the program's identity, which `main.rs` gives.

pub mod args;
pub mod capabilities;
pub mod cli;
pub mod component;
pub mod conformance;
pub mod connector;
pub mod inspect;
pub mod limits;
pub mod outbound;
pub mod product;
pub mod provision;
pub mod registry;
pub mod runner;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod signature;
