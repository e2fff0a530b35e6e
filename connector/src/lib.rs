//! Confluence Data Center connector, compiled to a `wasm32-wasip2` component that implements the
//! `baton:connector` world (see `wit/connector.wit`).
//!
//! Layers, each using only the ones below it:
//!
//! 1. Bottom: `transport` (the [`transport::Transport`] seam; its only real implementation is
//!    `wasi_http`), `client` (paths, paging, JSON-RPC, error mapping), `settings` (the
//!    configuration schema and options), `version` (which Confluence this is), `kv` (the
//!    per-sync store), `page_token` (the one typed page token), `guest_log`, and `syncer` (the
//!    [`syncer::ResourceSyncer`] shape and the per-call [`syncer::Context`]).
//! 2. `directory`: what several resource types share: the ids, the store's key names, paging
//!    through whole lists, profile fields, users and groups as Confluence knows them.
//! 3. Resource types, one module each, all with the same [`syncer::ResourceSyncer`] shape and
//!    none using another: `user` (with `account` for create-account), `anonymous`, `group`,
//!    `space` (catalogue, read, write), `site` (global permissions: catalogue, read, write).
//! 4. `registry`: the [`Connector`] that routes the world's calls to the resource types.
//! 5. `export`: the WIT exports, adapted to [`Connector`] (inside the component only).
//!
//! Everything but `wasi_http` and `export` builds natively, so mapping and paging are
//! unit-tested with a fake transport and an in-memory store (both exist only in test builds).

wit_bindgen::generate!({
    path: "../wit",
    world: "baton:connector/connector-world",
    generate_all,
});

pub mod account;
pub mod anonymous;
pub mod client;
pub mod declared;
pub mod directory;
pub mod group;
pub mod guest_log;
pub mod kv;
pub mod page_token;
pub mod registry;
pub mod settings;
pub mod site;
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
pub use registry::Connector;
