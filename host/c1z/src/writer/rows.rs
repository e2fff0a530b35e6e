//! Storing rows: resource types, resources, entitlements and grants, each checked for what
//! baton's readers need, upserted, and committed in batches; and the principals grants name,
//! noted as they are written.

use super::{C1zWriter, WriteError, invalid, sqlite};
use std::collections::{HashMap, HashSet};

use prost::Message;
use rusqlite::params;

use crate::annotations::{find_annotation, take_annotations};
use crate::{pb, timefmt};

/// Rows per SQLite transaction before committing and starting a new one.
const ROWS_PER_COMMIT: u64 = 50_000;

/// The distinct principals grants name, by resource type, collected while grants are written
/// so the end of a sync need not scan every grant row to find them (bounded by the number of
/// principals, not of grants).
#[derive(Default)]
pub(super) struct NamedPrincipals {
    pub(super) by_type: HashMap<String, HashSet<String>>,
}

impl NamedPrincipals {
    pub(super) fn note(&mut self, principal: &pb::ResourceId) {
        match self.by_type.get_mut(&principal.resource_type) {
            Some(ids) => {
                if !ids.contains(&principal.resource) {
                    ids.insert(principal.resource.clone());
                }
            }
            None => {
                self.by_type.insert(principal.resource_type.clone(), HashSet::from([principal.resource.clone()]));
            }
        }
    }
}

impl C1zWriter {
    /// Stores a resource type; a later one with the same id replaces it.
    pub fn put_resource_type(&mut self, rt: &pb::ResourceType) -> Result<(), WriteError> {
        if rt.id.is_empty() {
            return Err(invalid("resource type", &rt.display_name, "id is empty"));
        }
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_resource_types (external_id, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| st.execute(params![rt.id, rt.encode_to_vec(), self.sync_id, now]))
            .map_err(sqlite("inserting a resource type"))?;
        self.row_written()
    }

    /// Stores a resource; a later one with the same type and id replaces it.
    pub fn put_resource(&mut self, resource: &pb::Resource) -> Result<(), WriteError> {
        let id = required_resource_id(resource.id.as_ref(), "resource", &resource.display_name)?;
        let external_id = format!("{}:{}", id.resource_type, id.resource);
        let parent = resource.parent_resource_id.as_ref();
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_resources (resource_type_id, external_id, parent_resource_type_id,
                   parent_resource_id, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   parent_resource_type_id = excluded.parent_resource_type_id,
                   parent_resource_id = excluded.parent_resource_id,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    id.resource_type,
                    external_id,
                    parent.map(|p| &p.resource_type),
                    parent.map(|p| &p.resource),
                    resource.encode_to_vec(),
                    self.sync_id,
                    now
                ])
            })
            .map_err(sqlite("inserting a resource"))?;
        self.row_written()
    }

    /// Stores an entitlement; `resource.id` must be set. A later one with the
    /// same id replaces it.
    pub fn put_entitlement(&mut self, ent: &pb::Entitlement) -> Result<(), WriteError> {
        if ent.id.is_empty() {
            return Err(invalid("entitlement", &ent.display_name, "id is empty"));
        }
        let resource = ent.resource.as_ref();
        let resource_id = required_resource_id(resource.and_then(|r| r.id.as_ref()), "entitlement", &ent.id)
            .map_err(|_| invalid("entitlement", &ent.id, "resource.id is missing"))?;
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_entitlements (resource_type_id, resource_id, external_id, data,
                   sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   resource_id = excluded.resource_id,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| st.execute(params![resource_id.resource_type, resource_id.resource, ent.id, ent.encode_to_vec(), self.sync_id, now]))
            .map_err(sqlite("inserting an entitlement"))?;
        self.row_written()
    }

    /// Stores a grant; `entitlement`, `entitlement.resource.id` and
    /// `principal.id` must be set. A GrantExpandable annotation is moved out
    /// of the blob into the `expansion` column, as the SDK does (docs/c1z-and-c1.md §2.8).
    pub fn put_grant(&mut self, grant: &pb::Grant) -> Result<(), WriteError> {
        let keys = GrantKeys::of(grant)?;
        let (expansion, blob) = split_expansion(grant)?;
        let now = timefmt::now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO v1_grants (resource_type_id, resource_id, entitlement_id,
                   principal_resource_type_id, principal_resource_id, external_id, expansion,
                   needs_expansion, data, sync_id, discovered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (external_id, sync_id) DO UPDATE SET
                   resource_type_id = excluded.resource_type_id,
                   resource_id = excluded.resource_id,
                   entitlement_id = excluded.entitlement_id,
                   principal_resource_type_id = excluded.principal_resource_type_id,
                   principal_resource_id = excluded.principal_resource_id,
                   expansion = excluded.expansion,
                   needs_expansion = excluded.needs_expansion,
                   data = excluded.data, discovered_at = excluded.discovered_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    keys.resource.resource_type,
                    keys.resource.resource,
                    keys.entitlement_id,
                    keys.principal.resource_type,
                    keys.principal.resource,
                    grant.id,
                    expansion.as_deref(),
                    expansion.is_some(),
                    blob,
                    self.sync_id,
                    now
                ])
            })
            .map_err(sqlite("inserting a grant"))?;
        if let Some(named) = &mut self.named_principals {
            named.note(keys.principal);
        }
        self.row_written()
    }

    /// Counts a row and commits every [`ROWS_PER_COMMIT`] rows.
    fn row_written(&mut self) -> Result<(), WriteError> {
        self.rows_since_commit += 1;
        if self.rows_since_commit >= ROWS_PER_COMMIT {
            self.commit_and_begin("committing a batch of rows")?;
        }
        Ok(())
    }
}

