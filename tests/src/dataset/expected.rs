//! Ground truth of a dataset: what a correct full sync finds (`Dataset::expected`).

use std::collections::{BTreeSet, HashMap, HashSet};

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
        // Distinct (group, user) pairs, counted per group name: one small set per group is
        // much cheaper than one ordered set of millions of pairs for big datasets.
        let mut members_by_group: HashMap<&str, HashSet<&str>> = HashMap::new();
        for group in &self.groups {
            members_by_group
                .entry(group.name.as_str())
                .or_insert_with(|| HashSet::with_capacity(group.members.len()))
                .extend(group.members.iter().map(String::as_str));
        }
        let memberships: usize = members_by_group.values().map(HashSet::len).sum();
        let grants: BTreeSet<(&str, &str, &Subject)> = self
            .spaces
            .iter()
            .flat_map(|s| s.permissions.iter().filter(|p| is_known_key(&p.key)).map(|p| (s.key.as_str(), p.key.as_str(), &p.subject)))
            .collect();
        let count = |wanted: fn(&Subject) -> bool| grants.iter().filter(|g| wanted(g.2)).count();
        Expected {
            users: self.users.len(),
            groups: self.groups.len(),
            spaces: self.spaces.len(),
            memberships,
            space_grants_to_users: count(|s| matches!(s, Subject::User(_))),
            space_grants_to_groups: count(|s| matches!(s, Subject::Group(_))),
            space_grants_to_anonymous: count(|s| matches!(s, Subject::Anonymous)),
        }
    }
}
