//! The directory layer: what Confluence knows about people and groups, and the helpers several
//! resource types share, so that resource modules build on this layer instead of on each other.
//!
//! - [`ids`]: the resource type ids, the anonymous principal's id and the group `member`
//!   entitlement id (a space grant to a group expands to it).
//! - [`keys`]: the names of what is kept in the per-sync store.
//! - [`paging`]: walking every page of an offset-paged list.
//! - [`profile`]: profile fields.
//! - [`users`]: reading users, mapping them to `user` resources, userKey <-> username.
//! - [`groups`]: reading groups, group names, a user's groups.
//! - [`subjects`]: who holds a permission (as listed, as a principal, as a write's holder).
//!
//! Also here: [`Change`], the direction of a write (group memberships, space permissions).

pub mod groups;
pub mod ids;
pub mod keys;
pub mod paging;
pub mod profile;
pub mod subjects;
pub mod users;

/// Whether a write adds or removes access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
}
