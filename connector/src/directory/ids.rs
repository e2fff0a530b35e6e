//! The ids that more than one resource type names: every resource type id, the one anonymous
//! principal, and the group `member` entitlement (space grants to a group expand to it; group
//! grants are on it).

use crate::types::ResourceId;

/// Resource type id of users.
pub const USER: &str = "user";
/// Resource type id (and the single resource's id) of anonymous access.
pub const ANONYMOUS: &str = "anonymous";
/// Resource type id of groups.
pub const GROUP: &str = "group";
/// Resource type id of spaces.
pub const SPACE: &str = "space";
/// Resource type id of the site itself (its global permissions).
pub const SITE: &str = "site";
/// Slug of a group's membership entitlement.
pub const MEMBER: &str = "member";

/// The id of the anonymous principal.
pub fn anonymous_id() -> ResourceId {
    ResourceId { resource_type: ANONYMOUS.into(), resource: ANONYMOUS.into() }
}

/// The id of a group's `member` entitlement.
pub fn member_entitlement_id(group: &str) -> String {
    format!("{GROUP}:{group}:{MEMBER}")
}
