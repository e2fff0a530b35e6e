//! From the connector contract's types (WIT) to baton's protobuf messages, as the baton SDK
//! would build them: traits as annotations (and their status/profile also on the resource, for
//! both old and new readers), `SkipEntitlementsAndGrants` on types, full resources inside
//! entitlements, and `GrantExpandable` on grants that pass to a group's members
//! (docs/c1z-and-c1.md §3).

use baton_c1z::any;
use baton_c1z::pb;
use baton_sandbox::wit;
use prost_types::value::Kind;
use std::collections::BTreeMap;

/// The protobuf resource type.
pub fn resource_type(rt: &wit::ResourceType) -> pb::ResourceType {
    let mut annotations = Vec::new();
    if rt.skip_entitlements_and_grants {
        annotations.push(any(&pb::SkipEntitlementsAndGrants {}));
    }
    pb::ResourceType {
        id: rt.id.clone(),
        display_name: rt.display_name.clone(),
        traits: rt.traits.iter().map(|t| trait_of(*t) as i32).collect(),
        annotations,
        description: rt.description.clone(),
        ..Default::default()
    }
}

fn trait_of(t: wit::ResourceTrait) -> pb::resource_type::Trait {
    match t {
        wit::ResourceTrait::User => pb::resource_type::Trait::User,
        wit::ResourceTrait::Group => pb::resource_type::Trait::Group,
        wit::ResourceTrait::Role => pb::resource_type::Trait::Role,
        wit::ResourceTrait::App => pb::resource_type::Trait::App,
    }
}

/// The protobuf resource id.
pub fn resource_id(id: &wit::ResourceId) -> pb::ResourceId {
    pb::ResourceId { resource_type: id.resource_type.clone(), resource: id.resource.clone(), ..Default::default() }
}

/// The protobuf resource, with its trait annotations.
#[allow(deprecated)] // GroupTrait.profile: still read by baton 0.7.27-era readers
pub fn resource(r: &wit::Resource) -> pb::Resource {
    let profile = profile(&r.profile);
    let mut annotations = Vec::new();
    if let Some(user) = &r.user {
        annotations.push(any(&user_trait(user, profile.clone())));
    }
    if r.group.is_some() {
        annotations.push(any(&pb::GroupTrait { profile: profile.clone(), ..Default::default() }));
    }
    if let Some(url) = r.external_link.as_ref().filter(|u| u.starts_with("https://")) {
        annotations.push(any(&pb::ExternalLink { url: url.clone() }));
    }
    pb::Resource {
        id: Some(resource_id(&r.id)),
        parent_resource_id: r.parent.as_ref().map(resource_id),
        display_name: r.display_name.clone(),
        annotations,
        description: r.description.clone(),
        profile,
        status: Some(pb::Status { status: resource_status(r.status) as i32, details: String::new() }),
        ..Default::default()
    }
}

#[allow(deprecated)] // UserTrait.status/profile: still read by baton 0.7.27-era readers
fn user_trait(user: &wit::UserTrait, profile: Option<prost_types::Struct>) -> pb::UserTrait {
    pb::UserTrait {
        emails: user.emails.iter().map(|e| pb::user_trait::Email { address: e.address.clone(), is_primary: e.is_primary }).collect(),
        status: Some(pb::user_trait::Status { status: user_status(user.status) as i32, details: String::new() }),
        profile,
        account_type: account_type(user.account_type) as i32,
        login: user.login.clone(),
        ..Default::default()
    }
}

fn resource_status(s: wit::Status) -> pb::ResourceStatus {
    match s {
        wit::Status::Unspecified => pb::ResourceStatus::Unspecified,
        wit::Status::Enabled => pb::ResourceStatus::Enabled,
        wit::Status::Disabled => pb::ResourceStatus::Disabled,
        wit::Status::Deleted => pb::ResourceStatus::Deleted,
    }
}

fn user_status(s: wit::Status) -> pb::user_trait::status::Status {
    use pb::user_trait::status::Status;
    match s {
        wit::Status::Unspecified => Status::Unspecified,
        wit::Status::Enabled => Status::Enabled,
        wit::Status::Disabled => Status::Disabled,
        wit::Status::Deleted => Status::Deleted,
    }
}

