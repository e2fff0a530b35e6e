//! The `capabilities` document baton connectors publish (`baton_capabilities.json`): protojson
//! of `c1.connector.v2.ConnectorCapabilities`, computed from what the component declares (its
//! resource types and per-type capabilities), never written by hand. The structs below are
//! declared in protobuf field order, so the JSON keys come out in the order protojson writes
//! them and the file diffs cleanly against one written by a Go connector (docs/c1z-and-c1.md
//! §3.7).

use baton_c1z::pb;
use baton_sandbox::wit;
use serde::Serialize;

const TYPE_PREFIX: &str = "type.googleapis.com/c1.connector.v2.";
const NO_PASSWORD: &str = "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD";

/// `ConnectorCapabilities`, wrapped in an `Any` (hence `@type`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(rename = "@type")]
    type_url: String,
    resource_type_capabilities: Vec<TypeCapabilities>,
    connector_capabilities: Vec<&'static str>,
    credential_details: CredentialDetails,
}

/// `ResourceTypeCapability`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TypeCapabilities {
    resource_type: ResourceType,
    capabilities: Vec<&'static str>,
    /// `CapabilityPermissions`: always `{}` here (no type declares permissions).
    permissions: Empty,
}

#[derive(Debug, Serialize)]
struct Empty {}

/// `ResourceType`, as protojson writes it (empty fields left out).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceType {
    id: String,
    display_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    traits: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation>,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
}

#[derive(Debug, Serialize)]
struct Annotation {
    #[serde(rename = "@type")]
    type_url: String,
}

/// `CredentialDetails`: `{}` unless accounts can be created.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    capability_account_provisioning: Option<CredentialOptions>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialOptions {
    supported_credential_options: Vec<&'static str>,
    preferred_credential_option: &'static str,
}

/// The enum number and protojson name of a capability.
fn capability_name(c: wit::Capability) -> (u8, &'static str) {
    match c {
        wit::Capability::Provision => (1, "CAPABILITY_PROVISION"),
        wit::Capability::Sync => (2, "CAPABILITY_SYNC"),
        wit::Capability::AccountProvisioning => (5, "CAPABILITY_ACCOUNT_PROVISIONING"),
        wit::Capability::TargetedSync => (11, "CAPABILITY_TARGETED_SYNC"),
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

fn resource_type(rt: &wit::ResourceType) -> ResourceType {
    let skip = rt.skip_entitlements_and_grants.then(|| Annotation { type_url: format!("{TYPE_PREFIX}SkipEntitlementsAndGrants") });
    ResourceType {
        id: rt.id.clone(),
        display_name: rt.display_name.clone(),
        traits: rt.traits.iter().map(|t| trait_name(*t)).collect(),
        annotations: skip.into_iter().collect(),
        description: rt.description.clone(),
    }
}

/// A type's capabilities in the order baton-sdk builds them: sync first, then the others by
/// enum number.
fn type_capabilities(declared: Option<&wit::ResourceTypeCapability>) -> Vec<(u8, &'static str)> {
    let mut caps: Vec<(u8, &str)> = declared.map(|d| d.capabilities.iter().map(|c| capability_name(*c)).collect()).unwrap_or_default();
    let sync = capability_name(wit::Capability::Sync);
    caps.sort_by_key(|c| (*c != sync, c.0));
    caps.dedup();
    caps
}

/// Each resource type (sorted by id) with its capabilities, and their union (by enum number).
struct Computed<'a> {
    per_type: Vec<(&'a wit::ResourceType, Vec<(u8, &'static str)>)>,
    all: Vec<(u8, &'static str)>,
}

fn compute<'a>(metadata: &wit::Metadata, types: &'a [wit::ResourceType]) -> Computed<'a> {
    let mut sorted: Vec<&wit::ResourceType> = types.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let per_type: Vec<_> = sorted.into_iter().map(|rt| (rt, type_capabilities(metadata.capabilities.iter().find(|c| c.resource_type_id == rt.id)))).collect();
    let mut all: Vec<(u8, &'static str)> = per_type.iter().flat_map(|(_, caps)| caps.iter().copied()).collect();
    all.sort();
    all.dedup();
    Computed { per_type, all }
}

/// The capabilities document: entries sorted by resource type id, the connector-wide list
/// (their union) by enum number.
pub fn document(metadata: &wit::Metadata, types: &[wit::ResourceType]) -> Document {
    let computed = compute(metadata, types);
    let resource_type_capabilities = computed
        .per_type
        .iter()
        .map(|(rt, caps)| TypeCapabilities { resource_type: resource_type(rt), capabilities: caps.iter().map(|c| c.1).collect(), permissions: Empty {} })
        .collect();
    Document {
        type_url: format!("{TYPE_PREFIX}ConnectorCapabilities"),
        resource_type_capabilities,
        credential_details: credential_details(&computed.all),
        connector_capabilities: computed.all.iter().map(|c| c.1).collect(),
    }
}

