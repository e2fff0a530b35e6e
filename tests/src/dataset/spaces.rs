//! Generated spaces and their permission rows: Unicode and RTL names, a personal space
//! `~zoe.angstrom` (and one keyed by the admin's userKey), an archived space, a space without
//! permissions, an anonymous-only space, every legacy key for users and groups (including
//! `team/alpha` and the group named like a user), odd keys (`EXPORTPAGE`, `read~custom-type`),
//! a duplicated row, plus `n/50` generic spaces.

use std::collections::HashSet;

use super::{ADMIN_USER_KEY, SimPermission, SimSpace, SimUser, Subject};
use crate::permissions::SPACE_PERMISSION_KEYS;

/// The id of the first generated space (ids count up from here).
const FIRST_SPACE_ID: i64 = 131073;

/// Spaces for `users`; rows granted to users that `users` lacks are dropped.
pub(super) fn generate(users: &[SimUser]) -> Vec<SimSpace> {
    let mut spaces = vec![
        demonstration_space(),
        development_space(),
        rtl_space(),
        sales_space(),
        personal_space("~zoe.angstrom", "Zoë Ångström", "zoe.angstrom"),
        personal_space(&format!("~{ADMIN_USER_KEY}"), "admin", "admin"),
        archived_space(),
        space("EMPTY", "Space Without Permissions", Vec::new()),
        space("PUB", "Public Space", vec![anonymous("VIEWSPACE")]),
    ];
    spaces.extend((0..users.len() / 50).map(|i| generic_space(i, users)));
    let existing: HashSet<&str> = users.iter().map(|u| u.username.as_str()).collect();
    spaces.into_iter().enumerate().map(|(index, s)| finish(s, index, &existing)).collect()
}

fn space(key: &str, name: &str, permissions: Vec<SimPermission>) -> SimSpace {
    SimSpace { key: key.to_string(), name: name.to_string(), id: 0, space_type: "global".to_string(), status: "current".to_string(), permissions }
}

fn user(key: &str, username: &str) -> SimPermission {
    SimPermission::new(key, Subject::User(username.to_string()))
}

fn group(key: &str, name: &str) -> SimPermission {
    SimPermission::new(key, Subject::Group(name.to_string()))
}

fn anonymous(key: &str) -> SimPermission {
    SimPermission::new(key, Subject::Anonymous)
}

/// All 14 known keys for `subject`.
fn all_keys(subject: &Subject) -> Vec<SimPermission> {
    SPACE_PERMISSION_KEYS.iter().map(|key| SimPermission::new(key, subject.clone())).collect()
}

fn demonstration_space() -> SimSpace {
    let mut rows = all_keys(&Subject::Group("confluence-administrators".into()));
    rows.extend(all_keys(&Subject::User("admin".into())));
    rows.extend([group("VIEWSPACE", "confluence-users"), group("COMMENT", "confluence-users"), anonymous("VIEWSPACE")]);
    space("ds", "Demonstration Space", rows)
}

/// Every key for `team/alpha`, for the group named like a user and for that user; odd keys;
/// a duplicated user row.
fn development_space() -> SimSpace {
    let mut rows = all_keys(&Subject::Group("team/alpha".into()));
    rows.extend(all_keys(&Subject::Group("zoe.angstrom".into())));
    rows.extend(all_keys(&Subject::User("zoe.angstrom".into())));
    rows.extend([
        user("VIEWSPACE", "zoe.angstrom"),
        group("VIEWSPACE", "группа-разработки"),
        group("EDITSPACE", "группа-разработки"),
        group("EXPORTPAGE", "confluence-users"),
        user("read~custom-type", "admin"),
        group("read~custom-type", "team/alpha"),
        user("SETSPACEPERMISSIONS", "admin"),
    ]);
    space("DEV", "Разработка — Développement ✨", rows)
}

fn rtl_space() -> SimSpace {
    let rows = vec![
        user("VIEWSPACE", "ahmed.ali"),
        user("COMMENT", "ahmed.ali"),
        group("VIEWSPACE", "r&d + ops"),
        group("VIEWSPACE", "r&d + ops"),
        user("SETSPACEPERMISSIONS", "admin"),
    ];
    space("RTL", "مساحة الفريق", rows)
}

fn sales_space() -> SimSpace {
    let rows = vec![
        group("VIEWSPACE", "營業部 sales"),
        group("EDITSPACE", "營業部 sales"),
        group("VIEWSPACE", "100% #1"),
        user("VIEWSPACE", "shalom-cohen"),
        user("VIEWSPACE", "eigyo_taro"),
        anonymous("EXPORTPAGE"),
        user("SETSPACEPERMISSIONS", "admin"),
    ];
    space("SALES", "營業部 Sales 🚀", rows)
}

fn personal_space(key: &str, name: &str, owner: &str) -> SimSpace {
    let mut rows = all_keys(&Subject::User(owner.into()));
    rows.push(group("VIEWSPACE", "confluence-users"));
    SimSpace { space_type: "personal".to_string(), ..space(key, name, rows) }
}

fn archived_space() -> SimSpace {
    let rows = vec![group("VIEWSPACE", "confluence-users"), user("SETSPACEPERMISSIONS", "admin")];
    SimSpace { status: "archived".to_string(), ..space("ARCH", "Archived Space 🗄", rows) }
}

/// `GENNNN`: readable by everyone, edited by a generic group, administered by one user.
fn generic_space(index: usize, users: &[SimUser]) -> SimSpace {
    let owner = users.get((index * 13) % users.len().max(1)).map_or("admin", |u| u.username.as_str());
    let rows = vec![
        group("VIEWSPACE", "confluence-users"),
        group("EDITSPACE", &format!("generic-group-{index:03}")),
        user("SETSPACEPERMISSIONS", owner),
        user("VIEWSPACE", owner),
    ];
    space(&format!("GEN{index:04}"), &format!("Generic Space {index}"), rows)
}

fn finish(mut space: SimSpace, index: usize, existing: &HashSet<&str>) -> SimSpace {
    space.id = FIRST_SPACE_ID + index as i64;
    space.permissions.retain(|p| match &p.subject {
        Subject::User(name) => existing.contains(name.as_str()),
        _ => true,
    });
    space
}
