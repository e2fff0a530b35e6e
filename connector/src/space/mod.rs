//! The `space` resource type: Confluence spaces with the fourteen space-permission
//! entitlements, and their grants to users, groups and anonymous access. [`SpaceSyncer`] routes
//! each verb to the module that does that job:
//!
//! - [`catalogue`]: the fourteen permissions, their keys, REST pairs and slugs, entitlements.
//! - [`read`]: listing and reading spaces, reading who holds which permission (REST on 9.1+,
//!   JSON-RPC before), holders to principals, grants.
//! - [`write`](mod@write): granting and revoking (REST on 9.1+, JSON-RPC before and for group
//!   names with `/`), refusing a JSON-RPC change whose name is both a user and a group.

pub mod catalogue;
pub mod read;
pub mod write;

use crate::directory::ids::SPACE;
use crate::syncer::{Context, ResourceSyncer};
use crate::types::{
    Capability, ConnectorError, Entitlement, EntitlementPage, Grant, GrantPage, GrantResult, Resource, ResourceId, ResourcePage, ResourceType, RevokeOutcome,
};

/// Lists spaces, their permission entitlements and grants.
pub struct SpaceSyncer;

impl ResourceSyncer for SpaceSyncer {
    fn resource_type(&self) -> ResourceType {
        ResourceType {
            id: SPACE.into(),
            display_name: "Space".into(),
            description: "A Confluence space".into(),
            traits: vec![],
            skip_entitlements_and_grants: false,
        }
    }

    fn list(&self, cx: &Context, _parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        read::list(cx, token)
    }

    fn get(&self, cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        read::get(cx, &id.resource)
    }

    fn entitlements(&self, cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        Ok(EntitlementPage { items: catalogue::entitlements(resource, cx.options.compat), next_page_token: None })
    }

    fn grants(&self, cx: &Context, resource: &Resource, _token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        read::grants(cx, &resource.id.resource)
    }

    fn grant(&self, cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
        write::grant(cx, entitlement, principal)
    }

    fn revoke(&self, cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        write::revoke(cx, grant)
    }

    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync, Capability::Provision, Capability::TargetedSync]
    }
}

/// What the space tests share.
#[cfg(test)]
mod fixtures {
    use super::read::{ConfluenceSpace, space_resource};
    use crate::registry::tests::{connector, kv_with_version};
    use crate::settings::UserId;
    use crate::transport::FakeTransport;
    use crate::types::{Entitlement, Resource};

    pub fn space(key: &str) -> Resource {
        space_resource(ConfluenceSpace {
            id: Some(1),
            key: Some(key.into()),
            name: Some("Engineering".into()),
            kind: Some("global".into()),
            status: Some("current".into()),
        })
        .unwrap()
    }

    pub fn view(key: &str) -> Entitlement {
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        connector(&fake, &kv).list_entitlements(&space(key), None).unwrap().items.into_iter().find(|e| e.slug == "view").unwrap()
    }

    pub fn ada() -> Resource {
        crate::directory::users::user_resource(serde_json::from_str(r#"{"username":"ada","userKey":"k1"}"#).unwrap(), UserId::Username, None).unwrap()
    }

    /// The JSON-RPC methods a request called, for requests that are JSON-RPC calls.
    pub fn rpc_methods(fake: &FakeTransport) -> Vec<String> {
        fake.sent_paths().iter().filter_map(|p| p.strip_prefix("/rpc/json-rpc/confluenceservice-v2/").map(str::to_string)).collect()
    }
}
