//! `confluence_sim`: an in-process simulator of a self-hosted Confluence Data Center REST
//! API, faithful to the shapes in `docs/confluence-dc.md`, for end-to-end tests of the
//! connector. Start one with [`Simulator::start`] or [`Simulator::start_background`].
//!
//! Modules: `config` (knobs, version gating), `dataset` (initial users, groups, spaces,
//! permissions, global permissions and the expected sync result), `permissions` (space
//! permission keys, global permission pairs), `state` (shared mutable state), `auth`,
//! `request`/`responses` (HTTP plumbing), `paging`, `routes` (endpoints), `recording` (request
//! log, one-shot faults), `fault_plan` (configurable faults: latency, 429/503, dropped
//! connections, broken bodies, a token bucket),
//! `connection` (connections the fault plan can cut), `server` (the running simulator),
//! `xsrf` (the X-Atlassian-Token rule for writes), `mutations` (membership, permission and
//! user writes to the directory), `new_user` (create-user validation), `tls` (a private CA and
//! the HTTPS accept loop), `forward_proxy` (a CONNECT proxy that alone resolves some names),
//! `directory_sim` (a small JSON directory service: the Python example connector's target),
//! `running` (what keeps a test server serving until its handle is dropped).

pub mod auth;
pub mod config;
pub mod connection;
pub mod cut_proxy;
pub mod dataset;
pub mod directory_sim;
pub mod fake_c1;
pub mod fault_plan;
pub mod forward_proxy;
pub mod mutations;
pub mod new_user;
pub mod paging;
pub mod permissions;
pub mod recording;
pub mod request;
pub mod responses;
pub mod routes;
pub mod running;
pub mod server;
pub mod state;
pub mod tls;
pub mod xsrf;

#[cfg(test)]
mod tests;

pub use config::{
    Capability, FOREIGN_ORIGIN, GlobalListStyle, GroupSubjectStyle, LinkStyle, ServerVersion, SimConfig, SimTls, SpaceAnonymousSubject, UserSubjectStyle,
    VERSION_PROFILES,
};
pub use dataset::{
    ADMIN_TOKEN, ADMIN_USER_KEY, Dataset, Expected, SimGlobalPermission, SimGroup, SimPermission, SimSpace, SimUser, Subject, default_password_for, token_for,
    user_key_for,
};
pub use fault_plan::{FaultPlan, MALFORMED_BODY, TokenBucket};
pub use mutations::{GlobalChange, WriteError};
pub use new_user::{FieldError, NewUser};
pub use permissions::{GLOBAL_PERMISSION_PAIRS, SPACE_PERMISSION_KEYS, is_known_key, legacy_key, rest_operation};
pub use recording::{Fault, RecordedRequest};
pub use server::{Simulator, router};
pub use state::{Directory, SimState};
