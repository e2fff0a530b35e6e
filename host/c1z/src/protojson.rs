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
    let blanked = stand_in_for_unknown_annotations(&mut dynamic);
    let mut json = serde_json::to_value(&dynamic).unwrap_or(serde_json::Value::Null);
    if blanked {
        restore_unknown_annotations(&mut json);
    }
    json
}

const ANY: &str = "google.protobuf.Any";
/// The type of the stand-in for an annotation the descriptors lack: it serialises, and its
/// value carries the original type URL after [`STAND_IN_MARK`].
const STAND_IN: &str = "type.googleapis.com/google.protobuf.StringValue";
const STAND_IN_MARK: &str = "\u{0}unknown annotation type:";

/// Replaces every `Any` (at any depth) whose type the descriptors lack with a stand-in that
/// serialises and names the original type; whether there was one.
fn stand_in_for_unknown_annotations(message: &mut DynamicMessage) -> bool {
    if message.descriptor().full_name() == ANY {
        let type_url = message.get_field_by_name("type_url").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        if type_url.rsplit_once('/').is_some_and(|(_, name)| descriptors().get_message_by_name(name).is_some()) {
            return false;
        }
        let original = format!("{STAND_IN_MARK}{type_url}").encode_to_vec(); // a StringValue
        message.set_field_by_name("type_url", Value::String(STAND_IN.into()));
        message.set_field_by_name("value", Value::Bytes(original.into()));
        return true;
    }
    let mut any = false;
    for (_, value) in message.fields_mut() {
        match value {
            Value::Message(inner) => any |= stand_in_for_unknown_annotations(inner),
            Value::List(items) => {
                for inner in items.iter_mut().filter_map(Value::as_message_mut) {
                    any |= stand_in_for_unknown_annotations(inner);
                }
            }
            _ => {}
        }
    }
    any
}

/// Turns each stand-in back into `{"@type": <original type URL>}`.
fn restore_unknown_annotations(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            let original = (map.get("@type").and_then(|t| t.as_str()) == Some(STAND_IN))
                .then(|| map.get("value").and_then(|v| v.as_str()).and_then(|v| v.strip_prefix(STAND_IN_MARK)).map(str::to_string))
                .flatten();
            match original {
                Some(type_url) => {
                    map.clear();
                    map.insert("@type".into(), serde_json::Value::String(type_url));
                }
                None => map.values_mut().for_each(restore_unknown_annotations),
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(restore_unknown_annotations),
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

    #[test]
    fn unknown_annotations_at_several_depths_each_keep_their_own_type() {
        let unknown = |name: &str| prost_types::Any { type_url: format!("type.googleapis.com/other.{name}"), value: vec![] };
        let grant = pb::Grant {
            id: "g".into(),
            entitlement: Some(pb::Entitlement {
                id: "e".into(),
                resource: Some(pb::Resource { annotations: vec![unknown("Inner"), any(&pb::GroupTrait::default())], ..Default::default() }),
                ..Default::default()
            }),
            annotations: vec![unknown("Outer")],
            ..Default::default()
        };
        let json = to_json(&grant);
        assert_eq!(json["annotations"], serde_json::json!([{"@type": "type.googleapis.com/other.Outer"}]));
        assert_eq!(
            json["entitlement"]["resource"]["annotations"],
            serde_json::json!([{"@type": "type.googleapis.com/other.Inner"}, {"@type": "type.googleapis.com/c1.connector.v2.GroupTrait"}])
        );
    }
}
