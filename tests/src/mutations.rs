//! Writes to the live [`Directory`]: group membership, space permission grants and revokes,
//! global permission replacement, and user creation. Each returns a typed [`WriteError`]; the REST and JSON-RPC routes turn
//! it into their own error shapes. Names resolve as the reads do: groups and space keys
//! case-insensitively (stored under their canonical spelling), usernames exactly.

use crate::dataset::{SimGlobalPermission, SimPermission, SimUser, Subject, token_for};
use crate::new_user::{FieldError, NewUser};
use crate::permissions::is_known_key;
use crate::state::Directory;

/// A subject and the global (targetType, operationKey) pairs it is to hold after a write.
pub type GlobalChange = (Subject, Vec<(String, String)>);

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    UnknownUser(String),
    UnknownGroup(String),
    /// Neither a user nor a group has this name (JSON-RPC `entity`).
    UnknownEntity(String),
    UnknownSpace(String),
    /// A legacy key or REST pair outside the 14 known ones.
    UnknownPermission(String),
    /// A global (targetType, operationKey) pair the server does not support, as "target/operation".
    UnknownGlobalPermission(String),
    /// The change would leave nobody holding (system, administer).
    LastSystemAdministrator,
    Invalid(FieldError),
    UserExists(String),
    NoLicenceSeat,
}

impl WriteError {
    pub fn message(&self) -> String {
        match self {
            WriteError::UnknownUser(name) => format!("No user found with name : {name}"),
            WriteError::UnknownGroup(name) => format!("No group found with name : {name}"),
            WriteError::UnknownEntity(name) => {
                format!("No user or group found with name : {name}")
            }
            WriteError::UnknownSpace(key) => format!("No space with key : {key}"),
            WriteError::UnknownPermission(what) => format!("Unknown space permission : {what}"),
            WriteError::UnknownGlobalPermission(what) => format!("Unknown global permission : {what}"),
            WriteError::LastSystemAdministrator => "Cannot remove the System Administrator permission from its last holder".to_string(),
            WriteError::Invalid(error) => error.message.clone(),
            WriteError::UserExists(name) => format!("A user with userName {name} already exists"),
            WriteError::NoLicenceSeat => "No licence seat is available to create a new user".to_string(),
        }
    }
}

impl Directory {
    fn space_index(&self, key: &str) -> Option<usize> {
        let lower = key.to_lowercase();
        self.spaces.iter().position(|s| s.key.to_lowercase() == lower)
    }

    fn member_change(&self, username: &str, group: &str) -> Result<usize, WriteError> {
        if self.user_by_username(username).is_none() {
            return Err(WriteError::UnknownUser(username.to_string()));
        }
        self.group_position(group).ok_or_else(|| WriteError::UnknownGroup(group.to_string()))
    }

    /// Adds `username` to `group`; already a member is a no-op.
    pub fn add_member(&mut self, username: &str, group: &str) -> Result<(), WriteError> {
        let index = self.member_change(username, group)?;
        let members = &mut self.groups[index].members;
        if !members.iter().any(|m| m == username) {
            members.push(username.to_string());
        }
        Ok(())
    }

    /// Removes `username` from `group`; not a member is a no-op.
    pub fn remove_member(&mut self, username: &str, group: &str) -> Result<(), WriteError> {
        let index = self.member_change(username, group)?;
        self.groups[index].members.retain(|m| m != username);
        Ok(())
    }

    /// The subject for an existing username.
    pub fn user_subject(&self, username: &str) -> Result<Subject, WriteError> {
        self.user_by_username(username).map(|u| Subject::User(u.username.clone())).ok_or_else(|| WriteError::UnknownUser(username.to_string()))
    }

    /// The subject for a userKey (REST addresses users by key).
    pub fn user_key_subject(&self, user_key: &str) -> Result<Subject, WriteError> {
        self.user_by_key(user_key).map(|u| Subject::User(u.username.clone())).ok_or_else(|| WriteError::UnknownUser(user_key.to_string()))
    }

    /// The subject for a group, under its canonical name.
    pub fn group_subject(&self, name: &str) -> Result<Subject, WriteError> {
        self.group_by_name(name).map(|g| Subject::Group(g.name.clone())).ok_or_else(|| WriteError::UnknownGroup(name.to_string()))
    }

