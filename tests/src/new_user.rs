//! A user about to be created (`NewUser`), the create-user validation rules of
//! docs/confluence-dc.md §5.6 (shared by `POST /rest/api/admin/user` and JSON-RPC `addUser`), and
//! the [`SimUser`] it becomes.

use crate::dataset::{SimUser, user_key_for};

/// Characters a username may not contain (besides whitespace and upper case).
const FORBIDDEN_USERNAME_CHARS: [char; 7] = ['\\', ',', '+', '<', '>', '\'', '"'];
/// The reserved name neither a username nor a full name may take.
const RESERVED_NAME: &str = "anonymous";

/// The fields of a create-user request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub password: Option<String>,
    pub notify_via_email: bool,
}

/// A rejected field: the REST field name and a message that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, problem: &str) -> FieldError {
        FieldError { field, message: format!("{field} {problem}") }
    }
}

impl NewUser {
    /// Checks every rule in the order userName, fullName, email, password; the first
    /// violation wins.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_username(&self.username)?;
        validate_full_name(&self.full_name)?;
        validate_email(&self.email)?;
        self.validate_password()
    }

    fn validate_password(&self) -> Result<(), FieldError> {
        match (self.notify_via_email, &self.password) {
            (false, None) => Err(FieldError::new("password", "is required when notifyViaEmail is false")),
            (false, Some(p)) if p.is_empty() => Err(FieldError::new("password", "is required when notifyViaEmail is false")),
            (true, Some(_)) => Err(FieldError::new("password", "must not be set when notifyViaEmail is true")),
            _ => Ok(()),
        }
    }

    /// The directory entry: current, not an admin, key derived from the username.
    pub fn into_user(self) -> SimUser {
        SimUser {
            user_key: user_key_for(&self.username),
            display_name: Some(self.full_name),
            status: Some("current".to_string()),
            password_set: self.password.is_some(),
            password: self.password,
            is_admin: false,
            email: Some(self.email),
            notified_by_email: self.notify_via_email,
            username: self.username,
        }
    }
}

fn validate_username(username: &str) -> Result<(), FieldError> {
    let field = "userName";
    if username.trim().is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if username.chars().any(char::is_whitespace) {
        return Err(FieldError::new(field, "must not contain whitespace"));
    }
    if username.chars().any(char::is_uppercase) {
        return Err(FieldError::new(field, "must not contain upper case characters"));
    }
    if let Some(bad) = username.chars().find(|c| FORBIDDEN_USERNAME_CHARS.contains(c)) {
        return Err(FieldError::new(field, &format!("must not contain the character '{bad}'")));
    }
    if username == RESERVED_NAME {
        return Err(FieldError::new(field, "must not be 'anonymous'"));
    }
    Ok(())
}

fn validate_full_name(full_name: &str) -> Result<(), FieldError> {
    let field = "fullName";
    if full_name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if full_name.contains(['<', '>']) {
        return Err(FieldError::new(field, "must not contain '<' or '>'"));
    }
    if full_name.trim().eq_ignore_ascii_case(RESERVED_NAME) {
        return Err(FieldError::new(field, "must not be 'anonymous'"));
    }
    Ok(())
}

/// Non-blank, one `@` with text on both sides, a dot inside the domain, no whitespace.
fn validate_email(email: &str) -> Result<(), FieldError> {
    let field = "email";
    if email.trim().is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if !is_valid_email(email) {
        return Err(FieldError::new(field, "is not a valid email address"));
    }
    Ok(())
}

fn is_valid_email(email: &str) -> bool {
    if email.chars().any(char::is_whitespace) || email.matches('@').count() != 1 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let domain_has_inner_dot = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
    !local.is_empty() && domain_has_inner_dot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> NewUser {
        NewUser {
            username: "new.user".into(),
            full_name: "New User".into(),
            email: "new.user@example.com".into(),
            password: Some("secret".into()),
            notify_via_email: false,
        }
    }

    fn field_of(change: impl FnOnce(&mut NewUser)) -> Option<&'static str> {
        let mut user = valid();
        change(&mut user);
        user.validate().err().map(|e| e.field)
    }

    #[test]
    fn every_rule_names_its_field() {
        assert_eq!(field_of(|_| {}), None);
        assert_eq!(field_of(|u| u.username = " ".into()), Some("userName"));
        assert_eq!(field_of(|u| u.username = "a b".into()), Some("userName"));
        assert_eq!(field_of(|u| u.username = "Upper".into()), Some("userName"));
        for bad in FORBIDDEN_USERNAME_CHARS {
            assert_eq!(field_of(|u| u.username = format!("a{bad}b")), Some("userName"));
        }
        assert_eq!(field_of(|u| u.username = "anonymous".into()), Some("userName"));
        assert_eq!(field_of(|u| u.full_name = "".into()), Some("fullName"));
        assert_eq!(field_of(|u| u.full_name = "<b>".into()), Some("fullName"));
        assert_eq!(field_of(|u| u.full_name = "anonymous".into()), Some("fullName"));
        for bad in ["", "x", "a@b", "@b.c", "a@.c", "a@b.", "a@@b.c", "a b@c.d"] {
            assert_eq!(field_of(|u| u.email = bad.into()), Some("email"), "{bad}");
        }
        assert_eq!(field_of(|u| u.password = None), Some("password"));
        assert_eq!(field_of(|u| u.notify_via_email = true), Some("password"));
        assert_eq!(
            field_of(|u| {
                u.notify_via_email = true;
                u.password = None;
            }),
            None
        );
    }

    #[test]
    fn into_user_records_password_and_notification() {
        let user = valid().into_user();
        assert!(user.password_set && !user.notified_by_email);
        assert_eq!(user.status.as_deref(), Some("current"));
        assert_eq!(user.user_key.len(), 32);
    }
}
