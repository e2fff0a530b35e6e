//! Changing global permissions. The API's write (`PUT /rest/api/permissions`) replaces a
//! subject's whole set, so each change reads that subject's current set first (a group's from
//! its own listing, a user's from the full listing), adds or removes the one operation, writes
//! the set back and reads it again to verify. When the current set cannot be read — no API, a
//! listing that names users only by display name, an error — nothing is sent, since writing a
//! guessed set could revoke what the subject holds. Revoking System Administrator passes the
//! [`guard`](crate::site::guard) first.

use crate::directory::Change;
use crate::directory::ids::SITE;
use crate::directory::subjects::{Holder, holder_of, same_holder};
use crate::guest_log;
use crate::site::catalogue::{GlobalPermission, Pair, by_slug};
use crate::site::guard::{holder_name, is_system_administer, refuse_last_system_administrator};
use crate::site::read::{self, site_grant};
use crate::syncer::Context;
use crate::transport::Method;
use crate::types::{ConnectorError, Entitlement, Grant, GrantOutcome, GrantResult, Resource, RevokeOutcome};

/// Gives a principal a global permission, unless they hold it already.
pub fn grant(cx: &Context, entitlement: &Entitlement, principal: &Resource) -> Result<GrantResult, ConnectorError> {
    refuse_without_api(cx)?;
    let site = &entitlement.resource.resource;
    let holder = holder_of(cx, &principal.id, principal.user.as_ref().map(|u| u.login.as_str()), "global permissions")?;
    let permission = permission_of(cx, &entitlement.slug, &entitlement.id)?;
    let grants = vec![site_grant(site, &permission, principal.id.clone())];
    let current = current_set(cx, &holder)?;
    let pair = permission.pair();
    if current.contains(&pair) {
        return Ok(GrantResult { outcome: GrantOutcome::AlreadyGranted, grants });
    }
    let mut wanted = current;
    wanted.push(pair);
    write_set(cx, &holder, &permission, wanted, Change::Add)?;
    Ok(GrantResult { outcome: GrantOutcome::Granted, grants })
}

/// Takes a global permission away from a principal, unless they no longer hold it; never the
/// last System Administrator's.
pub fn revoke(cx: &Context, grant: &Grant) -> Result<RevokeOutcome, ConnectorError> {
    if grant.entitlement_resource.resource_type != SITE {
        return Err(ConnectorError::InvalidArgument(format!("{} is not a global permission grant", grant.id)));
    }
    refuse_without_api(cx)?;
    let slug = grant.entitlement_id.rsplit(':').next().unwrap_or_default();
    let holder = holder_of(cx, &grant.principal, None, "global permissions")?;
    let permission = permission_of(cx, slug, &grant.entitlement_id)?;
    let current = current_set(cx, &holder)?;
    let pair = permission.pair();
    if !current.contains(&pair) {
        return Ok(RevokeOutcome::AlreadyRevoked);
    }
    if is_system_administer(&pair) {
        refuse_last_system_administrator(cx, &holder)?;
    }
    let wanted = current.into_iter().filter(|p| *p != pair).collect();
    write_set(cx, &holder, &permission, wanted, Change::Remove)?;
    Ok(RevokeOutcome::Revoked)
}

/// A version without the API is refused before anything is looked up.
fn refuse_without_api(cx: &Context) -> Result<(), ConnectorError> {
    if cx.version()?.has_global_permission_rest() { Ok(()) } else { Err(read::unavailable(cx)) }
}

/// The permission an entitlement slug names: a documented one, or one the server reports.
fn permission_of(cx: &Context, slug: &str, entitlement_id: &str) -> Result<GlobalPermission, ConnectorError> {
    let reported = match by_slug(slug, []) {
        Some(documented) => return Ok(documented),
        None => read::all(cx)?.ok_or_else(|| read::unavailable(cx))?.permissions(),
    };
    by_slug(slug, &reported).ok_or_else(|| ConnectorError::InvalidArgument(format!("{entitlement_id} is not a global permission this Confluence reports")))
}

/// The holder's whole set now; an error (and nothing sent) when it cannot be read.
fn current_set(cx: &Context, holder: &Holder) -> Result<Vec<Pair>, ConnectorError> {
    let held = match holder {
        Holder::Group(name) => read::of_group(cx, name)?,
        Holder::User { username, .. } => {
            let all = read::all(cx)?.ok_or_else(|| read::unavailable(cx))?;
            if all.users_without_name > 0 {
                return Err(ConnectorError::Unimplemented(format!(
                    "cannot read {username}'s current global permissions: this Confluence names users in its listing only by display name, and writing a set without knowing the current one could revoke the others; nothing was changed"
                )));
            }
            all
        }
        Holder::Anonymous => return Err(anonymous_refused()),
    };
    Ok(held.pairs_of(|subject| same_holder(subject, holder)))
}

/// Writes the holder's whole set and reads it back: what Confluence then reports must be
/// exactly what was written.
fn write_set(cx: &Context, holder: &Holder, permission: &GlobalPermission, wanted: Vec<Pair>, change: Change) -> Result<(), ConnectorError> {
    let mut wanted = wanted;
    wanted.sort();
    wanted.dedup();
    let operations: Vec<serde_json::Value> = wanted.iter().map(|p| serde_json::json!({"targetType": p.target, "operationKey": p.operation})).collect();
    let subject = match holder {
        Holder::User { user_key, .. } => serde_json::json!({"userKey": user_key, "operations": operations}),
        Holder::Group(name) => serde_json::json!({"groupName": name, "operations": operations}),
        Holder::Anonymous => return Err(anonymous_refused()),
    };
    cx.client.write(Method::Put, "/rest/api/permissions", Some(&serde_json::json!([subject]))).map_err(read::needs_admin)?;
    let now = current_set(cx, holder)?;
    if now != wanted {
        return Err(ConnectorError::Internal(format!(
            "Confluence accepted the change of {}'s global permissions but now reports {} instead of {}",
            holder_name(holder),
            pairs_text(&now),
            pairs_text(&wanted)
        )));
    }
    guest_log::info(
        if change == Change::Add { "granted a global permission" } else { "revoked a global permission" },
        &[("permission", &format!("{}/{}", permission.target, permission.operation)), ("holder", &holder_name(holder))],
    );
    Ok(())
}

/// The API's write names users and groups only.
fn anonymous_refused() -> ConnectorError {
    ConnectorError::Unimplemented(
        "anonymous access's global permissions cannot be changed over Confluence's REST API (its write names users and groups only): change them in Confluence's administration (General configuration > Global permissions); nothing was changed".into(),
    )
}

fn pairs_text(pairs: &[Pair]) -> String {
    if pairs.is_empty() {
        return "none".into();
    }
    pairs.iter().map(Pair::to_string).collect::<Vec<_>>().join(", ")
}
