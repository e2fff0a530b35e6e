//! One-shot provisioning, as baton's flags do it (parsed in [`crate::args`]): `--grant-entitlement/
//! --grant-principal/--grant-principal-type`, `--revoke-grant`, `--create-account-*`. Entitlements, principals and
//! grants are looked up in the `.c1z` given by `--file` (so a sync comes first), then the
//! component makes the change. Nothing is sent unless `--provisioning` is on; deleting accounts
//! or resources is refused: this connector does not deprovision.

use anyhow::{Context, Result, anyhow, bail};
use baton_c1z::{C1zReader, find_annotation, pb};
use baton_sandbox::{Instance, wit};
use baton_sync::convert;
use std::path::Path;

/// A change asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Grant { entitlement: String, principal: String, principal_type: String },
    Revoke { grant: String },
    CreateAccount { login: String, email: Option<String>, profile: Option<String> },
    Delete { resource: String },
}

/// Refuses what must be refused before any request: deprovisioning, and anything without
/// `--provisioning`. `source` is the component's display name.
pub fn check_allowed(change: &Change, provisioning: bool, source: &str) -> Result<()> {
    if let Change::Delete { resource } = change {
        bail!("deleting {resource} is not supported: this connector does not deprovision; deprovision in {source} directly");
    }
    if !provisioning {
        bail!("provisioning is off, so nothing was changed: add --provisioning (or BATON_PROVISIONING=true) to let this run change {source}");
    }
    Ok(())
}

/// A change with everything it names found in the sync, ready to send.
#[derive(Debug, Clone)]
pub enum Prepared {
    Grant { entitlement: pb::Entitlement, principal: pb::Resource, principal_type: String },
    Revoke { grant: pb::Grant },
    CreateAccount { account: wit::AccountInfo },
}

/// Looks up what the change names in the sync in `file` (and checks the account's profile), so
/// that an unknown entitlement, principal or grant is refused before any request is sent.
pub fn prepare(change: &Change, file: &Path, types: &[wit::ResourceType]) -> Result<Prepared> {
    match change {
        Change::Grant { entitlement, principal, principal_type } => {
            let reader = open_sync(file)?;
            Ok(Prepared::Grant {
                entitlement: find_entitlement(&reader, entitlement, file)?,
                principal: find_resource(&reader, principal_type, principal, file)?,
                principal_type: principal_type.clone(),
            })
        }
        Change::Revoke { grant } => Ok(Prepared::Revoke { grant: find_grant(&open_sync(file)?, grant, file)? }),
        Change::CreateAccount { login, email, profile } => {
            Ok(Prepared::CreateAccount { account: account_info(login, email.as_deref(), profile.as_deref(), &account_type(types)?)? })
        }
        Change::Delete { .. } => Err(anyhow!("deprovisioning is not supported")),
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The grants the principal now holds the entitlement through, as the component names them.
    Granted(Vec<wit::Grant>),
    AlreadyGranted(Vec<wit::Grant>),
    Revoked,
    AlreadyRevoked,
    /// The new user.
    Created(wit::Resource),
    /// The user that already had this login, if it could be read.
    AlreadyExists(Option<wit::Resource>),
}

/// Sends a prepared change through `instance`.
pub async fn send(instance: &mut Instance, prepared: &Prepared) -> Result<Outcome> {
    Ok(match prepared {
        Prepared::Grant { entitlement, principal, .. } => {
            let result = instance.grant(&convert::wit_entitlement(entitlement), &convert::wit_resource(principal)).await?;
            match result.outcome {
                wit::GrantOutcome::Granted => Outcome::Granted(result.grants),
                wit::GrantOutcome::AlreadyGranted => Outcome::AlreadyGranted(result.grants),
            }
        }
        Prepared::Revoke { grant } => match instance.revoke(&convert::wit_grant(grant)).await? {
            wit::RevokeOutcome::Revoked => Outcome::Revoked,
            wit::RevokeOutcome::AlreadyRevoked => Outcome::AlreadyRevoked,
        },
        Prepared::CreateAccount { account } => match instance.create_account(account).await? {
            wit::CreateAccountOutcome::Created(user) => Outcome::Created(user),
            wit::CreateAccountOutcome::AlreadyExists(user) => Outcome::AlreadyExists(user),
        },
    })
}

/// What a change did, for people.
pub fn describe(prepared: &Prepared, outcome: &Outcome) -> String {
    match (prepared, outcome) {
        (Prepared::Grant { entitlement, principal, principal_type }, outcome) => {
            let who = format!("{principal_type}:{}", principal.id.as_ref().map(|i| i.resource.as_str()).unwrap_or_default());
            match outcome {
                Outcome::AlreadyGranted(_) => format!("{who} already had {} (nothing changed)", entitlement.id),
                _ => format!("granted {} to {who}", entitlement.id),
            }
        }
        (Prepared::Revoke { grant }, Outcome::AlreadyRevoked) => format!("{} was already revoked (nothing changed)", grant.id),
        (Prepared::Revoke { grant }, _) => format!("revoked {}", grant.id),
        (_, Outcome::Created(user)) => format!("created user {} ({})", user.id.resource, user.display_name),
        (Prepared::CreateAccount { account }, _) => format!("user {} already exists (nothing changed)", account.login),
    }
}

fn open_sync(file: &Path) -> Result<C1zReader> {
    if !file.exists() {
        bail!("{} does not exist: provisioning looks entitlements, principals and grants up in a sync; run a sync into it first", file.display());
    }
    C1zReader::open(file).with_context(|| format!("cannot read {}", file.display()))
}

fn find_entitlement(reader: &C1zReader, id: &str, file: &Path) -> Result<pb::Entitlement> {
    reader
        .entitlements()?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| anyhow!("entitlement {id:?} is not in {}: sync first, or list entitlements with the entitlements command", file.display()))
}

