//! The shape every resource type shares: the [`ResourceSyncer`] trait (list, get, entitlements,
//! grants, grant, revoke, create-account, capabilities) and the per-call [`Context`] each verb
//! gets: the Confluence client, the per-sync store, the options and the server version. The
//! registry that routes the world's calls to the syncers is `registry`.

use crate::client::Client;
use crate::kv::KeyValue;
use crate::settings::Options;
use crate::types::{
    AccountInfo, Capability, ConnectorError, CreateAccountOutcome, Entitlement, EntitlementPage, Grant, GrantPage, GrantResult, Resource, ResourceId,
    ResourcePage, ResourceType, RevokeOutcome,
};
use crate::version::{self, ServerVersion};

/// What one call works with.
pub struct Context<'t> {
    pub client: Client<'t>,
    pub kv: &'t dyn KeyValue,
    pub options: Options,
}

impl Context<'_> {
    /// The server's version (detected once per sync).
    pub fn version(&self) -> Result<ServerVersion, ConnectorError> {
        version::server_version(&self.client, self.kv)
    }
}

/// What every resource-type module implements. Only `resource_type` and `list` are required;
/// the rest default to "nothing" (entitlements, grants) or "unsupported" (provisioning).
pub trait ResourceSyncer {
    /// The resource type this syncer owns.
    fn resource_type(&self) -> ResourceType;

    /// One page of resources.
    fn list(&self, cx: &Context, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError>;

    /// One resource of this type, read from Confluence now (`not-found` when it has none).
    /// Types that implement it declare [`Capability::TargetedSync`].
    fn get(&self, _cx: &Context, id: &ResourceId, _parent: Option<&ResourceId>) -> Result<Resource, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("looking up a single {} resource is not supported", id.resource_type)))
    }

    /// One page of the entitlements a resource offers.
    fn entitlements(&self, _cx: &Context, _resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        Ok(EntitlementPage { items: vec![], next_page_token: None })
    }

    /// One page of the grants on a resource's entitlements.
    fn grants(&self, _cx: &Context, _resource: &Resource, _token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        Ok(GrantPage { items: vec![], next_page_token: None })
    }

    /// Gives a principal an entitlement of this type's resources.
    fn grant(&self, _cx: &Context, entitlement: &Entitlement, _principal: &Resource) -> Result<GrantResult, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("granting {} is not supported", entitlement.id)))
    }

    /// Removes a grant on this type's resources.
    fn revoke(&self, _cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("revoking {} is not supported", grant.id)))
    }

    /// Creates an account of this type.
    fn create_account(&self, _cx: &Context, account: &AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("creating {} resources is not supported", account.resource_type_id)))
    }

    /// What this syncer can do.
    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync]
    }
}
