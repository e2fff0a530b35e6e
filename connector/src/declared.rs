//! The requests beyond GET and HEAD this connector sends, declared to the host in its metadata
//! (the contract's `egress`): the host refuses any other, and sends a change only from a
//! grant, revoke or account creation in a run the operator allowed to change things. Kept in
//! one place, beside the code that sends them (docs/confluence-dc.md §15).

use crate::types::{EgressAccess, EgressRule};

/// JSON-RPC's light mode: `POST` to this path plus the method name.
pub const JSON_RPC: &str = "/rpc/json-rpc/confluenceservice-v2";

/// JSON-RPC methods that only read (users before 8.4, space permissions before 9.1).
const JSON_RPC_READS: [&str; 4] = ["getActiveUsers", "getUser", "getUserByKey", "getSpacePermissionSets"];

/// JSON-RPC methods that change (accounts before 8.4, memberships of names no path can carry,
/// space permissions before 9.1 and of such names).
const JSON_RPC_CHANGES: [&str; 7] = [
    "addUser",
    "addUserToGroup",
    "removeUserFromGroup",
    "addPermissionsToSpace",
    "removePermissionFromSpace",
    "addAnonymousPermissionToSpace",
    "removeAnonymousPermissionFromSpace",
];

/// REST changes: (method, path pattern).
const REST_CHANGES: [(&str, &str); 10] = [
    ("POST", "/rest/api/admin/user"),
    ("PUT", "/rest/api/user/*/group/*"),
    ("DELETE", "/rest/api/user/*/group/*"),
    ("PUT", "/rest/api/space/*/permissions/user/*/grant"),
    ("PUT", "/rest/api/space/*/permissions/user/*/revoke"),
    ("PUT", "/rest/api/space/*/permissions/group/*/grant"),
    ("PUT", "/rest/api/space/*/permissions/group/*/revoke"),
    ("PUT", "/rest/api/space/*/permissions/anonymous/grant"),
    ("PUT", "/rest/api/space/*/permissions/anonymous/revoke"),
    ("PUT", "/rest/api/permissions"),
];

/// Every request beyond GET and HEAD the connector sends.
pub fn egress() -> Vec<EgressRule> {
    let rule = |method: &str, path: String, access| EgressRule { method: method.into(), path, access };
    let reads = JSON_RPC_READS.iter().map(|m| rule("POST", format!("{JSON_RPC}/{m}"), EgressAccess::Read));
    let rpc_changes = JSON_RPC_CHANGES.iter().map(|m| rule("POST", format!("{JSON_RPC}/{m}"), EgressAccess::Change));
    let rest_changes = REST_CHANGES.iter().map(|(method, path)| rule(method, path.to_string(), EgressAccess::Change));
    reads.chain(rpc_changes).chain(rest_changes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each declared rule once, well formed: an upper-case method other than GET or HEAD, a path
    /// from the root, and only JSON-RPC getters as reads.
    #[test]
    fn every_rule_is_well_formed_and_reads_are_getters_only() {
        let rules = egress();
        assert_eq!(rules.len(), 4 + 7 + 10);
        for rule in &rules {
            assert!(["POST", "PUT", "DELETE"].contains(&rule.method.as_str()), "{}", rule.method);
            assert!(rule.path.starts_with('/') && !rule.path.contains('?'), "{}", rule.path);
            if rule.access == EgressAccess::Read {
                assert!(rule.method == "POST" && rule.path.rsplit('/').next().unwrap().starts_with("get"), "{}", rule.path);
            }
        }
        let mut seen: Vec<(String, String)> = rules.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), rules.len(), "no rule twice");
    }
}
