//! Shared fixtures for the integration tests: a small Confluence-like
//! dataset and helpers to look inside a written `.c1z` file.

#![allow(dead_code, deprecated)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use baton_c1z::pb::{self, resource_type::Trait, user_trait};
use baton_c1z::{C1zWriter, Summary, any};
use prost_types::{Struct, Value, value::Kind};

pub const MEMBER_OF_G2: &str = "group:g2:member";

pub fn resource_type(id: &str, name: &str, trait_: Trait) -> pb::ResourceType {
    pb::ResourceType { id: id.into(), display_name: name.into(), traits: vec![trait_ as i32], ..Default::default() }
}

pub fn rid(resource_type: &str, resource: &str) -> pb::ResourceId {
    pb::ResourceId { resource_type: resource_type.into(), resource: resource.into(), ..Default::default() }
}

fn string_value(s: &str) -> Value {
    Value { kind: Some(Kind::StringValue(s.into())) }
}

pub fn user(id: &str, name: &str, email: &str) -> pb::Resource {
    let trait_ = pb::UserTrait {
        emails: vec![user_trait::Email { address: email.into(), is_primary: true }],
        status: Some(user_trait::Status { status: user_trait::status::Status::Enabled as i32, details: String::new() }),
        account_type: user_trait::AccountType::Human as i32,
        login: email.into(),
        ..Default::default()
    };
    let profile = Struct { fields: BTreeMap::from([("email".to_string(), string_value(email)), ("id".to_string(), string_value(id))]) };
    pb::Resource {
        id: Some(rid("user", id)),
        display_name: name.into(),
        annotations: vec![any(&trait_)],
        profile: Some(profile),
        status: Some(pb::Status { status: pb::ResourceStatus::Enabled as i32, details: String::new() }),
        ..Default::default()
    }
}

pub fn group(id: &str, name: &str) -> pb::Resource {
    pb::Resource { id: Some(rid("group", id)), display_name: name.into(), annotations: vec![any(&pb::GroupTrait::default())], ..Default::default() }
}

pub fn member_entitlement(group: &pb::Resource, user_type: &pb::ResourceType) -> pb::Entitlement {
    let id = group.id.as_ref().map(|r| format!("group:{}:member", r.resource)).unwrap_or_default();
    pb::Entitlement {
        resource: Some(group.clone()),
        id,
        display_name: "member".into(),
        slug: "member".into(),
        grantable_to: vec![user_type.clone()],
        purpose: pb::entitlement::PurposeValue::Assignment as i32,
        ..Default::default()
    }
}

pub fn grant(ent: &pb::Entitlement, principal: pb::ResourceId, annotations: Vec<prost_types::Any>) -> pb::Grant {
    pb::Grant {
        id: format!("{}:{}:{}", ent.id, principal.resource_type, principal.resource),
        entitlement: Some(pb::Entitlement { id: ent.id.clone(), resource: ent.resource.clone(), ..Default::default() }),
        principal: Some(pb::Resource { id: Some(principal), ..Default::default() }),
        annotations,
        ..Default::default()
    }
}

/// Everything the round-trip test writes.
pub struct Dataset {
    pub resource_types: Vec<pb::ResourceType>,
    pub resources: Vec<pb::Resource>,
    pub entitlements: Vec<pb::Entitlement>,
    pub grants: Vec<pb::Grant>,
}

/// Users alice and bob, groups g1 and g2, their member entitlements, and grants:
/// alice in g1 (plain), g2 in g1 (expandable via g2 members), bob in g2 with a
/// GrantExpandable that only names a blank id (stripped, not stored).
pub fn dataset() -> Dataset {
    let mut user_rt = resource_type("user", "User", Trait::User);
    user_rt.annotations.push(any(&pb::SkipEntitlementsAndGrants::default()));
    let group_rt = resource_type("group", "Group", Trait::Group);
    let (g1, g2) = (group("g1", "Group One"), group("g2", "Group Two"));
    let (member_g1, member_g2) = (member_entitlement(&g1, &user_rt), member_entitlement(&g2, &user_rt));
    let expandable = pb::GrantExpandable { entitlement_ids: vec![MEMBER_OF_G2.into()], ..Default::default() };
    let blank = pb::GrantExpandable { entitlement_ids: vec!["  ".into()], ..Default::default() };
    let grants = vec![
        grant(&member_g1, rid("user", "alice"), vec![]),
        grant(&member_g1, rid("group", "g2"), vec![any(&pb::GrantImmutable::default()), any(&expandable)]),
        grant(&member_g2, rid("user", "bob"), vec![any(&blank)]),
    ];
    Dataset {
        resources: vec![user("alice", "Alice", "alice@example.com"), user("bob", "Bob", "bob@example.com"), g1, g2],
        resource_types: vec![user_rt, group_rt],
        entitlements: vec![member_g1, member_g2],
        grants,
    }
}

/// Writes `data` to `out` and returns the summary.
pub fn write_dataset(out: &Path, data: &Dataset) -> Summary {
    write_dataset_keeping(out, data, false)
}

/// Writes `data` to `out`, keeping the replaced file's latest full sync when `keep_previous`.
pub fn write_dataset_keeping(out: &Path, data: &Dataset, keep_previous: bool) -> Summary {
    let mut writer = C1zWriter::create(out).expect("create writer");
    writer.keep_previous_sync(keep_previous);
    data.resource_types.iter().for_each(|rt| writer.put_resource_type(rt).expect("resource type"));
    data.resources.iter().for_each(|r| writer.put_resource(r).expect("resource"));
    data.entitlements.iter().for_each(|e| writer.put_entitlement(e).expect("entitlement"));
    data.grants.iter().for_each(|g| writer.put_grant(g).expect("grant"));
    writer.finish().expect("finish")
}

/// Decompresses a `.c1z` by hand (no crate code) into `<dir>/raw.db`.
pub fn decompress_by_hand(c1z: &Path, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(c1z).expect("read c1z");
    assert_eq!(&bytes[..5], b"C1ZF\0");
    let db = zstd::decode_all(&bytes[5..]).expect("zstd");
    let path = dir.join("raw.db");
    std::fs::write(&path, db).expect("write raw db");
    path
}

/// Compresses a SQLite file into a `.c1z` by hand.
pub fn compress_by_hand(db: &Path, c1z: &Path) {
    let mut bytes = b"C1ZF\0".to_vec();
    bytes.extend(zstd::encode_all(std::fs::read(db).expect("read db").as_slice(), 3).expect("zstd"));
    std::fs::write(c1z, bytes).expect("write c1z");
}

/// File names in `dir`, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}
