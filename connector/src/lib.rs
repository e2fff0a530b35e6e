//! Confluence Data Center connector, compiled to a `wasm32-wasip2` component that implements the
//! `baton:connector` world (see `wit/connector.wit`).
//!
//! Layout: `export` adapts the WIT exports to [`Connector`]; `settings` declares the
//! configuration schema and reads it; `client` talks to Confluence (paths, paging, error
//! mapping) through the [`transport::Transport`] trait, whose only real implementation is
//! `wasi_http`; one module per Confluence resource type (`user`, `anonymous`, `group`, `space`) maps answers to resources,
//! entitlements and grants, each with the same [`syncer::ResourceSyncer`] shape. Everything but
//! `wasi_http` and `export` builds natively, so mapping and paging are unit-tested with a fake
//! transport.

wit_bindgen::generate!({
    path: "../wit",
    world: "baton:connector/connector-world",
    generate_all,
});

pub mod account;
pub mod anonymous;
pub mod client;
pub mod group;
pub mod guest_log;
pub mod kv;
pub mod settings;
pub mod space;
pub mod syncer;
pub mod transport;
pub mod user;
pub mod version;

#[cfg(target_arch = "wasm32")]
mod export;
#[cfg(target_arch = "wasm32")]
mod wasi_http;

pub use baton::connector::types;
pub use syncer::Connector;
