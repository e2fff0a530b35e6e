//! The v1 SQLite schema, verbatim from baton-sdk (table, column and index
//! names included), split into what the writer creates before loading rows
//! and what it creates after (docs/c1z-and-c1.md §2.4).

/// `CREATE TABLE` statements for all seven v1 tables.
pub(crate) const TABLES: &str = "
create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
);
create table if not exists v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
CREATE TABLE IF NOT EXISTS v1_connector_sessions (
    id integer primary key,
    sync_id text NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL
);
";

/// Unique indexes; created before loading because upserts need them.
pub(crate) const UNIQUE_INDEXES: &str = "
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
";

/// Non-unique lookup indexes; created after loading, which is much faster.
/// (The swapped-looking resource index names are the SDK's own.)
pub(crate) const DEFERRED_INDEXES: &str = "
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;
";

/// Tables a reader needs to answer its queries.
pub(crate) const REQUIRED_TABLES: &[&str] = &["v1_resource_types", "v1_resources", "v1_entitlements", "v1_sync_runs", "v1_grants"];
