//! Messages in protobuf's JSON mapping, the way baton's tools print them (`-o json`): field names
//! in lowerCamelCase, enums by name, 64-bit integers as strings, defaults left out, and each
//! annotation (`google.protobuf.Any`) inline with its `@type`. The descriptors come from the
//! crate's own `.proto` files (compiled by build.rs); an annotation of a type they lack (a file
//! written by another connector) is shown as its `@type` alone instead of failing the output.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};
use std::sync::OnceLock;

/// The descriptors of every message a `.c1z` row or annotation of ours can hold.
pub fn descriptors() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/c1_descriptors.bin"))[..])
            .expect("the descriptors build.rs compiled from proto/ decode")
    })
}

/// `message` (a generated `c1.connector.v2` type) as protobuf JSON.
pub fn to_json<M: Message + prost::Name>(message: &M) -> serde_json::Value {
    let Some(descriptor) = descriptors().get_message_by_name(&M::full_name()) else {
        return serde_json::Value::Null;
    };
    let Ok(mut dynamic) = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()) else {
        return serde_json::Value::Null;
    };
    let mut unknown = Vec::new();
    blank_unknown_annotations(&mut dynamic, &mut unknown);
    let mut json = serde_json::to_value(&dynamic).unwrap_or(serde_json::Value::Null);
    if !unknown.is_empty() {
        name_blanked_annotations(&mut json, &mut unknown.into_iter());
    }
    json
}

const ANY: &str = "google.protobuf.Any";
/// What a blanked annotation's `@type` says until [`name_blanked_annotations`] restores it.
const BLANKED: &str = "type.googleapis.com/google.protobuf.Empty";

/// Replaces every `Any` (at any depth) whose type the descriptors lack with an empty message
/// that serialises, remembering the original type URLs in walk order.
fn blank_unknown_annotations(message: &mut DynamicMessage, unknown: &mut Vec<String>) {
    if message.descriptor().full_name() == ANY {
        let type_url = message.get_field_by_name("type_url").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let known = type_url.rsplit_once('/').is_some_and(|(_, name)| descriptors().get_message_by_name(name).is_some());
        if !known {
            unknown.push(type_url);
            message.set_field_by_name("type_url", Value::String(BLANKED.into()));
            message.set_field_by_name("value", Value::Bytes(Default::default()));
        }
        return;
    }
    for (_, value) in message.fields_mut() {
        match value {
            Value::Message(inner) => blank_unknown_annotations(inner, unknown),
            Value::List(items) => items.iter_mut().filter_map(Value::as_message_mut).for_each(|inner| blank_unknown_annotations(inner, unknown)),
            _ => {}
        }
    }
}

/// Puts the remembered type URLs back in place of the blanks, in the same walk order.
fn name_blanked_annotations(json: &mut serde_json::Value, unknown: &mut impl Iterator<Item = String>) {
    match json {
        serde_json::Value::Object(map) => {
            if map.get("@type").and_then(|t| t.as_str()) == Some(BLANKED) {
                if let Some(original) = unknown.next() {
                    map.insert("@type".into(), serde_json::Value::String(original));
                    map.remove("value");
                }
                return;
            }
            map.values_mut().for_each(|v| name_blanked_annotations(v, unknown));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| name_blanked_annotations(v, unknown)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{any, pb};

    #[test]
    #[allow(deprecated)] // UserTrait.status: deprecated in baton's proto, still what it prints
    fn a_resource_prints_as_baton_prints_it() {
        let user = pb::Resource {
            id: Some(pb::ResourceId { resource_type: "user".into(), resource: "ada".into(), ..Default::default() }),
            display_name: "Ada".into(),
            annotations: vec![any(&pb::UserTrait {
                status: Some(pb::user_trait::Status { status: pb::user_trait::status::Status::Enabled as i32, details: String::new() }),
                login: "ada".into(),
                ..Default::default()
            })],
            ..Default::default()
        };
        assert_eq!(
            to_json(&user),
            serde_json::json!({
                "id": {"resourceType": "user", "resource": "ada"},
                "displayName": "Ada",
                "annotations": [{"@type": "type.googleapis.com/c1.connector.v2.UserTrait", "status": {"status": "STATUS_ENABLED"}, "login": "ada"}]
            })
        );
    }

    #[test]
    fn an_annotation_of_an_unknown_type_keeps_its_type_and_the_rest_prints() {
        let resource = pb::Resource {
            display_name: "x".into(),
            annotations: vec![prost_types::Any { type_url: "type.googleapis.com/other.Thing".into(), value: vec![8, 1] }],
            ..Default::default()
        };
        assert_eq!(to_json(&resource), serde_json::json!({"displayName": "x", "annotations": [{"@type": "type.googleapis.com/other.Thing"}]}));
    }
}
