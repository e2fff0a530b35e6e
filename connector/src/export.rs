//! The top layer, inside the component only: the WIT exports. Each call builds the registry's
//! [`Connector`] over the wasi-http transport and the host's store, and delegates. No state
//! survives between calls (the world's rule: calls are self-contained).

use crate::Connector;
use crate::baton::connector::config;
use crate::exports::baton::connector::connector::Guest;
use crate::kv::HostKv;
use crate::settings::Options;
use crate::types::{
    AccountInfo, ConnectorError, CreateAccountOutcome, Entitlement, EntitlementPage, Grant, GrantPage, GrantResult, Metadata, Resource, ResourceId,
    ResourcePage, ResourceType, RevokeOutcome,
};
use crate::wasi_http::WasiHttp;

struct Component;

fn with_connector<T>(call: impl FnOnce(&Connector) -> Result<T, ConnectorError>) -> Result<T, ConnectorError> {
    let transport = WasiHttp::from_config()?;
    let options = Options::read(config::get)?;
    call(&Connector::new(&transport, &HostKv, options))
}

impl Guest for Component {
    fn get_metadata() -> Metadata {
        Connector::metadata()
    }

    fn validate() -> Result<String, ConnectorError> {
        with_connector(|c| c.validate())
    }

    fn resource_types() -> Result<Vec<ResourceType>, ConnectorError> {
        Ok(Connector::all_resource_types())
    }

    fn list_resources(type_id: String, parent: Option<ResourceId>, token: Option<String>) -> Result<ResourcePage, ConnectorError> {
        with_connector(|c| c.list_resources(&type_id, parent.as_ref(), token.as_deref()))
    }

    fn get_resource(id: ResourceId, parent: Option<ResourceId>) -> Result<Resource, ConnectorError> {
        with_connector(|c| c.get_resource(&id, parent.as_ref()))
    }

    fn list_entitlements(resource: Resource, token: Option<String>) -> Result<EntitlementPage, ConnectorError> {
        with_connector(|c| c.list_entitlements(&resource, token.as_deref()))
    }

    fn list_grants(resource: Resource, token: Option<String>) -> Result<GrantPage, ConnectorError> {
        with_connector(|c| c.list_grants(&resource, token.as_deref()))
    }

    fn grant_entitlement(entitlement: Entitlement, principal: Resource) -> Result<GrantResult, ConnectorError> {
        with_connector(|c| c.grant(&entitlement, &principal))
    }

    fn revoke_grant(grant: Grant) -> Result<RevokeOutcome, ConnectorError> {
        with_connector(|c| c.revoke(&grant))
    }

    fn create_account(account: AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
        with_connector(|c| c.create_account(&account))
    }
}

crate::export!(Component with_types_in crate);
