//! Annotations: packing messages into `google.protobuf.Any` the way Go's
//! `anypb.New` does, and finding, decoding, replacing or removing them in an
//! annotation list (docs/c1z-and-c1.md §3.1, §3.5).

use prost::{Message, Name};
use prost_types::Any;

/// Prefix of every type URL written by the Go SDK.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// The type URL of `M`, e.g. `type.googleapis.com/c1.connector.v2.UserTrait`.
pub fn type_url<M: Name>() -> String {
    format!("{TYPE_URL_PREFIX}{}", M::full_name())
}

/// Packs `msg` into an `Any` with the Go-compatible type URL.
pub fn any<M: Message + Name>(msg: &M) -> Any {
    Any { type_url: type_url::<M>(), value: msg.encode_to_vec() }
}

/// True when `annotation` holds a message of type `M`. Accepts any URL
/// prefix ending in `/`, as protobuf resolvers do.
pub fn is_type<M: Name>(annotation: &Any) -> bool {
    let full_name = M::full_name();
    match annotation.type_url.rsplit_once('/') {
        Some((_, name)) => name == full_name,
        None => annotation.type_url == full_name,
    }
}

/// Decodes the first annotation of type `M`, or `None` when there is none.
pub fn find_annotation<M: Message + Name + Default>(annotations: &[Any]) -> Result<Option<M>, prost::DecodeError> {
    annotations.iter().find(|a| is_type::<M>(a)).map(|a| M::decode(a.value.as_slice())).transpose()
}

/// Removes every annotation of type `M` and returns the removed ones in order.
pub fn take_annotations<M: Name>(annotations: &mut Vec<Any>) -> Vec<Any> {
    let (taken, kept) = std::mem::take(annotations).into_iter().partition(|a| is_type::<M>(a));
    *annotations = kept;
    taken
}

/// Replaces every annotation of `msg`'s type with `msg` (at the position of
/// the first one), or appends it. Mirrors the SDK's `Annotations.Update`.
pub fn upsert_annotation<M: Message + Name>(annotations: &mut Vec<Any>, msg: &M) {
    let packed = any(msg);
    match annotations.iter().position(|a| is_type::<M>(a)) {
        Some(first) => {
            annotations[first] = packed;
            let mut index = 0;
            annotations.retain(|a| {
                let keep = index == first || !is_type::<M>(a);
                index += 1;
                keep
            });
        }
        None => annotations.push(packed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[test]
    fn type_url_matches_go_anypb() {
        let packed = any(&pb::UserTrait::default());
        assert_eq!(packed.type_url, "type.googleapis.com/c1.connector.v2.UserTrait");
        let nested = type_url::<pb::user_trait::Email>();
        assert_eq!(nested, "type.googleapis.com/c1.connector.v2.UserTrait.Email");
    }

    #[test]
    fn find_take_and_upsert() {
        let expandable = pb::GrantExpandable { entitlement_ids: vec!["group:1:member".into()], ..Default::default() };
        let mut list = vec![any(&pb::GrantImmutable::default()), any(&expandable)];
        let found: Option<pb::GrantExpandable> = find_annotation(&list).expect("decodes");
        assert_eq!(found, Some(expandable.clone()));
        assert!(find_annotation::<pb::UserTrait>(&list).expect("decodes").is_none());

        upsert_annotation(&mut list, &pb::GrantExpandable::default());
        list.push(any(&expandable));
        upsert_annotation(&mut list, &expandable);
        assert_eq!(list.len(), 2);
        assert_eq!(list[1], any(&expandable));

        let taken = take_annotations::<pb::GrantExpandable>(&mut list);
        assert_eq!(taken.len(), 1);
        assert_eq!(list, vec![any(&pb::GrantImmutable::default())]);
    }

    #[test]
    fn corrupt_annotation_is_an_error_not_a_panic() {
        let bad = Any { type_url: type_url::<pb::UserTrait>(), value: vec![0xff, 0xff, 0xff] };
        assert!(find_annotation::<pb::UserTrait>(&[bad]).is_err());
    }
}
