//! Test data: the users, groups, spaces, space permissions and global permissions the simulator
//! starts with, `Dataset::generate`, a deterministic generator full of edge cases
//! (docs/confluence-dc.md §11), and `Dataset::expected`, the ground truth a connector's sync is
//! compared against. Group, space and global permission generation live in the `groups`,
//! `spaces` and `global` submodules.

mod bench;
mod expected;
mod global;
mod groups;
mod spaces;

pub use expected::Expected;

/// The personal access token of the generated `admin` user.
pub const ADMIN_TOKEN: &str = "NjQ4MjE0NTUyNjkxOkFkbWluUEFUZm9yU2ltdWxhdG9y";
/// The userKey of the generated `admin` user (the one seen in a real 8.6 sample).
pub const ADMIN_USER_KEY: &str = "2c95808390139223019013bdb7ec0000";

/// One user of the simulated directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    pub username: String,
    pub user_key: String,
    /// `None` = field absent from JSON; `Some("")` = empty string.
    pub display_name: Option<String>,
    /// "current", "deactivated", "unlicensed", "externally_deleted"; `None` = never present.
    pub status: Option<String>,
    /// Basic-auth password; `None` = cannot log in with basic auth.
    pub password: Option<String>,
    pub is_admin: bool,
    /// Only exposed by the 9.3+ admin active-user list; `None` = no email on record.
    pub email: Option<String>,
    /// Whether a password was supplied when the account was created (generated users: true;
    /// users created with `notifyViaEmail: true`: false).
    pub password_set: bool,
    /// Whether creation asked Confluence to email the user (`notifyViaEmail: true`).
    pub notified_by_email: bool,
}

impl SimUser {
    /// A current, non-admin user with a derived key and password `password-<username>`.
    pub fn new(username: &str, display_name: Option<&str>) -> SimUser {
        SimUser {
            username: username.to_string(),
            user_key: user_key_for(username),
            display_name: display_name.map(str::to_string),
            status: Some("current".to_string()),
            password: Some(default_password_for(username)),
            is_admin: false,
            email: Some(format!("{username}@example.com")),
            password_set: true,
            notified_by_email: false,
        }
    }

    pub fn with_email(mut self, email: Option<&str>) -> SimUser {
        self.email = email.map(str::to_string);
        self
    }

    pub fn with_status(mut self, status: Option<&str>) -> SimUser {
        self.status = status.map(str::to_string);
        self
    }

    pub fn is_deactivated(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("deactivated"))
    }

    pub fn is_unlicensed(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("unlicensed"))
    }

    /// Licensed and active: not deactivated, unlicensed or externally deleted
    /// (an absent status counts as active).
    pub fn is_licensed_active(&self) -> bool {
        !self.status.as_deref().is_some_and(|s| ["deactivated", "unlicensed", "externally_deleted"].iter().any(|bad| s.eq_ignore_ascii_case(bad)))
    }
}

/// A group and its members (usernames, each listed once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGroup {
    pub name: String,
    pub members: Vec<String>,
}

/// Who a space permission is granted to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A username.
    User(String),
    /// A group name.
    Group(String),
    Anonymous,
}

/// One stored space permission row: a legacy key (the 14 known ones, or odd add-on keys such
/// as "EXPORTPAGE" and "read~custom-type") granted to a subject. Rows may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPermission {
    pub key: String,
    pub subject: Subject,
}

impl SimPermission {
    pub fn new(key: &str, subject: Subject) -> SimPermission {
        SimPermission { key: key.to_string(), subject }
    }
}

/// One global permission: the REST (targetType, operationKey) pair, e.g. ("system",
/// "administer"), granted to a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGlobalPermission {
    pub target: String,
    pub operation: String,
    pub subject: Subject,
}

impl SimGlobalPermission {
    pub fn new(target: &str, operation: &str, subject: Subject) -> SimGlobalPermission {
        SimGlobalPermission { target: target.to_string(), operation: operation.to_string(), subject }
    }

    /// Whether this row is the (targetType, operationKey) pair.
    pub fn is(&self, target: &str, operation: &str) -> bool {
        self.target == target && self.operation == operation
    }
}

/// A space with its permission rows in stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSpace {
    pub key: String,
    pub name: String,
    pub id: i64,
    /// "global" or "personal".
    pub space_type: String,
    /// "current" or "archived".
    pub status: String,
    pub permissions: Vec<SimPermission>,
}

/// The initial content of the simulated server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub users: Vec<SimUser>,
    /// (personal access token, username)
    pub tokens: Vec<(String, String)>,
    pub groups: Vec<SimGroup>,
    pub spaces: Vec<SimSpace>,
    /// Site-wide permissions, one row per (pair, subject), in stored order.
    pub global_permissions: Vec<SimGlobalPermission>,
}

impl Dataset {
    /// Deterministic dataset with exactly `n_users` users (at least 4 are always produced):
    /// `admin` (password "admin", token [`ADMIN_TOKEN`]), then edge cases — unicode and RTL
    /// names, a deactivated user, a user without display name, an unlicensed user, a user
    /// without status, a user with an empty display name — then ordinary users.
    /// Every user has a token ([`token_for`]) and password `password-<username>` (admin: "admin"),
    /// and an email `username@example.com` except `no_display.name`.
    /// Groups, spaces and global permissions: see the `groups`, `spaces` and `global`
    /// submodules; references to users that a small `n_users` leaves out are dropped, so every
    /// member and user subject exists.
    pub fn generate(n_users: usize) -> Dataset {
        let n_users = n_users.max(4);
        let mut users = vec![admin_user()];
        users.extend(edge_case_users().into_iter().take(n_users - 1));
        let mut index = users.len();
        while users.len() < n_users {
            users.push(ordinary_user(index));
            index += 1;
        }
        let tokens = users.iter().map(|u| (token_for(&u.username), u.username.clone())).collect();
        let groups = groups::generate(&users);
        let spaces = spaces::generate(&users);
        let global_permissions = global::generate(&users, &groups);
        Dataset { users, tokens, groups, spaces, global_permissions }
    }