fn account_type(a: wit::AccountType) -> pb::user_trait::AccountType {
    use pb::user_trait::AccountType;
    match a {
        wit::AccountType::Unspecified => AccountType::Unspecified,
        wit::AccountType::Human => AccountType::Human,
        wit::AccountType::Service => AccountType::Service,
        wit::AccountType::System => AccountType::System,
    }
}

/// Profile fields as a `google.protobuf.Struct`; none when empty.
fn profile(fields: &[wit::ProfileField]) -> Option<prost_types::Struct> {
    if fields.is_empty() {
        return None;
    }
    let fields: BTreeMap<String, prost_types::Value> = fields
        .iter()
        .map(|f| {
            let kind = match &f.value {
                wit::ProfileValue::Text(s) => Kind::StringValue(s.clone()),
                wit::ProfileValue::Number(n) => Kind::NumberValue(*n),
                wit::ProfileValue::Flag(b) => Kind::BoolValue(*b),
            };
            (f.key.clone(), prost_types::Value { kind: Some(kind) })
        })
        .collect();
    Some(prost_types::Struct { fields })
}

/// The protobuf entitlement, embedding the full resource it is on and the full types it is
/// grantable to.
pub fn entitlement(e: &wit::Entitlement, on: &pb::Resource, types: &BTreeMap<String, pb::ResourceType>) -> pb::Entitlement {
    pb::Entitlement {
        resource: Some(on.clone()),
        id: e.id.clone(),
        display_name: e.display_name.clone(),
        description: e.description.clone(),
        grantable_to: e.grantable_to.iter().filter_map(|id| types.get(id).cloned()).collect(),
        annotations: Vec::new(),
        purpose: purpose(e.purpose) as i32,
        slug: e.slug.clone(),
    }
}

fn purpose(p: wit::Purpose) -> pb::entitlement::PurposeValue {
    use pb::entitlement::PurposeValue;
    match p {
        wit::Purpose::Unspecified => PurposeValue::Unspecified,
        wit::Purpose::Assignment => PurposeValue::Assignment,
        wit::Purpose::Permission => PurposeValue::Permission,
        wit::Purpose::Ownership => PurposeValue::Ownership,
    }
}

/// The resource a grant's entitlement embeds: the resource as written, less the copies of its
/// trait's status and profile on the resource itself (`profile`, `status`, which only newer
/// readers read, and from the resource's own row). The trait keeps them, as in the grants the
/// older Go connector writes; each grant row is about 140 bytes smaller for a group.
pub fn embedded_in_grants(resource: &pb::Resource) -> pb::Resource {
    pb::Resource { profile: None, status: None, ..resource.clone() }
}

/// The protobuf grant: entitlement id with its resource (see [`embedded_in_grants`]), principal by id, expansion as a
/// `GrantExpandable` annotation (the writer moves it to its own column).
pub fn grant(g: &wit::Grant, entitlement_resource: &pb::Resource) -> pb::Grant {
    let mut annotations = Vec::new();
    if let Some(expansion) = &g.expansion {
        annotations.push(any(&pb::GrantExpandable {
            entitlement_ids: expansion.entitlement_ids.clone(),
            shallow: expansion.shallow,
            resource_type_ids: expansion.resource_type_ids.clone(),
        }));
    }
    pb::Grant {
        entitlement: Some(pb::Entitlement { resource: Some(entitlement_resource.clone()), id: g.entitlement_id.clone(), ..Default::default() }),
        principal: Some(pb::Resource { id: Some(resource_id(&g.principal)), ..Default::default() }),
        id: g.id.clone(),
        annotations,
        sources: None,
    }
}

/// Back from protobuf (a `.c1z`) to the contract, for provisioning calls: the resource id.
pub fn wit_resource_id(id: Option<&pb::ResourceId>) -> wit::ResourceId {
    let id = id.cloned().unwrap_or_default();
    wit::ResourceId { resource_type: id.resource_type, resource: id.resource }
}

