//! Creating Confluence accounts: the `user` type's create-account, built on `directory::users`
//! (looking the new user up, mapping it), not on `user`, which routes to it.
//!
//! 8.4+: `POST /rest/api/admin/user` with `notifyViaEmail: true` and no password: Confluence
//! emails the new user a link to set their own, so no password exists anywhere in this system.
//! Before 8.4 only JSON-RPC `addUser` exists, and it requires a password: a random 24-byte one
//! is generated in the sandbox, sent once over the authenticated connection, and never logged,
//! stored or returned (baton's create-account response can carry a secret only encrypted to a
//! key C1 provides, which the contract does not pass yet); the user sets their own through
//! "Forgot password" or an administrator resets it.
//! The username rules are checked before anything is sent.

use crate::directory::users::{self, ConfluenceUser};
use crate::syncer::Context;
use crate::transport::Method;
use crate::types::{AccountInfo, ConnectorError, CreateAccountOutcome, ProfileValue};

/// Characters Confluence refuses in usernames.
const FORBIDDEN_IN_USERNAME: [char; 7] = ['\\', ',', '+', '<', '>', '\'', '"'];

/// Creates the account described by `account`.
pub fn create(cx: &Context, account: &AccountInfo) -> Result<CreateAccountOutcome, ConnectorError> {
    let login = account.login.trim();
    check_username(login)?;
    let email = email_of(account)?;
    let full_name = full_name_of(account, login)?;
    let created = if cx.version()?.has_user_create_rest() {
        let body = serde_json::json!({"userName": login, "fullName": full_name, "email": email, "notifyViaEmail": true});
        cx.client.write(Method::Post, "/rest/api/admin/user", Some(&body)).map(|_| ())
    } else {
        let password = random_password();
        let params = serde_json::json!([{"name": login, "fullname": full_name, "email": email}, password]);
        cx.client.json_rpc::<serde_json::Value>("addUser", params).map(|_| ())
    };
    match created {
        Ok(()) => {
            let user = fetch(cx, login)?.ok_or_else(|| ConnectorError::Internal(format!("Confluence accepted user {login:?} but does not return it")))?;
            let resource = users::user_resource(user, cx.options.user_id, Some(email))
                .ok_or_else(|| ConnectorError::Internal(format!("the new user {login:?} has no usable id")))?;
            Ok(CreateAccountOutcome::Created(resource))
        }
        Err(ConnectorError::AlreadyExists(_)) => Ok(already_exists(cx, login)?),
        // JSON-RPC reports a duplicate as a failed call whose message says so (the simulator
        // answers HTTP 500; the real status is unconfirmed, docs/confluence-dc.md §9.3).
        Err(ConnectorError::Internal(message) | ConnectorError::Unavailable(message)) if message.to_lowercase().contains("already exists") => {
            Ok(already_exists(cx, login)?)
        }
        Err(ConnectorError::PermissionDenied(message) | ConnectorError::Unauthenticated(message)) => {
            Err(ConnectorError::PermissionDenied(format!("creating users needs a Confluence administrator's token or account ({message})")))
        }
        Err(other) => Err(other),
    }
}

fn already_exists(cx: &Context, login: &str) -> Result<CreateAccountOutcome, ConnectorError> {
    let existing = fetch(cx, login)?.and_then(|u| users::user_resource(u, cx.options.user_id, None));
    Ok(CreateAccountOutcome::AlreadyExists(existing))
}

fn fetch(cx: &Context, login: &str) -> Result<Option<ConfluenceUser>, ConnectorError> {
    users::lookup_user(cx, "username", login)
}

/// Confluence's username rules: non-blank, lowercase, no whitespace, none of `\ , + < > ' "`,
/// not `anonymous`.
pub fn check_username(login: &str) -> Result<(), ConnectorError> {
    let invalid = |why: &str| ConnectorError::InvalidArgument(format!("cannot create Confluence user {login:?}: {why}"));
    if login.is_empty() {
        return Err(invalid("the login is empty"));
    }
    if login.chars().any(char::is_whitespace) {
        return Err(invalid("usernames cannot contain whitespace"));
    }
    if login.chars().any(char::is_uppercase) {
        return Err(invalid("usernames must be lowercase"));
    }
    if let Some(c) = login.chars().find(|c| FORBIDDEN_IN_USERNAME.contains(c)) {
        return Err(invalid(&format!("usernames cannot contain {c:?}")));
    }
    if login.eq_ignore_ascii_case("anonymous") {
        return Err(invalid("\"anonymous\" is reserved"));
    }
    Ok(())
}

fn profile_text<'a>(account: &'a AccountInfo, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| {
        account.profile.iter().find(|f| f.key == *key).and_then(|f| match &f.value {
            ProfileValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        })
    })
}

