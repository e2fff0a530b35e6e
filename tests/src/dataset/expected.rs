//! Ground truth of a dataset: what a correct full sync finds (`Dataset::expected`).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Dataset, Subject};
use crate::permissions::is_known_key;

/// Counts a correct connector must reproduce. Space grants count only the 14 known keys,
/// de-duplicated per (space, key, subject); memberships are (group, user) pairs; global grants
/// count every stored (targetType, operationKey, subject) once, whatever the pair (a pair
/// beyond the five documented ones is served only when `SimConfig::extra_global_operations`
/// lists it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expected {
    pub users: usize,
    pub groups: usize,
    pub spaces: usize,
    pub memberships: usize,
    pub space_grants_to_users: usize,
    pub space_grants_to_groups: usize,
    pub space_grants_to_anonymous: usize,
    pub global_grants_to_users: usize,
    pub global_grants_to_groups: usize,
    pub global_grants_to_anonymous: usize,
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
        let [space_grants_to_users, space_grants_to_groups, space_grants_to_anonymous] = count_by_kind(grants.iter().map(|g| g.2));
        let global_grants: BTreeSet<(&str, &str, &Subject)> =
            self.global_permissions.iter().map(|p| (p.target.as_str(), p.operation.as_str(), &p.subject)).collect();
        let [global_grants_to_users, global_grants_to_groups, global_grants_to_anonymous] = count_by_kind(global_grants.iter().map(|g| g.2));
        Expected {
            users: self.users.len(),
            groups: self.groups.len(),
            spaces: self.spaces.len(),
            memberships,
            space_grants_to_users,
            space_grants_to_groups,
            space_grants_to_anonymous,
            global_grants_to_users,
            global_grants_to_groups,
            global_grants_to_anonymous,
        }
    }
}

/// How many of `subjects` are [users, groups, anonymous].
fn count_by_kind<'a>(subjects: impl Iterator<Item = &'a Subject>) -> [usize; 3] {
    let mut counts = [0; 3];
    for subject in subjects {
        let kind = match subject {
            Subject::User(_) => 0,
            Subject::Group(_) => 1,
            Subject::Anonymous => 2,
        };
        counts[kind] += 1;
    }
    counts
}
