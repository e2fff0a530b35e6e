//! What the sync engine reads back while a sync is being written: resources of a type (all,
//! one at a time, or a page), their count, and the principals grants name that are no
//! resource.

use super::rows::NamedPrincipals;
use super::{C1zWriter, WriteError, invalid, sqlite};
use prost::Message;
use rusqlite::params;

use crate::pb;

impl C1zWriter {
    /// The resources of one type written so far, in the order they were first written.
    pub fn resources_of_type(&self, resource_type: &str) -> Result<Vec<pb::Resource>, WriteError> {
        let mut all = Vec::new();
        self.each_resource_of_type(resource_type, |resource| all.push(resource))?;
        Ok(all)
    }

    /// Hands the resources of one type written so far to `each`, one at a time and in the
    /// order they were first written, without holding them all.
    pub fn each_resource_of_type(&self, resource_type: &str, each: impl FnMut(pb::Resource)) -> Result<(), WriteError> {
        self.each_stored_resource(resource_type, None, each)
    }

    /// At most `limit` resources of one type, from the `offset`-th on, in the order they were
    /// first written: a long list read back in batches, never all at once.
    pub fn resources_of_type_page(&self, resource_type: &str, offset: usize, limit: usize) -> Result<Vec<pb::Resource>, WriteError> {
        let mut page = Vec::new();
        self.each_stored_resource(resource_type, Some((offset, limit)), |resource| page.push(resource))?;
        Ok(page)
    }

    /// The resources of one type in the order they were first written (all of them, or
    /// `limit` from the `offset`-th on), decoded one row at a time.
    fn each_stored_resource(&self, resource_type: &str, window: Option<(usize, usize)>, mut each: impl FnMut(pb::Resource)) -> Result<(), WriteError> {
        let (offset, limit) = window.map(|(o, l)| (o as i64, l as i64)).unwrap_or((0, -1));
        let mut query = self
            .conn
            .prepare_cached("SELECT data FROM v1_resources WHERE sync_id = ?1 AND resource_type_id = ?2 ORDER BY id LIMIT ?3 OFFSET ?4")
            .map_err(sqlite("reading resources back"))?;
        let mut rows = query.query(params![self.sync_id, resource_type, limit, offset]).map_err(sqlite("reading resources back"))?;
        while let Some(row) = rows.next().map_err(sqlite("reading resources back"))? {
            let blob = row
                .get_ref(0)
                .map_err(sqlite("reading resources back"))?
                .as_blob()
                .map_err(|_| invalid("resource", resource_type, "its stored row is not a blob"))?;
            each(pb::Resource::decode(blob).map_err(|_| invalid("resource", resource_type, "its stored row does not decode"))?);
        }
        Ok(())
    }

    /// How many resources of one type are written so far.
    pub fn count_resources_of_type(&self, resource_type: &str) -> Result<usize, WriteError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM v1_resources WHERE sync_id = ?1 AND resource_type_id = ?2", params![self.sync_id, resource_type], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(sqlite("counting resources"))
    }

    /// The principals that grants written so far name but that are not resources of this sync,
    /// each once, ordered by type and id.
    pub fn principals_without_resource(&self) -> Result<Vec<pb::ResourceId>, WriteError> {
        match &self.named_principals {
            Some(named) => self.named_principals_without_resource(named),
            None => self.scanned_principals_without_resource(),
        }
    }

    /// [`principals_without_resource`](Self::principals_without_resource) from the principals
    /// noted while writing: one lookup in the resources' unique index per principal.
    fn named_principals_without_resource(&self, named: &NamedPrincipals) -> Result<Vec<pb::ResourceId>, WriteError> {
        let mut exists =
            self.conn.prepare("SELECT 1 FROM v1_resources WHERE external_id = ?1 AND sync_id = ?2").map_err(sqlite("finding principals without a resource"))?;
        let mut missing = Vec::new();
        for (resource_type, ids) in &named.by_type {
            for id in ids {
                let external_id = format!("{resource_type}:{id}");
                if !exists.exists(params![external_id, self.sync_id]).map_err(sqlite("finding principals without a resource"))? {
                    missing.push(pb::ResourceId { resource_type: resource_type.clone(), resource: id.clone(), ..Default::default() });
                }
            }
        }
        missing.sort_by(|a, b| (&a.resource_type, &a.resource).cmp(&(&b.resource_type, &b.resource)));
        Ok(missing)
    }

    /// [`principals_without_resource`](Self::principals_without_resource) by a scan of every
    /// grant row, for a reopened sync.
    fn scanned_principals_without_resource(&self) -> Result<Vec<pb::ResourceId>, WriteError> {
        let mut query = self
            .conn
            .prepare(
                "SELECT DISTINCT g.principal_resource_type_id, g.principal_resource_id FROM v1_grants g
                 WHERE g.sync_id = ?1 AND NOT EXISTS (
                   SELECT 1 FROM v1_resources r
                   WHERE r.sync_id = ?1 AND r.external_id = g.principal_resource_type_id || ':' || g.principal_resource_id)
                 ORDER BY 1, 2",
            )
            .map_err(sqlite("finding principals without a resource"))?;
        let rows = query
            .query_map(params![self.sync_id], |row| Ok(pb::ResourceId { resource_type: row.get(0)?, resource: row.get(1)?, ..Default::default() }))
            .map_err(sqlite("finding principals without a resource"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sqlite("finding principals without a resource"))
    }

    /// The KSUID of the sync being written.
    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }
}
