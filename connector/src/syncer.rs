//! The connector's core: one [`ResourceSyncer`] per Confluence resource type, all with the same
//! verbs (list, entitlements, grants, grant, revoke), registered in [`Connector`], which routes
//! the world's calls to them. Like baton-sdk's connectorbuilder, a duplicate resource type is an
//! error and an unknown one is `not-found`.

use crate::client::Client;
use crate::settings;
use crate::transport::Transport;
use crate::types::{
    Capability, ConnectorError, Entitlement, EntitlementPage, Grant, GrantOutcome, GrantPage, Metadata, Resource,
    ResourceId, ResourcePage, ResourceType, ResourceTypeCapability, RevokeOutcome,
};
use crate::user::UserSyncer;
use serde::Deserialize;

/// What every resource-type module implements. Only `resource_type` and `list` are required;
/// the rest default to "nothing" (entitlements, grants) or "unsupported" (provisioning).
pub trait ResourceSyncer {
    /// The resource type this syncer owns.
    fn resource_type(&self) -> ResourceType;

    /// One page of resources.
    fn list(&self, client: &Client, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError>;

    /// One page of the entitlements a resource offers.
    fn entitlements(&self, _client: &Client, _resource: &Resource, _token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        Ok(EntitlementPage { items: vec![], next_page_token: None })
    }

    /// One page of the grants on a resource's entitlements.
    fn grants(&self, _client: &Client, _resource: &Resource, _token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        Ok(GrantPage { items: vec![], next_page_token: None })
    }

    /// Gives a principal an entitlement of this type's resources.
    fn grant(&self, _client: &Client, entitlement: &Entitlement, _principal: &Resource) -> Result<GrantOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("granting {} is not supported", entitlement.id)))
    }

    /// Removes a grant on this type's resources.
    fn revoke(&self, _client: &Client, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        Err(ConnectorError::Unimplemented(format!("revoking {} is not supported", grant.id)))
    }

    /// What this syncer can do.
    fn capabilities(&self) -> Vec<Capability> {
        vec![Capability::Sync]
    }
}

/// The Confluence connector: the registered syncers over one transport.
pub struct Connector<'t> {
    client: Client<'t>,
    syncers: Vec<Box<dyn ResourceSyncer>>,
}

impl<'t> Connector<'t> {
    /// The connector with every resource type registered.
    pub fn new(transport: &'t dyn Transport) -> Connector<'t> {
        Connector { client: Client::new(transport), syncers: all_syncers() }
    }

    /// The declared schema, auth and capabilities (no requests made).
    pub fn metadata() -> Metadata {
        let capabilities = all_syncers()
            .iter()
            .map(|s| ResourceTypeCapability { resource_type_id: s.resource_type().id, capabilities: s.capabilities() })
            .collect();
        settings::metadata(capabilities)
    }

    /// Checks the credentials: they must act as a known (not anonymous) user.
    pub fn validate(&self) -> Result<String, ConnectorError> {
        let me: CurrentUser = self.client.get_json("/rest/api/user/current")?;
        if me.kind.as_deref() != Some("known") || me.user_key.as_deref().unwrap_or("").is_empty() {
            return Err(ConnectorError::Unauthenticated(
                "Confluence treated the request as anonymous (GET /rest/api/user/current answered type \"anonymous\"): the credentials were not accepted; check the access token or username and password".into(),
            ));
        }
        let username = me.username.unwrap_or_default();
        Ok(format!("authenticated as {username} ({})", me.display_name.unwrap_or_else(|| username.clone())))
    }

    /// The resource types, in registration order.
    pub fn resource_types(&self) -> Vec<ResourceType> {
        self.syncers.iter().map(|s| s.resource_type()).collect()
    }

    pub fn list_resources(&self, type_id: &str, parent: Option<&ResourceId>, token: Option<&str>) -> Result<ResourcePage, ConnectorError> {
        self.syncer(type_id)?.list(&self.client, parent, token)
    }

    pub fn list_entitlements(&self, resource: &Resource, token: Option<&str>) -> Result<EntitlementPage, ConnectorError> {
        self.syncer(&resource.id.resource_type)?.entitlements(&self.client, resource, token)
    }

    pub fn list_grants(&self, resource: &Resource, token: Option<&str>) -> Result<GrantPage, ConnectorError> {
        self.syncer(&resource.id.resource_type)?.grants(&self.client, resource, token)
    }

    pub fn grant(&self, entitlement: &Entitlement, principal: &Resource) -> Result<GrantOutcome, ConnectorError> {
        self.syncer(&entitlement.resource.resource_type)?.grant(&self.client, entitlement, principal)
    }

    pub fn revoke(&self, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
        self.syncer(&grant.entitlement_resource.resource_type)?.revoke(&self.client, grant)
    }

    fn syncer(&self, type_id: &str) -> Result<&dyn ResourceSyncer, ConnectorError> {
        self.syncers
            .iter()
            .find(|s| s.resource_type().id == type_id)
            .map(|s| s.as_ref())
            .ok_or_else(|| ConnectorError::NotFound(format!("unknown resource type {type_id:?}")))
    }
}

/// Every syncer, checked for duplicate resource type ids (a programming error, caught by tests).
fn all_syncers() -> Vec<Box<dyn ResourceSyncer>> {
    let syncers: Vec<Box<dyn ResourceSyncer>> = vec![Box::new(UserSyncer)];
    debug_assert!(
        {
            let mut ids: Vec<String> = syncers.iter().map(|s| s.resource_type().id).collect();
            ids.sort();
            ids.windows(2).all(|w| w[0] != w[1])
        },
        "duplicate resource type"
    );
    syncers
}

/// The fields of `/rest/api/user/current` that validation reads.
#[derive(Deserialize)]
struct CurrentUser {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "userKey")]
    user_key: Option<String>,
    username: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::FakeTransport;

    #[test]
    fn validate_accepts_a_known_user() {
        let fake = FakeTransport::new(vec![FakeTransport::json(
            200,
            r#"{"type":"known","username":"admin","userKey":"abc","displayName":"Admin"}"#,
        )]);
        assert_eq!(Connector::new(&fake).validate().unwrap(), "authenticated as admin (Admin)");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/user/current"]);
    }

    #[test]
    fn validate_refuses_anonymous() {
        let fake = FakeTransport::new(vec![FakeTransport::json(200, r#"{"type":"anonymous","displayName":"Anonymous"}"#)]);
        let err = Connector::new(&fake).validate().unwrap_err();
        assert!(matches!(err, ConnectorError::Unauthenticated(ref m) if m.contains("anonymous")), "{err:?}");
    }

    #[test]
    fn unknown_resource_type_is_not_found() {
        let fake = FakeTransport::default();
        let err = Connector::new(&fake).list_resources("nope", None, None).unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound(_)));
    }

    #[test]
    fn metadata_declares_sync_for_every_type() {
        let meta = Connector::metadata();
        assert_eq!(meta.capabilities.len(), 1);
        assert_eq!(meta.capabilities[0].resource_type_id, "user");
    }
}
