//! Authentication as Seraph does it: `Authorization: Bearer <PAT>` or `Basic`, falling back
//! to the anonymous user when no credentials are sent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::dataset::SimUser;
use crate::state::Directory;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User(SimUser),
}

impl Caller {
    pub fn user(&self) -> Option<&SimUser> {
        match self {
            Caller::Anonymous => None,
            Caller::User(user) => Some(user),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user().is_some_and(|u| u.is_admin)
    }

    /// `X-AUSERNAME` value as real servers send it.
    pub fn header_name(&self) -> &str {
        self.user().map_or("anonymous", |u| u.username.as_str())
    }
}

/// Why a request is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Credentials sent but wrong (or the account is deactivated).
    BadCredentials,
    /// No credentials and anonymous access is disabled.
    AnonymousDisabled,
}

/// Resolves the caller from the `Authorization` header value.
/// Unknown schemes are ignored (anonymous), as Seraph does.
pub fn authenticate(authorization: Option<&str>, directory: &Directory, anonymous_access: bool) -> Result<Caller, AuthFailure> {
    let anonymous = if anonymous_access { Ok(Caller::Anonymous) } else { Err(AuthFailure::AnonymousDisabled) };
    let Some(authorization) = authorization.map(str::trim).filter(|a| !a.is_empty()) else {
        return anonymous;
    };
    let (scheme, credentials) = authorization.split_once(' ').unwrap_or((authorization, ""));
    let username = if scheme.eq_ignore_ascii_case("bearer") {
        directory.username_for_token(credentials.trim()).map(str::to_string)
    } else if scheme.eq_ignore_ascii_case("basic") {
        username_for_basic(credentials.trim(), directory)
    } else {
        return anonymous;
    };
    username
        .and_then(|name| directory.user_by_username(&name).cloned())
        .filter(|user| !user.is_deactivated())
        .map(Caller::User)
        .ok_or(AuthFailure::BadCredentials)
}

fn username_for_basic(encoded: &str, directory: &Directory) -> Option<String> {
    let decoded = STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    let user = directory.user_by_username(username)?;
    (user.password.as_deref() == Some(password)).then(|| user.username.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{ADMIN_TOKEN, Dataset};

    fn directory() -> Directory {
        Directory::from_dataset(&Dataset::generate(6))
    }

    #[test]
    fn bearer_and_basic_resolve_users() {
        let dir = directory();
        let admin = authenticate(Some(&format!("Bearer {ADMIN_TOKEN}")), &dir, true).unwrap();
        assert!(admin.is_admin());
        let basic = format!("Basic {}", STANDARD.encode("zoe.angstrom:password-zoe.angstrom"));
        assert_eq!(authenticate(Some(&basic), &dir, false).unwrap().header_name(), "zoe.angstrom");
    }

    #[test]
    fn bad_credentials_and_deactivated_users_fail() {
        let dir = directory();
        assert_eq!(authenticate(Some("Bearer nope"), &dir, true), Err(AuthFailure::BadCredentials));
        assert_eq!(authenticate(Some("Basic !!!"), &dir, true), Err(AuthFailure::BadCredentials));
        let wrong = format!("Basic {}", STANDARD.encode("admin:wrong"));
        assert_eq!(authenticate(Some(&wrong), &dir, true), Err(AuthFailure::BadCredentials));
        let deactivated = format!("Basic {}", STANDARD.encode("shalom-cohen:password-shalom-cohen"));
        assert_eq!(authenticate(Some(&deactivated), &dir, true), Err(AuthFailure::BadCredentials));
    }

    #[test]
    fn missing_credentials_depend_on_anonymous_access() {
        let dir = directory();
        assert_eq!(authenticate(None, &dir, true), Ok(Caller::Anonymous));
        assert_eq!(authenticate(None, &dir, false), Err(AuthFailure::AnonymousDisabled));
    }
}
