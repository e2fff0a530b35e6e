//! Generated global permissions: the `admin` user as system administrator, the administrators
//! and users groups, one user granted space creation directly, a deactivated user still holding
//! "use Confluence" (what an access review looks for), and anonymous use; plus the small set of
//! the benchmark dataset.

use std::collections::HashSet;

use super::{SimGlobalPermission, SimGroup, SimUser, Subject};

const USE: (&str, &str) = ("application", "use");
const ADMINISTER: (&str, &str) = ("application", "administer");
const SYSTEM_ADMINISTER: (&str, &str) = ("system", "administer");
const CREATE_SPACE: (&str, &str) = ("space", "create");
const CREATE_PERSONAL_SPACE: (&str, &str) = ("personal_space", "create");

/// Global permissions for `users` and `groups`; rows naming a user or group they lack are dropped.
pub(super) fn generate(users: &[SimUser], groups: &[SimGroup]) -> Vec<SimGlobalPermission> {
    let user = |name: &str| Subject::User(name.to_string());
    let group = |name: &str| Subject::Group(name.to_string());
    let mut rows = rows_for(&user("admin"), &[SYSTEM_ADMINISTER, ADMINISTER, USE]);
    rows.extend(rows_for(&group("confluence-administrators"), &[ADMINISTER, USE]));
    rows.extend(rows_for(&group("confluence-users"), &[USE, CREATE_SPACE, CREATE_PERSONAL_SPACE]));
    rows.extend(rows_for(&user("zoe.angstrom"), &[CREATE_SPACE]));
    rows.extend(rows_for(&user("shalom-cohen"), &[USE]));
    rows.extend(rows_for(&Subject::Anonymous, &[USE]));
    let existing_users: HashSet<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let existing_groups: HashSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    rows.retain(|row| match &row.subject {
        Subject::User(name) => existing_users.contains(name.as_str()),
        Subject::Group(name) => existing_groups.contains(name.as_str()),
        Subject::Anonymous => true,
    });
    rows
}

/// The benchmark's global permissions: `admin` as system administrator, `group` may use
/// Confluence and create spaces, anonymous may use Confluence.
pub(super) fn bench(group: &str) -> Vec<SimGlobalPermission> {
    let mut rows = rows_for(&Subject::User("admin".to_string()), &[SYSTEM_ADMINISTER, ADMINISTER, USE]);
    rows.extend(rows_for(&Subject::Group(group.to_string()), &[USE, CREATE_SPACE]));
    rows.extend(rows_for(&Subject::Anonymous, &[USE]));
    rows
}

fn rows_for(subject: &Subject, pairs: &[(&str, &str)]) -> Vec<SimGlobalPermission> {
    pairs.iter().map(|(target, operation)| SimGlobalPermission::new(target, operation, subject.clone())).collect()
}