fn email_of(account: &AccountInfo) -> Result<String, ConnectorError> {
    let primary = account.emails.iter().find(|e| e.is_primary).or(account.emails.first()).map(|e| e.address.trim());
    let email = primary.filter(|e| !e.is_empty()).or_else(|| profile_text(account, &["email"]));
    match email {
        Some(e) if e.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.')) => Ok(e.to_string()),
        Some(e) => Err(ConnectorError::InvalidArgument(format!("cannot create Confluence user {:?}: {e:?} is not an email address", account.login))),
        None => Err(ConnectorError::InvalidArgument(format!("cannot create Confluence user {:?}: an email address is required", account.login))),
    }
}

fn full_name_of(account: &AccountInfo, login: &str) -> Result<String, ConnectorError> {
    let name = profile_text(account, &["full_name", "fullName", "display_name", "displayName", "name"]).unwrap_or(login);
    if name.contains(['<', '>']) {
        return Err(ConnectorError::InvalidArgument(format!("cannot create Confluence user {login:?}: the full name cannot contain < or >")));
    }
    Ok(name.to_string())
}

/// 24 random bytes as 32 URL-safe characters.
fn random_password() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    random_bytes(24)
        .chunks(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            [18, 12, 6, 0].map(|shift| ALPHABET[((n >> shift) & 63) as usize] as char)
        })
        .collect()
}

#[cfg(target_arch = "wasm32")]
fn random_bytes(n: u64) -> Vec<u8> {
    crate::wasi::random::random::get_random_bytes(n)
}

#[cfg(not(target_arch = "wasm32"))]
fn random_bytes(n: u64) -> Vec<u8> {
    use std::hash::{BuildHasher, RandomState};
    (0..n).map(|i| RandomState::new().hash_one(i) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::{connector, kv_with_version};
    use crate::transport::FakeTransport;
    use crate::types::{Email, ProfileField};

    fn account(login: &str, email: Option<&str>) -> AccountInfo {
        AccountInfo {
            login: login.into(),
            emails: email.map(|e| Email { address: e.into(), is_primary: true }).into_iter().collect(),
            profile: vec![ProfileField { key: "full_name".into(), value: ProfileValue::Text("Ada Lovelace".into()) }],
            resource_type_id: "user".into(),
        }
    }

    #[test]
    fn username_rules_are_checked_before_sending() {
        for bad in ["Ada", "ada lovelace", "ada+1", "a<b", "anonymous", ""] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert!(check_username("ada.lovelace_1-x@corp").is_ok());
        let fake = FakeTransport::default();
        let kv = kv_with_version("9.2.0");
        assert!(matches!(connector(&fake, &kv).create_account(&account("Ada", Some("a@x.org"))), Err(ConnectorError::InvalidArgument(_))));
        assert!(matches!(connector(&fake, &kv).create_account(&account("ada", None)), Err(ConnectorError::InvalidArgument(ref m)) if m.contains("email")));
        assert!(fake.sent.borrow().is_empty(), "nothing sent");
    }

    #[test]
    fn rest_create_sends_no_password_and_returns_the_user() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(201, r#"{"userKey":"k9"}"#),
            FakeTransport::json(200, r#"{"type":"known","username":"ada","userKey":"k9","displayName":"Ada Lovelace","status":"current"}"#),
        ]);
        let kv = kv_with_version("9.2.0");
        let outcome = connector(&fake, &kv).create_account(&account("ada", Some("ada@example.com"))).unwrap();
        let CreateAccountOutcome::Created(user) = outcome else { panic!("not created") };
        assert_eq!(user.id.resource, "ada");
        assert_eq!(user.user.unwrap().emails[0].address, "ada@example.com");
        let body: serde_json::Value = serde_json::from_slice(fake.sent.borrow()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"userName":"ada","fullName":"Ada Lovelace","email":"ada@example.com","notifyViaEmail":true}));
    }

    #[test]
    fn duplicates_are_reported_as_already_existing() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(409, r#"{"statusCode":409,"message":"User exists"}"#),
            FakeTransport::json(200, r#"{"type":"known","username":"ada","userKey":"k9","displayName":"Ada"}"#),
        ]);
        let kv = kv_with_version("9.2.0");
        let outcome = connector(&fake, &kv).create_account(&account("ada", Some("ada@example.com"))).unwrap();
        assert!(matches!(outcome, CreateAccountOutcome::AlreadyExists(Some(ref r)) if r.id.resource == "ada"));
    }

    #[test]
    fn before_8_4_json_rpc_add_user_gets_a_random_password() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(200, "true"),
            FakeTransport::json(200, r#"{"type":"known","username":"ada","userKey":"k9","displayName":"Ada"}"#),
        ]);
        let kv = kv_with_version("7.19.0");
        connector(&fake, &kv).create_account(&account("ada", Some("ada@example.com"))).unwrap();
        let body: serde_json::Value = serde_json::from_slice(fake.sent.borrow()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body[0]["name"], "ada");
        assert_eq!(body[1].as_str().unwrap().len(), 32);
        assert_eq!(fake.sent_paths()[0], "/rpc/json-rpc/confluenceservice-v2/addUser");
    }
}
