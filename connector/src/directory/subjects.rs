//! Who holds a permission, in both directions: a [`Subject`] as a permission listing names it
//! (userKey, username, group name, anonymous) and the principal it becomes under the configured
//! user id; and a [`Holder`], the principal a grant or revoke is about with every name a write
//! API may want, and whether a listed subject is that holder; and the grant of a permission to
//! a principal. Space and global permissions share these.

use crate::directory::groups;
use crate::directory::ids::{ANONYMOUS, GROUP, USER, anonymous_id, member_entitlement_id};
use crate::directory::users;
use crate::settings::UserId;
use crate::syncer::Context;
use crate::types::{ConnectorError, Expansion, Grant, ResourceId};

/// Who holds a permission, as the source names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    UserKey(String),
    Username(String),
    Group(String),
    Anonymous,
}

/// The principal of a subject under the configured user id; none for a user Confluence no
/// longer knows.
pub fn principal_of(cx: &Context, subject: Subject) -> Result<Option<ResourceId>, ConnectorError> {
    let user = |id: String| ResourceId { resource_type: USER.into(), resource: id };
    Ok(match subject {
        Subject::Anonymous => Some(anonymous_id()),
        Subject::Group(name) => Some(ResourceId { resource_type: GROUP.into(), resource: name }),
        Subject::Username(username) => users::user_id_for_username(cx, &username)?.map(user),
        Subject::UserKey(key) => match cx.options.user_id {
            UserId::UserKey => Some(user(key)),
            UserId::Username => users::username_for_key(cx, &key)?.map(user),
        },
    })
}

/// A name a listing gives, when it is there and not empty (listings leave names out, or empty).
pub fn named(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Who a permission write is about, with every name the APIs may want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    User { username: String, user_key: String },
    Group(String),
    Anonymous,
}

/// The holder a principal is (`login`, when the caller has it, saves a lookup); `what` names
/// the permissions in the refusal of any other principal type.
pub fn holder_of(cx: &Context, principal: &ResourceId, login: Option<&str>, what: &str) -> Result<Holder, ConnectorError> {
    match principal.resource_type.as_str() {
        USER => {
            let username = match login.filter(|l| !l.is_empty()) {
                Some(login) => login.to_string(),
                None => users::username_of(cx, &principal.resource)?
                    .ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user {:?}", principal.resource)))?,
            };
            let user_key = users::key_for_username(cx, &username)?.ok_or_else(|| ConnectorError::NotFound(format!("Confluence has no user {username:?}")))?;
            Ok(Holder::User { username, user_key })
        }
        GROUP => Ok(Holder::Group(principal.resource.clone())),
        ANONYMOUS => Ok(Holder::Anonymous),
        other => Err(ConnectorError::InvalidArgument(format!("{what} can be granted to users, groups and anonymous access, not to a {other}"))),
    }
}

/// Whether a listed subject is the holder (group names compare as Confluence compares them).
pub fn same_holder(subject: &Subject, holder: &Holder) -> bool {
    match (subject, holder) {
        (Subject::UserKey(k), Holder::User { user_key, .. }) => k == user_key,
        (Subject::Username(u), Holder::User { username, .. }) => u == username,
        (Subject::Group(a), Holder::Group(b)) => groups::same_name(a, b),
        (Subject::Anonymous, Holder::Anonymous) => true,
        _ => false,
    }
}

/// The grant of entitlement `entitlement_id` on `on` to a principal (id
/// `<entitlement>:<type>:<principal>`); a group's carries expansion to the group's `member`
/// entitlement, so the permission is attributed to its members.
pub fn permission_grant(entitlement_id: String, on: ResourceId, principal: ResourceId) -> Grant {
    let expansion = (principal.resource_type == GROUP).then(|| Expansion {
        entitlement_ids: vec![member_entitlement_id(&principal.resource)],
        shallow: false,
        resource_type_ids: vec![],
    });
    Grant { id: format!("{entitlement_id}:{}:{}", principal.resource_type, principal.resource), entitlement_id, entitlement_resource: on, principal, expansion }
}
