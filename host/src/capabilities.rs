//! The `capabilities` document baton connectors publish (`baton_capabilities.json`): protojson
//! of `c1.connector.v2.ConnectorCapabilities`, computed from what the component declares (its
//! resource types and per-type capabilities), never written by hand.

use crate::runtime::wit;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const TYPE_PREFIX: &str = "type.googleapis.com/c1.connector.v2.";

fn capability_name(c: wit::Capability) -> (u8, &'static str) {
    match c {
        wit::Capability::Provision => (1, "CAPABILITY_PROVISION"),
        wit::Capability::Sync => (2, "CAPABILITY_SYNC"),
        wit::Capability::AccountProvisioning => (5, "CAPABILITY_ACCOUNT_PROVISIONING"),
    }
}

fn trait_name(t: wit::ResourceTrait) -> &'static str {
    match t {
        wit::ResourceTrait::User => "TRAIT_USER",
        wit::ResourceTrait::Group => "TRAIT_GROUP",
        wit::ResourceTrait::Role => "TRAIT_ROLE",
        wit::ResourceTrait::App => "TRAIT_APP",
    }
}

fn resource_type_json(rt: &wit::ResourceType) -> Value {
    let mut value = json!({"id": rt.id, "displayName": rt.display_name});
    if !rt.traits.is_empty() {
        value["traits"] = json!(rt.traits.iter().map(|t| trait_name(*t)).collect::<Vec<_>>());
    }
    if rt.skip_entitlements_and_grants {
        value["annotations"] = json!([{"@type": format!("{TYPE_PREFIX}SkipEntitlementsAndGrants")}]);
    }
    if !rt.description.is_empty() {
        value["description"] = json!(rt.description);
    }
    value
}

/// The capabilities document, entries sorted by resource type id and capabilities by number.
pub fn document(metadata: &wit::Metadata, types: &[wit::ResourceType]) -> Value {
    let mut sorted: Vec<&wit::ResourceType> = types.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut all = BTreeSet::new();
    let per_type: Vec<Value> = sorted
        .iter()
        .map(|rt| {
            let declared = metadata.capabilities.iter().find(|c| c.resource_type_id == rt.id);
            let mut caps: Vec<(u8, &str)> = declared.map(|d| d.capabilities.iter().map(|c| capability_name(*c)).collect()).unwrap_or_default();
            caps.sort();
            caps.dedup();
            all.extend(caps.iter().copied());
            json!({"resourceType": resource_type_json(rt), "capabilities": caps.iter().map(|c| c.1).collect::<Vec<_>>(), "permissions": {}})
        })
        .collect();
    json!({
        "@type": format!("{TYPE_PREFIX}ConnectorCapabilities"),
        "resourceTypeCapabilities": per_type,
        "connectorCapabilities": all.iter().map(|c| c.1).collect::<Vec<_>>(),
        "credentialDetails": credential_details(&all),
    })
}

/// Accounts are created without a password (the contract passes no credential options, and the
/// component never hands one back), so that is the one credential option declared.
fn credential_details(all: &BTreeSet<(u8, &str)>) -> Value {
    if !all.contains(&capability_name(wit::Capability::AccountProvisioning)) {
        return json!({});
    }
    let no_password = "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD";
    json!({"capabilityAccountProvisioning": {"supportedCredentialOptions": [no_password], "preferredCredentialOption": no_password}})
}
