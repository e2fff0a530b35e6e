//! The guard that keeps Confluence administrable: System Administrator is taken from a holder
//! only when someone who can still act holds it too. A holder can act when it is a user whose
//! status Confluence reports as current (read with `expand=status`, never assumed), or a group
//! with at least one such member (members read page by page, up to [`MEMBERS_EXAMINED`]).
//! Deactivated, unlicensed, externally deleted and unknown users cannot act; a user whose status
//! Confluence does not report, a group that cannot be read to the end of the bound, or a group
//! no endpoint of this version can address, is not counted either, and the refusal says which
//! (docs/confluence-dc.md §13.2).

use crate::directory::groups;
use crate::directory::subjects::{Holder, Subject, same_holder};
use crate::directory::users::{self, ConfluenceUser};
use crate::site::catalogue::Pair;
use crate::site::read::{self, Held};
use crate::syncer::Context;
use crate::types::ConnectorError;
use std::ops::ControlFlow;

/// The (target, operation) pair that makes a System Administrator.
pub const SYSTEM_ADMINISTER: (&str, &str) = ("system", "administer");

/// Whether `pair` makes a System Administrator.
pub fn is_system_administer(pair: &Pair) -> bool {
    pair.is(SYSTEM_ADMINISTER.0, SYSTEM_ADMINISTER.1)
}

/// How many members of one group are examined, at most, looking for one who can act.
pub const MEMBERS_EXAMINED: usize = 1000;

/// Whether a holder of System Administrator could still administer the site.
#[derive(Debug, PartialEq, Eq)]
enum Acting {
    /// An enabled user, or a group with an enabled member.
    Yes,
    /// Known not to: why (deactivated, unlicensed, no members...).
    No(String),
    /// Cannot be told: why (status not reported, too many members to read...).
    Unknown(String),
}

/// Refuses to take System Administrator from `holder` unless another holder can still act.
pub fn refuse_last_system_administrator(cx: &Context, holder: &Holder) -> Result<(), ConnectorError> {
    let all = read::all(cx)?.ok_or_else(|| read::unavailable(cx))?;
    let mut not_counted = Vec::new();
    for subject in other_holders(&all, holder) {
        match acting(cx, subject)? {
            Acting::Yes => return Ok(()),
            Acting::No(why) | Acting::Unknown(why) => not_counted.push(why),
        }
    }
    let others = if not_counted.is_empty() { "nobody else holds it".to_string() } else { format!("of the other holders, {}", not_counted.join("; ")) };
    Err(ConnectorError::InvalidArgument(format!(
        "refusing to revoke System Administrator from {}: no other enabled user, and no group with an enabled member, holds it ({others}), so Confluence could be left without a System Administrator who can act; grant it to an active user first",
        holder_name(holder)
    )))
}

/// Everyone else the listing names as a System Administrator.
fn other_holders<'a>(all: &'a Held, holder: &'a Holder) -> impl Iterator<Item = &'a Subject> {
    all.entries.iter().filter(move |(p, s)| is_system_administer(&p.pair()) && !same_holder(s, holder)).map(|(_, s)| s)
}

fn acting(cx: &Context, subject: &Subject) -> Result<Acting, ConnectorError> {
    match subject {
        Subject::UserKey(key) => user_acting(cx, "key", key),
        Subject::Username(username) => user_acting(cx, "username", username),
        Subject::Group(name) => group_acting(cx, name),
        Subject::Anonymous => Ok(Acting::No("anonymous access cannot administer".into())),
    }
}

/// A user, read with its status.
fn user_acting(cx: &Context, by: &str, value: &str) -> Result<Acting, ConnectorError> {
    Ok(match users::lookup_user(cx, by, value)? {
        Some(user) => status_acting(&user),
        None => Acting::No(format!("user {by} {value:?} is unknown to Confluence")),
    })
}

/// Whether a user as Confluence reports them can act: only a `current` status counts.
fn status_acting(user: &ConfluenceUser) -> Acting {
    let name = user.username.as_deref().or(user.user_key.as_deref()).unwrap_or("(unnamed)");
    match user.status.as_deref() {
        Some(status) if status.eq_ignore_ascii_case("current") => Acting::Yes,
        Some(status) => Acting::No(format!("user {name} is {status}")),
        None => Acting::Unknown(format!("Confluence does not report whether user {name} is active")),
    }
}

/// A group, by its members (with status), until one can act or [`MEMBERS_EXAMINED`] were read.
fn group_acting(cx: &Context, name: &str) -> Result<Acting, ConnectorError> {
    let Some(first) = members_path(cx, name)? else {
        return Ok(Acting::Unknown(format!("group {name}'s members cannot be read on this version (its name cannot go into a URL path)")));
    };
    let mut examined = 0;
    let mut unknown = 0;
    let found = each_member_page(cx, first, |members| {
        for member in members {
            examined += 1;
            match status_acting(&member) {
                Acting::Yes => return ControlFlow::Break(true),
                Acting::Unknown(_) => unknown += 1,
                Acting::No(_) => {}
            }
            if examined >= MEMBERS_EXAMINED {
                return ControlFlow::Break(false);
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(match found {
        Some(true) => Acting::Yes,
        Some(false) => Acting::Unknown(format!("group {name}: none of its first {MEMBERS_EXAMINED} members is active, and no more were read")),
        None if examined == 0 => Acting::No(format!("group {name} has no members")),
        None if unknown > 0 => Acting::Unknown(format!("group {name}: Confluence does not report whether {unknown} of its {examined} members are active")),
        None => Acting::No(format!("group {name} has no active member")),
    })
}

/// The first page of a group's members with their status; none when this version has no
/// endpoint for the name.
fn members_path(cx: &Context, name: &str) -> Result<Option<String>, ConnectorError> {
    let addressable = groups::path_safe(name) || cx.version()?.has_group_query_endpoints();
    Ok(addressable.then(|| groups::first_member_path(name, cx.options.page_size.min(MEMBERS_EXAMINED as u32))))
}

/// Walks a member list; a group that is gone reads as one without members.
fn each_member_page(cx: &Context, first: String, f: impl FnMut(Vec<ConfluenceUser>) -> ControlFlow<bool>) -> Result<Option<bool>, ConnectorError> {
    match crate::directory::paging::each_page(cx, first, f) {
        Err(ConnectorError::NotFound(_)) => Ok(None),
        other => other,
    }
}

/// How a refusal names a holder.
pub fn holder_name(holder: &Holder) -> String {
    match holder {
        Holder::User { username, .. } => format!("user {username}"),
        Holder::Group(name) => format!("group {name}"),
        Holder::Anonymous => "anonymous access".into(),
    }
}