    /// A JSON-RPC `entity`: a username or a group name; `prefers_group` breaks ties.
    pub fn entity_subject(&self, entity: &str, prefers_group: bool) -> Result<Subject, WriteError> {
        let (first, second) =
            if prefers_group { (self.group_subject(entity), self.user_subject(entity)) } else { (self.user_subject(entity), self.group_subject(entity)) };
        first.or(second).map_err(|_| WriteError::UnknownEntity(entity.to_string()))
    }

    /// Checks the space and the keys before anything changes.
    fn permission_change(&self, space_key: &str, keys: &[String]) -> Result<usize, WriteError> {
        let index = self.space_index(space_key).ok_or_else(|| WriteError::UnknownSpace(space_key.to_string()))?;
        match keys.iter().find(|k| !is_known_key(k)) {
            Some(unknown) => Err(WriteError::UnknownPermission(unknown.clone())),
            None => Ok(index),
        }
    }

    /// Grants each key to `subject` in the space; keys already held are skipped.
    pub fn grant(&mut self, space_key: &str, keys: &[String], subject: &Subject) -> Result<(), WriteError> {
        let index = self.permission_change(space_key, keys)?;
        let rows = &mut self.spaces[index].permissions;
        for key in keys {
            if !rows.iter().any(|p| &p.key == key && &p.subject == subject) {
                rows.push(SimPermission::new(key, subject.clone()));
            }
        }
        Ok(())
    }

    /// Revokes each key from `subject` in the space (every matching row); keys not held are
    /// skipped.
    pub fn revoke(&mut self, space_key: &str, keys: &[String], subject: &Subject) -> Result<(), WriteError> {
        let index = self.permission_change(space_key, keys)?;
        self.spaces[index].permissions.retain(|p| !(keys.contains(&p.key) && &p.subject == subject));
        Ok(())
    }

    /// Gives each subject exactly its listed global (targetType, operationKey) pairs, in order
    /// (rows it keeps stay where they are, new ones go at the end; subjects not listed are
    /// untouched). With `keep_a_system_administrator`, a change that removes the last holder of
    /// (system, administer) is refused and nothing changes. Pairs are not checked here.
    pub fn set_global_permissions(&mut self, changes: &[GlobalChange], keep_a_system_administrator: bool) -> Result<(), WriteError> {
        let mut rows = self.global_permissions.clone();
        for (subject, pairs) in changes {
            replace_global_pairs(&mut rows, subject, pairs);
        }
        if keep_a_system_administrator && has_system_administrator(&self.global_permissions) && !has_system_administrator(&rows) {
            return Err(WriteError::LastSystemAdministrator);
        }
        self.global_permissions = rows;
        Ok(())
    }

    /// Validates and adds a user (with a token); `seats` = licence seats (`None` = unlimited).
    pub fn create_user(&mut self, new_user: NewUser, seats: Option<usize>) -> Result<SimUser, WriteError> {
        new_user.validate().map_err(WriteError::Invalid)?;
        let lower = new_user.username.to_lowercase();
        if self.users.iter().any(|u| u.username.to_lowercase() == lower) {
            return Err(WriteError::UserExists(new_user.username));
        }
        let used = self.users.iter().filter(|u| u.is_licensed_active()).count();
        if seats.is_some_and(|seats| used >= seats) {
            return Err(WriteError::NoLicenceSeat);
        }
        let user = new_user.into_user();
        self.tokens.push((token_for(&user.username), user.username.clone()));
        self.push_user(user.clone());
        Ok(user)
    }
}

/// Drops the rows of `subject` whose pair is not in `pairs`, then adds the missing pairs.
fn replace_global_pairs(rows: &mut Vec<SimGlobalPermission>, subject: &Subject, pairs: &[(String, String)]) {
    let listed = |row: &SimGlobalPermission| pairs.iter().any(|(target, operation)| row.is(target, operation));
    rows.retain(|row| &row.subject != subject || listed(row));
    for (target, operation) in pairs {
        if !rows.iter().any(|row| &row.subject == subject && row.is(target, operation)) {
            rows.push(SimGlobalPermission::new(target, operation, subject.clone()));
        }
    }
}