pub(super) fn required_resource_id<'a>(id: Option<&'a pb::ResourceId>, kind: &'static str, label: &str) -> Result<&'a pb::ResourceId, WriteError> {
    match id {
        None => Err(invalid(kind, label, "id is missing")),
        Some(id) if id.resource_type.is_empty() || id.resource.is_empty() => Err(invalid(kind, label, "id.resource_type or id.resource is empty")),
        Some(id) => Ok(id),
    }
}

/// The grant fields that fill the derived columns of `v1_grants`.
struct GrantKeys<'a> {
    entitlement_id: &'a str,
    resource: &'a pb::ResourceId,
    principal: &'a pb::ResourceId,
}

impl<'a> GrantKeys<'a> {
    fn of(grant: &'a pb::Grant) -> Result<Self, WriteError> {
        let fail = |reason| invalid("grant", &grant.id, reason);
        if grant.id.is_empty() {
            return Err(fail("id is empty"));
        }
        let entitlement = grant.entitlement.as_ref().ok_or_else(|| fail("entitlement is missing"))?;
        if entitlement.id.is_empty() {
            return Err(fail("entitlement.id is empty"));
        }
        let resource = entitlement.resource.as_ref().and_then(|r| r.id.as_ref()).ok_or_else(|| fail("entitlement.resource.id is missing"))?;
        let principal = grant.principal.as_ref().and_then(|p| p.id.as_ref()).ok_or_else(|| fail("principal.id is missing"))?;
        Ok(GrantKeys { entitlement_id: &entitlement.id, resource, principal })
    }
}

/// Splits a grant into (expansion column, data blob): any GrantExpandable is
/// removed from the blob; the column holds it only if it names a non-blank
/// entitlement id.
pub(super) fn split_expansion(grant: &pb::Grant) -> Result<(Option<Vec<u8>>, Vec<u8>), WriteError> {
    let expandable: Option<pb::GrantExpandable> =
        find_annotation(&grant.annotations).map_err(|source| WriteError::BadExpandable { grant_id: grant.id.clone(), source })?;
    let Some(expandable) = expandable else {
        return Ok((None, grant.encode_to_vec()));
    };
    let mut stripped = grant.clone();
    take_annotations::<pb::GrantExpandable>(&mut stripped.annotations);
    let has_target = expandable.entitlement_ids.iter().any(|id| !id.trim().is_empty());
    let column = has_target.then(|| expandable.encode_to_vec());
    Ok((column, stripped.encode_to_vec()))
}