/// A stored resource as the contract's resource, everything [`resource`] wrote carried back
/// (identity, names, status, traits with the account type, profile, https link), so what the
/// component is handed again is what it returned.
#[allow(deprecated)] // UserTrait.status: written beside the resource status, read back from it
pub fn wit_resource(r: &pb::Resource) -> wit::Resource {
    let resource_status = wit_status(r.status.as_ref().map(|s| s.status).unwrap_or(0));
    let user = baton_c1z::find_annotation::<pb::UserTrait>(&r.annotations).ok().flatten().map(|t| wit::UserTrait {
        status: t.status.as_ref().map(|s| wit_user_status(s.status)).unwrap_or(resource_status),
        account_type: wit_account_type(t.account_type),
        login: t.login,
        emails: t.emails.into_iter().map(|e| wit::Email { address: e.address, is_primary: e.is_primary }).collect(),
    });
    let group = baton_c1z::find_annotation::<pb::GroupTrait>(&r.annotations).ok().flatten().map(|t| wit::GroupTrait { source: t.group_source_type });
    wit::Resource {
        id: wit_resource_id(r.id.as_ref()),
        parent: r.parent_resource_id.as_ref().map(|p| wit_resource_id(Some(p))),
        display_name: r.display_name.clone(),
        description: r.description.clone(),
        status: resource_status,
        user,
        group,
        profile: wit_profile(r.profile.as_ref()),
        external_link: baton_c1z::find_annotation::<pb::ExternalLink>(&r.annotations).ok().flatten().map(|l| l.url),
    }
}

/// A protobuf profile's text, number and flag fields as the contract's profile fields.
pub fn wit_profile(profile: Option<&prost_types::Struct>) -> Vec<wit::ProfileField> {
    let Some(profile) = profile else { return Vec::new() };
    profile
        .fields
        .iter()
        .filter_map(|(key, value)| {
            let value = match value.kind.as_ref()? {
                Kind::StringValue(s) => wit::ProfileValue::Text(s.clone()),
                Kind::NumberValue(n) => wit::ProfileValue::Number(*n),
                Kind::BoolValue(b) => wit::ProfileValue::Flag(*b),
                _ => return None,
            };
            Some(wit::ProfileField { key: key.clone(), value })
        })
        .collect()
}

fn wit_user_status(status: i32) -> wit::Status {
    use pb::user_trait::status::Status;
    match Status::try_from(status) {
        Ok(Status::Enabled) => wit::Status::Enabled,
        Ok(Status::Disabled) => wit::Status::Disabled,
        Ok(Status::Deleted) => wit::Status::Deleted,
        _ => wit::Status::Unspecified,
    }
}

fn wit_account_type(account_type: i32) -> wit::AccountType {
    use pb::user_trait::AccountType;
    match AccountType::try_from(account_type) {
        Ok(AccountType::Human) => wit::AccountType::Human,
        Ok(AccountType::Service) => wit::AccountType::Service,
        Ok(AccountType::System) => wit::AccountType::System,
        _ => wit::AccountType::Unspecified,
    }
}

fn wit_status(status: i32) -> wit::Status {
    match pb::ResourceStatus::try_from(status) {
        Ok(pb::ResourceStatus::Enabled) => wit::Status::Enabled,
        Ok(pb::ResourceStatus::Disabled) => wit::Status::Disabled,
        Ok(pb::ResourceStatus::Deleted) => wit::Status::Deleted,
        _ => wit::Status::Unspecified,
    }
}

/// A stored entitlement as the contract's entitlement.
pub fn wit_entitlement(e: &pb::Entitlement) -> wit::Entitlement {
    let purpose = match pb::entitlement::PurposeValue::try_from(e.purpose) {
        Ok(pb::entitlement::PurposeValue::Assignment) => wit::Purpose::Assignment,
        Ok(pb::entitlement::PurposeValue::Permission) => wit::Purpose::Permission,
        Ok(pb::entitlement::PurposeValue::Ownership) => wit::Purpose::Ownership,
        _ => wit::Purpose::Unspecified,
    };
    wit::Entitlement {
        id: e.id.clone(),
        resource: wit_resource_id(e.resource.as_ref().and_then(|r| r.id.as_ref())),
        slug: e.slug.clone(),
        display_name: e.display_name.clone(),
        description: e.description.clone(),
        purpose,
        grantable_to: e.grantable_to.iter().map(|t| t.id.clone()).collect(),
    }
}

