//! A large, plainly shaped dataset for benchmarks: `users` ordinary users (plus `admin`),
//! `groups` groups sharing `memberships` memberships evenly, and `spaces` spaces each with a
//! realistic handful of permission rows (view for two groups, edit for one, admin for a user,
//! and anonymous view on every tenth space), and a few global permissions (`admin`, the first
//! group, anonymous). Deterministic, and linear in its size.

use super::{Dataset, SimGroup, SimPermission, SimSpace, Subject, admin_user, global, ordinary_user, token_for};

impl Dataset {
    /// The benchmark dataset (see the module docs).
    pub fn bench(users: usize, groups: usize, memberships: usize, spaces: usize) -> Dataset {
        let (users, groups) = (users.max(1), groups.max(1));
        let mut all_users = vec![admin_user()];
        all_users.extend((1..=users).map(ordinary_user));
        let tokens = all_users.iter().map(|u| (token_for(&u.username), u.username.clone())).collect();
        let per_group = memberships / groups;
        let group_list: Vec<SimGroup> = (0..groups)
            .map(|g| SimGroup {
                name: format!("bench-group-{g:05}"),
                members: (0..per_group).map(|m| all_users[1 + (g * 7919 + m * 13) % users].username.clone()).collect(),
            })
            .map(dedup_members)
            .collect();
        let space_list = (0..spaces).map(|s| bench_space(s, &all_users, &group_list)).collect();
        let global_permissions = global::bench(&group_list[0].name);
        Dataset { users: all_users, tokens, groups: group_list, spaces: space_list, global_permissions }
    }
}

fn dedup_members(mut group: SimGroup) -> SimGroup {
    let mut seen = std::collections::HashSet::new();
    group.members.retain(|m| seen.insert(m.clone()));
    group
}

fn bench_space(index: usize, users: &[super::SimUser], groups: &[SimGroup]) -> SimSpace {
    let group = |offset: usize| Subject::Group(groups[(index * 3 + offset) % groups.len()].name.clone());
    let user = Subject::User(users[1 + index % (users.len() - 1)].username.clone());
    let mut permissions = vec![
        SimPermission::new("VIEWSPACE", group(0)),
        SimPermission::new("VIEWSPACE", group(1)),
        SimPermission::new("EDITSPACE", group(1)),
        SimPermission::new("COMMENT", group(1)),
        SimPermission::new("VIEWSPACE", user.clone()),
        SimPermission::new("SETSPACEPERMISSIONS", user),
    ];
    if index.is_multiple_of(10) {
        permissions.push(SimPermission::new("VIEWSPACE", Subject::Anonymous));
    }
    SimSpace {
        key: format!("B{index:05}"),
        name: format!("Bench space {index}"),
        id: 500_000 + index as i64,
        space_type: "global".into(),
        status: "current".into(),
        permissions,
    }
}
