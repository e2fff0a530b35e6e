//! The names of what the per-sync store (`kv`) holds for the directory: userKey <-> username,
//! emails, the username list, and the members of groups whose names contain `/`. (The detected
//! server version's key belongs to `version`, in the layer below.)

/// Marks that emails were loaded (9.3+), once per sync.
pub const EMAILS_LOADED: &str = "emails-loaded";
/// Every username, as a JSON array.
pub const ALL_USERNAMES: &str = "all-usernames";
/// Marks that the members of every group whose name contains `/` were computed.
pub const SLASH_MEMBERS_DONE: &str = "slash-members-computed";

/// Key of the username of a userKey.
pub fn username_of_key(user_key: &str) -> String {
    format!("user-key:{user_key}")
}

/// Key of the userKey of a username.
pub fn key_of_username(username: &str) -> String {
    format!("username:{username}")
}

/// Key of a user's email.
pub fn email_of(username: &str) -> String {
    format!("email:{username}")
}

/// Key of the members (user resource ids, as a JSON array) of a group whose name contains `/`.
pub fn slash_group_members(group: &str) -> String {
    format!("slash-group-members:{group}")
}
