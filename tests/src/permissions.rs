//! Space permission keys: the 14 legacy keys a connector understands, and their mapping to the 9.1+
//! REST `(targetType, operationKey)` pairs (docs/confluence-dc.md §8.1), including the odd keys
//! (§8.2); and the five global permission pairs of the Global Permissions REST API.

/// The global permissions the Global Permissions REST API documents, as (targetType,
/// operationKey): use Confluence, administer Confluence, system administration, create a
/// personal space, create spaces.
pub const GLOBAL_PERMISSION_PAIRS: [(&str, &str); 5] =
    [("application", "use"), ("application", "administer"), ("system", "administer"), ("personal_space", "create"), ("space", "create")];

/// The 14 legacy space permission keys (docs/confluence-dc.md §8.1), in UI order.
pub const SPACE_PERMISSION_KEYS: [&str; 14] = [
    "VIEWSPACE",
    "REMOVEOWNCONTENT",
    "EDITSPACE",
    "REMOVEPAGE",
    "EDITBLOG",
    "REMOVEBLOG",
    "COMMENT",
    "REMOVECOMMENT",
    "CREATEATTACHMENT",
    "REMOVEATTACHMENT",
    "SETPAGEPERMISSIONS",
    "REMOVEMAIL",
    "EXPORTSPACE",
    "SETSPACEPERMISSIONS",
];

/// The REST pair of each known key, in the order of [`SPACE_PERMISSION_KEYS`].
const REST_PAIRS: [(&str, &str); 14] = [
    ("space", "read"),
    ("space", "delete_own"),
    ("page", "create"),
    ("page", "delete"),
    ("blogpost", "create"),
    ("blogpost", "delete"),
    ("comment", "create"),
    ("comment", "delete"),
    ("attachment", "create"),
    ("attachment", "delete"),
    ("space", "restrict"),
    ("space", "delete_mail"),
    ("space", "export"),
    ("space", "administer"),
];

/// Whether `key` is one of the 14 known legacy keys.
pub fn is_known_key(key: &str) -> bool {
    SPACE_PERMISSION_KEYS.contains(&key)
}

/// The legacy key of a REST `(targetType, operationKey)` pair: only the 14 pairs of the
/// docs/confluence-dc.md §8.1 table (case-sensitive, as the server's enums are lower case).
pub fn legacy_key(target_type: &str, operation_key: &str) -> Option<&'static str> {
    REST_PAIRS.iter().position(|(target, operation)| *target == target_type && *operation == operation_key).map(|index| SPACE_PERMISSION_KEYS[index])
}

/// `(targetType, operationKey)` for a stored key: the docs/confluence-dc.md §8.1 table, then (§8.2)
/// `EXPORTPAGE` -> page/export, add-on keys `<op>~<contentType>` -> (contentType, op), anything
/// else -> ("space", lowercase key).
pub fn rest_operation(key: &str) -> (String, String) {
    if let Some(index) = SPACE_PERMISSION_KEYS.iter().position(|k| *k == key) {
        let (target, operation) = REST_PAIRS[index];
        return (target.to_string(), operation.to_string());
    }
    if key == "EXPORTPAGE" {
        return ("page".to_string(), "export".to_string());
    }
    match key.split_once('~') {
        Some((operation, target)) => (target.to_string(), operation.to_string()),
        None => ("space".to_string(), key.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_rest_pairs() {
        assert_eq!(rest_operation("VIEWSPACE"), ("space".into(), "read".into()));
        assert_eq!(rest_operation("SETSPACEPERMISSIONS"), ("space".into(), "administer".into()));
        assert_eq!(rest_operation("EXPORTPAGE"), ("page".into(), "export".into()));
        assert_eq!(rest_operation("read~custom-type"), ("custom-type".into(), "read".into()));
        assert!(is_known_key("REMOVEMAIL") && !is_known_key("EXPORTPAGE"));
        assert_eq!(legacy_key("space", "read"), Some("VIEWSPACE"));
        assert_eq!(legacy_key("page", "create"), Some("EDITSPACE"));
        assert_eq!(legacy_key("page", "export"), None);
        for key in SPACE_PERMISSION_KEYS {
            let (target, operation) = rest_operation(key);
            assert_eq!(legacy_key(&target, &operation), Some(key));
        }
    }
}