    pub fn user(&self, username: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.username == username)
    }

    pub fn group(&self, name: &str) -> Option<&SimGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn space(&self, key: &str) -> Option<&SimSpace> {
        self.spaces.iter().find(|s| s.key == key)
    }
}

/// The deterministic personal access token generated for `username`.
pub fn token_for(username: &str) -> String {
    if username == "admin" {
        return ADMIN_TOKEN.to_string();
    }
    format!("PAT{:016x}{:016x}", fnv1a(username, 0x7a7), fnv1a(username, 0x11))
}

/// The password generated for every user but admin.
pub fn default_password_for(username: &str) -> String {
    format!("password-{username}")
}

/// A 32-hex-character userKey derived from the username.
pub fn user_key_for(username: &str) -> String {
    format!("{:016x}{:016x}", fnv1a(username, 0x2c95), fnv1a(username, 0x8083))
}

fn fnv1a(text: &str, seed: u64) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325 ^ seed;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

fn admin_user() -> SimUser {
    SimUser {
        username: "admin".to_string(),
        user_key: ADMIN_USER_KEY.to_string(),
        display_name: Some("admin".to_string()),
        status: Some("current".to_string()),
        password: Some("admin".to_string()),
        is_admin: true,
        email: Some("admin@example.com".to_string()),
        password_set: true,
        notified_by_email: false,
    }
}

/// In priority order: the first three cover unicode, RTL, deactivated and missing display name.
fn edge_case_users() -> Vec<SimUser> {
    vec![
        SimUser::new("zoe.angstrom", Some("Zoë Ångström")),
        SimUser::new("shalom-cohen", Some("שלום כהן")).with_status(Some("deactivated")),
        SimUser::new("no_display.name", None).with_email(None),
        SimUser::new("eigyo_taro", Some("営業 太郎")),
        SimUser::new("unlicensed.user", Some("Unlicensed User")).with_status(Some("unlicensed")),
        SimUser::new("status-absent", Some("Status Absent")).with_status(None),
        SimUser::new("empty.display", Some("")),
        SimUser::new("oleg_petrov", Some("Олег Петров")),
        SimUser::new("ahmed.ali", Some("أحمد علي")),
        SimUser::new("emoji-fan", Some("Emoji 😀 Fan")),
    ]
}

fn ordinary_user(index: usize) -> SimUser {
    const SEPARATORS: [&str; 3] = [".", "-", "_"];
    let separator = SEPARATORS[index % SEPARATORS.len()];
    let username = format!("user{separator}{index:05}");
    SimUser::new(&username, Some(&format!("User {index:05}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_is_deterministic_and_sized() {
        for n in [4, 5, 11, 25, 1000] {
            let a = Dataset::generate(n);
            assert_eq!(a.users.len(), n);
            assert_eq!(a, Dataset::generate(n));
            let mut names: Vec<_> = a.users.iter().map(|u| u.username.clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "usernames unique");
            assert!(a.users.iter().all(|u| u.user_key.len() == 32 && u.user_key.chars().all(|c| c.is_ascii_hexdigit())));
            assert!(a.users.iter().all(|u| { u.username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)) }));
        }
    }

    #[test]
    fn smallest_dataset_has_every_required_edge_case() {
        let d = Dataset::generate(4);
        assert!(d.user("admin").is_some_and(|u| u.is_admin && u.password.as_deref() == Some("admin")));
        assert!(d.tokens.contains(&(ADMIN_TOKEN.to_string(), "admin".to_string())));
        assert!(d.users.iter().any(|u| u.is_deactivated()));
        assert!(d.users.iter().any(|u| u.display_name.is_none()));
        assert!(d.users.iter().any(|u| u.display_name.as_deref() == Some("Zoë Ångström")));
        assert!(d.users.iter().any(|u| u.display_name.as_deref() == Some("שלום כהן")));
    }

    #[test]
    fn global_permissions_name_only_existing_subjects() {
        for dataset in [Dataset::generate(4), Dataset::generate(12), Dataset::generate(120), Dataset::bench(10, 3, 20, 5)] {
            assert!(!dataset.global_permissions.is_empty());
            for row in &dataset.global_permissions {
                match &row.subject {
                    Subject::User(name) => assert!(dataset.user(name).is_some(), "{name}"),
                    Subject::Group(name) => assert!(dataset.group(name).is_some(), "{name}"),
                    Subject::Anonymous => {}
                }
            }
            let admin = Subject::User("admin".into());
            assert!(dataset.global_permissions.iter().any(|row| row.subject == admin && row.is("system", "administer")));
            assert!(dataset.global_permissions.iter().any(|row| row.subject == Subject::Anonymous && row.is("application", "use")));
        }
        let small = Dataset::generate(4);
        assert!(small.global_permissions.contains(&SimGlobalPermission::new("application", "use", Subject::User("shalom-cohen".into()))));
    }
}
