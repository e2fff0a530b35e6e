//! Generated groups: the edge-case groups of docs/confluence-dc.md §11 (Unicode, `&`, `+`, `%`,
//! `#`, a slash, an empty group, a big group, a group named like a user) plus `n/50` generic ones.

use std::collections::HashSet;

use super::{SimGroup, SimUser};

/// Groups for `users`; members that `users` lacks are dropped.
pub(super) fn generate(users: &[SimUser]) -> Vec<SimGroup> {
    let everyone: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let groups = vec![
        group("confluence-users", &everyone),
        group("confluence-administrators", &["admin"]),
        group("группа-разработки", &["zoe.angstrom", "oleg_petrov", "shalom-cohen"]),
        group("營業部 sales", &["eigyo_taro", "ahmed.ali"]),
        group("r&d + ops", &["admin", "emoji-fan", "shalom-cohen"]),
        group("100% #1", &["zoe.angstrom"]),
        group("team/alpha", &["zoe.angstrom", "no_display.name", "admin"]),
        group("empty-group", &[]),
        group("big-group", &everyone),
        // Same name as a user: the JSON-RPC entity ambiguity of docs/confluence-dc.md §9.4.
        group("zoe.angstrom", &["admin", "shalom-cohen", "zoe.angstrom"]),
    ];
    // Only the hand-written groups can name users a small dataset lacks; generic groups
    // are drawn from `users` and need no check (they hold most memberships of big datasets).
    let existing: HashSet<&str> = everyone.iter().copied().collect();
    let mut groups: Vec<SimGroup> = groups.into_iter().map(|g| keep_existing_members(g, &existing)).collect();
    groups.extend((0..users.len() / 50).map(|i| generic_group(i, &everyone)));
    groups
}

fn group(name: &str, members: &[&str]) -> SimGroup {
    SimGroup { name: name.to_string(), members: members.iter().map(|m| m.to_string()).collect() }
}

/// `generic-group-NNN`: every 7th user, offset by the group's index.
fn generic_group(index: usize, everyone: &[&str]) -> SimGroup {
    let members: Vec<&str> = everyone.iter().skip(index % 7).step_by(7).copied().collect();
    group(&format!("generic-group-{index:03}"), &members)
}

/// Hash lookups: a linear scan per member is quadratic for big datasets.
fn keep_existing_members(mut group: SimGroup, existing: &HashSet<&str>) -> SimGroup {
    group.members.retain(|m| existing.contains(m.as_str()));
    group
}
