//! Ground truth of a dataset: what a correct full sync finds (`Dataset::expected`).

use std::collections::BTreeSet;

use super::{Dataset, Subject};
use crate::permissions::is_known_key;

/// Counts a correct connector must reproduce. Space grants count only the 14 known keys,
/// de-duplicated per (space, key, subject); memberships are (group, user) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expected {
    pub users: usize,
    pub groups: usize,
    pub spaces: usize,
    pub memberships: usize,
    pub space_grants_to_users: usize,
    pub space_grants_to_groups: usize,
    pub space_grants_to_anonymous: usize,
}

impl Dataset {
    pub fn expected(&self) -> Expected {
        let memberships: BTreeSet<(&str, &str)> = self
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| (g.name.as_str(), m.as_str())))
            .collect();
        let grants: BTreeSet<(&str, &str, &Subject)> = self
            .spaces
            .iter()
            .flat_map(|s| {
                s.permissions
                    .iter()
                    .filter(|p| is_known_key(&p.key))
                    .map(|p| (s.key.as_str(), p.key.as_str(), &p.subject))
            })
            .collect();
        let count = |wanted: fn(&Subject) -> bool| grants.iter().filter(|g| wanted(g.2)).count();
        Expected {
            users: self.users.len(),
            groups: self.groups.len(),
            spaces: self.spaces.len(),
            memberships: memberships.len(),
            space_grants_to_users: count(|s| matches!(s, Subject::User(_))),
            space_grants_to_groups: count(|s| matches!(s, Subject::Group(_))),
            space_grants_to_anonymous: count(|s| matches!(s, Subject::Anonymous)),
        }
    }
}