/// The same capabilities as protobuf, for the metadata ConductorOne receives in Hello.
pub fn proto(metadata: &wit::Metadata, types: &[wit::ResourceType]) -> pb::ConnectorCapabilities {
    let computed = compute(metadata, types);
    let numbers = |caps: &[(u8, &str)]| caps.iter().map(|c| i32::from(c.0)).collect::<Vec<i32>>();
    let no_password = pb::CapabilityDetailCredentialOption::NoPassword as i32;
    pb::ConnectorCapabilities {
        resource_type_capabilities: computed
            .per_type
            .iter()
            .map(|(rt, caps)| pb::ResourceTypeCapability {
                resource_type: Some(baton_sync::convert::resource_type(rt)),
                capabilities: numbers(caps),
                permissions: Some(pb::CapabilityPermissions::default()),
                ..Default::default()
            })
            .collect(),
        connector_capabilities: numbers(&computed.all),
        credential_details: Some(pb::CredentialDetails {
            capability_account_provisioning: credential_details(&computed.all).capability_account_provisioning.map(|_| {
                pb::CredentialDetailsAccountProvisioning { supported_credential_options: vec![no_password], preferred_credential_option: no_password }
            }),
            capability_credential_rotation: None,
        }),
    }
}

/// Accounts are created without a password handed back (the contract passes no credential
/// options, and the component never returns one), so that is the one credential option declared.
fn credential_details(all: &[(u8, &str)]) -> CredentialDetails {
    let provisioning = all.contains(&capability_name(wit::Capability::AccountProvisioning));
    CredentialDetails {
        capability_account_provisioning: provisioning
            .then_some(CredentialOptions { supported_credential_options: vec![NO_PASSWORD], preferred_credential_option: NO_PASSWORD }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::{Capability, ResourceTrait, ResourceTypeCapability as Declared};

    fn rt(id: &str, traits: Vec<ResourceTrait>, skip: bool) -> wit::ResourceType {
        wit::ResourceType { id: id.into(), display_name: id.to_uppercase(), description: String::new(), traits, skip_entitlements_and_grants: skip }
    }

    fn metadata(capabilities: Vec<Declared>) -> wit::Metadata {
        let auth = wit::Auth { origin_field: "hostname".into(), schemes: vec![] };
        wit::Metadata { display_name: "T".into(), description: String::new(), config: vec![], rules: vec![], auth, capabilities, egress: vec![] }
    }

    fn declared(id: &str, capabilities: Vec<Capability>) -> Declared {
        Declared { resource_type_id: id.into(), capabilities }
    }

    #[test]
    fn matches_the_protojson_layout_baton_writes() {
        let metadata = metadata(vec![
            declared("user", vec![Capability::AccountProvisioning, Capability::Sync]),
            declared("group", vec![Capability::Provision, Capability::Sync]),
        ]);
        let types = [rt("user", vec![ResourceTrait::User], true), rt("group", vec![ResourceTrait::Group], false)];
        let text = serde_json::to_string_pretty(&document(&metadata, &types)).unwrap();
        let expected = r#"{
  "@type": "type.googleapis.com/c1.connector.v2.ConnectorCapabilities",
  "resourceTypeCapabilities": [
    {
      "resourceType": {
        "id": "group",
        "displayName": "GROUP",
        "traits": [
          "TRAIT_GROUP"
        ]
      },
      "capabilities": [
        "CAPABILITY_SYNC",
        "CAPABILITY_PROVISION"
      ],
      "permissions": {}
    },
    {
      "resourceType": {
        "id": "user",
        "displayName": "USER",
        "traits": [
          "TRAIT_USER"
        ],
        "annotations": [
          {
            "@type": "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"
          }
        ]
      },
      "capabilities": [
        "CAPABILITY_SYNC",
        "CAPABILITY_ACCOUNT_PROVISIONING"
      ],
      "permissions": {}
    }
  ],
  "connectorCapabilities": [
    "CAPABILITY_PROVISION",
    "CAPABILITY_SYNC",
    "CAPABILITY_ACCOUNT_PROVISIONING"
  ],
  "credentialDetails": {
    "capabilityAccountProvisioning": {
      "supportedCredentialOptions": [
        "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
      ],
      "preferredCredentialOption": "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
    }
  }
}"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn the_protobuf_form_carries_the_same_numbers() {
        let metadata = metadata(vec![
            declared("user", vec![Capability::AccountProvisioning, Capability::Sync]),
            declared("group", vec![Capability::Provision, Capability::Sync]),
        ]);
        let types = [rt("user", vec![ResourceTrait::User], true), rt("group", vec![ResourceTrait::Group], false)];
        let caps = proto(&metadata, &types);
        let per_type: Vec<(String, Vec<i32>)> =
            caps.resource_type_capabilities.iter().map(|t| (t.resource_type.as_ref().unwrap().id.clone(), t.capabilities.clone())).collect();
        assert_eq!(per_type, [("group".to_string(), vec![2, 1]), ("user".to_string(), vec![2, 5])]);
        assert_eq!(caps.connector_capabilities, [1, 2, 5]);
        let provisioning = caps.credential_details.unwrap().capability_account_provisioning.unwrap();
        assert_eq!((provisioning.supported_credential_options, provisioning.preferred_credential_option), (vec![1], 1));
    }

    #[test]
    fn credential_details_are_empty_without_account_provisioning() {
        let metadata = metadata(vec![declared("space", vec![Capability::Sync])]);
        let text = serde_json::to_string(&document(&metadata, &[rt("space", vec![], false)])).unwrap();
        assert!(text.ends_with(r#""connectorCapabilities":["CAPABILITY_SYNC"],"credentialDetails":{}}"#), "{text}");
    }
}
