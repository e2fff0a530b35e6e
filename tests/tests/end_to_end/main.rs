//! End-to-end tests: the real host binary, the real components (the Confluence connector and a
//! misbehaving probe), the simulator, and the `.c1z` read back. `make test` builds the binary
//! and the components first. Where new tests go:
//! - `sync`: what a sync produces and how it fails (output file, counts, statuses, auth);
//! - `sandbox`: what the sandbox guarantees (secrets, egress, memory, CPU);
//! - `https`: private CAs, wrong certificates, proxies, mutual TLS, pooled connections;
//! - `canary`: random credentials, then searched for in every log line, file and upload;
//! - `clock`: the wall clock set back and forward under `serve` and service mode;
//! - `access_model`: users, groups, spaces and permissions on every version profile;
//! - `c1z_file`: the output as other readers see it, the inspection commands, broken files;
//! - `baton_cli`: the official baton CLI reading our files on every version, our JSON as its
//!   document, and the Go connector's ids kept;
//! - `first_contact`: what a new user meets: network and base-URL errors, typos, help, the
//!   README's examples;
//! - `provisioning`: grant, revoke and create-account on every version profile;
//! - `global_permissions`: the site's global permissions, read under every answer shape, changed
//!   one operation at a time, the last System Administrator kept;
//! - `resilience`: retries, rate limits, bad answers, concurrency;
//! - `runner`: `serve --tenants`: many tenants in one process, hostile neighbours, metrics;
//! - `service`: service mode against a fake ConductorOne (tasks, upload, tokens, shutdown);
//! - `service_session`: a whole scripted C1 session, idle polling, dropped connections,
//!   debug logs and targeted syncs;
//! - `soak`: many tasks and scheduled syncs in one process, its memory and open files sampled.

mod access_model;
mod baton_cli;
mod c1z_file;
mod canary;
mod clock;
mod conformance;
mod first_contact;
mod global_permissions;
mod https;
mod provisioning;
pub mod python_example;
mod registry;
mod resilience;
mod runner;
mod sandbox;
mod service;
mod service_session;
mod soak;
mod sync;
mod util;