fn find_grant(reader: &C1zReader, id: &str, file: &Path) -> Result<pb::Grant> {
    reader
        .grants()?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| anyhow!("grant {id:?} is not in {}: sync first, or list grants with the grants command", file.display()))
}

/// The resource of that type and id; else, since ids may be opaque keys, the one user whose
/// login (its user trait's) is `id`.
fn find_resource(reader: &C1zReader, resource_type: &str, id: &str, file: &Path) -> Result<pb::Resource> {
    let resources = reader.resources(Some(resource_type))?;
    if let Some(found) = resources.iter().find(|r| r.id.as_ref().is_some_and(|i| i.resource == id)) {
        return Ok(found.clone());
    }
    let mut by_login = resources.into_iter().filter(|r| login_of(r).as_deref() == Some(id));
    match (by_login.next(), by_login.next()) {
        (Some(found), None) => Ok(found),
        (Some(_), Some(_)) => {
            bail!("more than one {resource_type} in {} has the login {id:?}: name it by its id (list them with `resources -t {resource_type}`)", file.display())
        }
        (None, _) => {
            bail!("{resource_type} {id:?} is not in {} (by id or login): sync first, or list them with `resources -t {resource_type}`", file.display())
        }
    }
}

/// The login of a user resource (its user trait's), if it has one.
fn login_of(resource: &pb::Resource) -> Option<String> {
    find_annotation::<pb::UserTrait>(&resource.annotations).ok().flatten().map(|t| t.login).filter(|l| !l.is_empty())
}

/// The resource type accounts are created as: the component's type with the user trait.
pub fn account_type(types: &[wit::ResourceType]) -> Result<String> {
    types
        .iter()
        .find(|t| t.traits.contains(&wit::ResourceTrait::User))
        .map(|t| t.id.clone())
        .ok_or_else(|| anyhow!("the connector has no resource type with the user trait, so it cannot create accounts"))
}

/// The account to create: login, email (flag or profile) and the profile's text fields.
fn account_info(login: &str, email: Option<&str>, profile: Option<&str>, resource_type_id: &str) -> Result<wit::AccountInfo> {
    let profile: serde_json::Map<String, serde_json::Value> = match profile {
        Some(json) => serde_json::from_str(json).context("--create-account-profile must be a JSON object, e.g. {\"full_name\":\"Ada Lovelace\"}")?,
        None => Default::default(),
    };
    let email = email.map(str::to_string).or_else(|| profile.get("email").and_then(|e| e.as_str()).map(str::to_string));
    let fields = profile
        .iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => wit::ProfileValue::Text(s.clone()),
                serde_json::Value::Bool(b) => wit::ProfileValue::Flag(*b),
                serde_json::Value::Number(n) => wit::ProfileValue::Number(n.as_f64()?),
                _ => return None,
            };
            Some(wit::ProfileField { key: key.clone(), value })
        })
        .collect();
    Ok(wit::AccountInfo {
        login: login.to_string(),
        emails: email.into_iter().map(|address| wit::Email { address, is_primary: true }).collect(),
        profile: fields,
        resource_type_id: resource_type_id.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_without_provisioning_and_always_refuses_deletes() {
        let grant = Change::Revoke { grant: "g".into() };
        assert!(check_allowed(&grant, false, "Wiki").unwrap_err().to_string().contains("--provisioning"));
        assert!(check_allowed(&grant, true, "Wiki").is_ok());
        let delete = Change::Delete { resource: "user:ada".into() };
        assert!(check_allowed(&delete, true, "Wiki").unwrap_err().to_string().contains("deprovision in Wiki directly"));
    }

    #[test]
    fn prepare_refuses_what_it_cannot_find_without_an_instance() {
        let missing = Path::new("/nonexistent/sync.c1z");
        let grant = Change::Grant { entitlement: "space:ENG:view".into(), principal: "ada".into(), principal_type: "user".into() };
        let types = [account_type_fixture()];
        assert!(prepare(&grant, missing, &types).unwrap_err().to_string().contains("run a sync into it first"));
        let revoke = Change::Revoke { grant: "space:ENG:view:user:ada".into() };
        assert!(prepare(&revoke, missing, &types).unwrap_err().to_string().contains("run a sync into it first"));
        let create = Change::CreateAccount { login: "ada".into(), email: None, profile: Some("not json".into()) };
        assert!(prepare(&create, missing, &types).unwrap_err().to_string().contains("must be a JSON object"));
        let create = Change::CreateAccount { login: "ada".into(), email: None, profile: None };
        assert!(prepare(&create, missing, &[]).unwrap_err().to_string().contains("user trait"));
        let Prepared::CreateAccount { account } = prepare(&create, missing, &types).unwrap() else { panic!() };
        assert_eq!(account.resource_type_id, "member", "the type with the user trait");
    }

    fn account_type_fixture() -> wit::ResourceType {
        wit::ResourceType {
            id: "member".into(),
            display_name: "Member".into(),
            description: String::new(),
            traits: vec![wit::ResourceTrait::User],
            skip_entitlements_and_grants: true,
        }
    }

    #[test]
    fn account_profile_must_be_json() {
        assert!(account_info("ada", None, Some("not json"), "user").is_err());
        let account = account_info("ada", None, Some(r#"{"full_name":"Ada","email":"ada@example.com"}"#), "user").unwrap();
        assert_eq!(account.emails[0].address, "ada@example.com");
    }
}