fn has_system_administrator(rows: &[SimGlobalPermission]) -> bool {
    rows.iter().any(|row| row.is("system", "administer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;

    fn directory() -> Directory {
        Directory::from_dataset(&Dataset::generate(12))
    }

    #[test]
    fn membership_changes_are_idempotent() {
        let mut dir = directory();
        dir.add_member("eigyo_taro", "EMPTY-GROUP").unwrap();
        dir.add_member("eigyo_taro", "empty-group").unwrap();
        assert_eq!(dir.group_by_name("empty-group").unwrap().members, ["eigyo_taro"]);
        dir.remove_member("eigyo_taro", "empty-group").unwrap();
        dir.remove_member("eigyo_taro", "empty-group").unwrap();
        assert!(dir.group_by_name("empty-group").unwrap().members.is_empty());
        assert_eq!(dir.add_member("nobody", "empty-group"), Err(WriteError::UnknownUser("nobody".into())));
        assert_eq!(dir.remove_member("admin", "nope"), Err(WriteError::UnknownGroup("nope".into())));
    }

    #[test]
    fn grants_skip_held_keys_and_revokes_remove_duplicates() {
        let mut dir = directory();
        let zoe = Subject::User("zoe.angstrom".into());
        let view = vec!["VIEWSPACE".to_string()];
        let rows = |dir: &Directory| dir.space_by_key("DEV").unwrap().permissions.iter().filter(|p| p.key == "VIEWSPACE" && p.subject == zoe).count();
        assert_eq!(rows(&dir), 2, "the generated duplicate row");
        dir.grant("dev", &view, &zoe).unwrap();
        assert_eq!(rows(&dir), 2);
        dir.revoke("DEV", &view, &zoe).unwrap();
        assert_eq!(rows(&dir), 0);
        dir.grant("DEV", &view, &zoe).unwrap();
        assert_eq!(rows(&dir), 1);
        assert_eq!(dir.grant("DEV", &["EXPORTPAGE".to_string()], &zoe), Err(WriteError::UnknownPermission("EXPORTPAGE".into())));
        assert_eq!(dir.revoke("NOPE", &view, &zoe), Err(WriteError::UnknownSpace("NOPE".into())));
    }

    #[test]
    fn entity_resolution_follows_the_knob() {
        let dir = directory();
        let user = Subject::User("zoe.angstrom".into());
        let group = Subject::Group("zoe.angstrom".into());
        assert_eq!(dir.entity_subject("zoe.angstrom", false), Ok(user));
        assert_eq!(dir.entity_subject("zoe.angstrom", true), Ok(group));
        assert_eq!(dir.entity_subject("team/alpha", false), Ok(Subject::Group("team/alpha".into())));
        assert_eq!(dir.entity_subject("ghost", true), Err(WriteError::UnknownEntity("ghost".into())));
    }

    #[test]
    fn global_permission_sets_keep_order_and_are_all_or_nothing() {
        let mut dir = directory();
        let (admin, anonymous) = (Subject::User("admin".into()), Subject::Anonymous);
        let before = dir.global_permissions.clone();
        let pair = |t: &str, o: &str| (t.to_string(), o.to_string());
        let keep_two = vec![pair("system", "administer"), pair("application", "use")];
        dir.set_global_permissions(&[(admin.clone(), keep_two)], true).unwrap();
        let mut expected = before.clone();
        expected.retain(|row| !(row.subject == admin && row.is("application", "administer")));
        assert_eq!(dir.global_permissions, expected, "kept rows stay in place");
        dir.set_global_permissions(&[(anonymous.clone(), vec![pair("space", "create")])], true).unwrap();
        assert_eq!(dir.global_permissions.last(), Some(&SimGlobalPermission::new("space", "create", anonymous)));
        let snapshot = dir.global_permissions.clone();
        assert_eq!(dir.set_global_permissions(&[(admin.clone(), Vec::new())], true), Err(WriteError::LastSystemAdministrator));
        assert_eq!(dir.global_permissions, snapshot);
        dir.set_global_permissions(&[(admin, Vec::new())], false).unwrap();
        assert!(dir.global_permissions.iter().all(|row| !row.is("system", "administer")));
    }
}