/// A stored grant as the contract's grant.
pub fn wit_grant(g: &pb::Grant) -> wit::Grant {
    let entitlement = g.entitlement.clone().unwrap_or_default();
    let expansion = baton_c1z::find_annotation::<pb::GrantExpandable>(&g.annotations).ok().flatten().map(|e| wit::Expansion {
        entitlement_ids: e.entitlement_ids,
        shallow: e.shallow,
        resource_type_ids: e.resource_type_ids,
    });
    wit::Grant {
        id: g.id.clone(),
        entitlement_id: entitlement.id.clone(),
        entitlement_resource: wit_resource_id(entitlement.resource.as_ref().and_then(|r| r.id.as_ref())),
        principal: wit_resource_id(g.principal.as_ref().and_then(|p| p.id.as_ref())),
        expansion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::find_annotation;

    fn user() -> wit::Resource {
        wit::Resource {
            id: wit::ResourceId { resource_type: "user".into(), resource: "ada".into() },
            parent: None,
            display_name: "Ada".into(),
            description: String::new(),
            status: wit::Status::Disabled,
            user: Some(wit::UserTrait { login: "ada".into(), emails: vec![], status: wit::Status::Disabled, account_type: wit::AccountType::Human }),
            group: None,
            profile: vec![wit::ProfileField { key: "user_key".into(), value: wit::ProfileValue::Text("k1".into()) }],
            external_link: Some("http://not-https".into()),
        }
    }

    #[test]
    #[allow(deprecated)]
    fn users_carry_the_trait_status_and_profile_twice() {
        let r = resource(&user());
        let trait_: pb::UserTrait = find_annotation(&r.annotations).unwrap().expect("user trait");
        assert_eq!(trait_.login, "ada");
        assert_eq!(trait_.status.unwrap().status, pb::user_trait::status::Status::Disabled as i32);
        assert_eq!(r.status.unwrap().status, pb::ResourceStatus::Disabled as i32);
        assert!(r.profile.unwrap().fields.contains_key("user_key"));
        assert!(trait_.profile.is_some());
        assert_eq!(r.annotations.len(), 1, "non-https links are not annotated");
    }

    /// What the engine hands back to the component is what the component returned.
    #[test]
    fn a_resource_survives_the_trip_through_the_file() {
        let mut service = user();
        service.parent = Some(wit::ResourceId { resource_type: "org".into(), resource: "o1".into() });
        service.external_link = Some("https://wiki.example.com/u/ada".into());
        service.description = "a bot".into();
        let trait_ = service.user.as_mut().unwrap();
        trait_.account_type = wit::AccountType::Service;
        trait_.emails = vec![wit::Email { address: "ada@example.com".into(), is_primary: true }];
        service.profile.push(wit::ProfileField { key: "seats".into(), value: wit::ProfileValue::Number(3.0) });
        service.profile.push(wit::ProfileField { key: "admin".into(), value: wit::ProfileValue::Flag(true) });
        let back = wit_resource(&resource(&service));
        assert_eq!(format!("{back:?}"), format!("{:?}", sorted_profile(service)));
        let group = wit::Resource {
            user: None,
            group: Some(wit::GroupTrait { source: String::new() }),
            id: wit::ResourceId { resource_type: "group".into(), resource: "eng".into() },
            external_link: None, // only https links are kept (see `resource`)
            ..user()
        };
        assert_eq!(format!("{:?}", wit_resource(&resource(&group))), format!("{:?}", sorted_profile(group)));
    }

    /// Profiles come back in key order (a protobuf Struct is a map).
    fn sorted_profile(mut r: wit::Resource) -> wit::Resource {
        r.profile.sort_by(|a, b| a.key.cmp(&b.key));
        r
    }
}
