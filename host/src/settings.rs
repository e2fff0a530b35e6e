//! Configuration from the component's declared schema: the naming of its `BATON_*` variables
//! (`access-token` -> `BATON_ACCESS_TOKEN`; the flags themselves are built in [`crate::args`]),
//! and the resolution of what the operator gave into [`Settings`]: non-secret values for the
//! guest, the origin credentials may go to, and the `Authorization` value. Every check happens
//! here, before any request is made; secrets never appear in messages.

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use baton_sandbox::declared::Declared;
use baton_sandbox::origin::Origin;
use baton_sandbox::wit::{AuthScheme, ConfigField, Metadata};
use http::HeaderValue;
use std::collections::BTreeMap;

/// The environment variable of a field: `BATON_` + upper snake case.
pub fn env_name(field: &str) -> String {
    format!("BATON_{}", field.to_ascii_uppercase().replace('-', "_"))
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Non-secret values the guest may read (the origin field normalised to a full URL).
    pub guest_config: BTreeMap<String, String>,
    /// Where requests may go.
    pub origin: Origin,
    /// Name of the setting holding the origin (for messages).
    pub origin_field: String,
    /// Value of the `Authorization` header attached to admitted requests.
    pub authorization: Option<HeaderValue>,
    /// Which scheme was chosen, for logs: `bearer (access-token)` or `basic (username)`.
    pub auth_description: String,
    /// The requests beyond GET and HEAD the component declares it sends.
    pub declared: Declared,
}

/// Checks `given` against the schema and builds the settings, or says what to fix.
pub fn resolve(metadata: &Metadata, mut given: BTreeMap<String, String>) -> Result<Settings> {
    check_schema(metadata)?;
    let withheld = withheld_fields(metadata);
    check_required(metadata, &given, &withheld)?;
    check_rules(metadata, &given)?;
    check_choices(metadata, &given)?;
    let origin_field = metadata.auth.origin_field.clone();
    let origin_value =
        given.get(&origin_field).ok_or_else(|| anyhow!("{} is not set: {}", flag_and_env(&origin_field), describe_field(metadata, &origin_field)))?;
    let origin = Origin::parse(&with_default_scheme(origin_value)).map_err(|why| anyhow!("{} is not usable: {why}", flag_and_env(&origin_field)))?;
    given.insert(origin_field.clone(), origin.base_url());
    let (authorization, auth_description) = authorization(metadata, &given)?;
    note_credentials(&given, &withheld, authorization.as_ref());
    let declared = declared(metadata)?;
    let guest_config = given.into_iter().filter(|(name, _)| !withheld.contains(&name.as_str())).collect();
    Ok(Settings { guest_config, origin, origin_field, authorization, auth_description, declared })
}

/// Notes every credential among the settings (each withheld value, and the `Authorization`
/// value with its token, or its base64 and password), so text leaving the process is redacted
/// of them ([`crate::secrets`]).
fn note_credentials(given: &BTreeMap<String, String>, withheld: &[&str], authorization: Option<&HeaderValue>) {
    use base64::Engine;
    given.iter().filter(|(name, _)| withheld.contains(&name.as_str())).for_each(|(_, value)| crate::secrets::note(value));
    let Some(header) = authorization.and_then(|h| h.to_str().ok()) else { return };
    if let Some(token) = header.strip_prefix("Bearer ") {
        crate::secrets::note(token);
    } else if let Some(encoded) = header.strip_prefix("Basic ") {
        crate::secrets::note(encoded);
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok().and_then(|d| String::from_utf8(d).ok());
        if let Some((_, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            crate::secrets::note(password);
        }
    }
}

/// What the component declares it sends beyond GET and HEAD, or why this host cannot enforce it.
pub fn declared(metadata: &Metadata) -> Result<Declared> {
    Declared::from_metadata(&metadata.egress).map_err(|why| anyhow!("the component declares a request this host cannot enforce: {why}"))
}

/// Refuses a schema this host cannot hold safely: a setting name other than lowercase letters,
/// digits and `-` (its flag and variable could be a host's own in another case: `PROXY` would
/// read `BATON_PROXY`), or an origin field that holds a credential (the token would be logged
/// as the base URL) or that the component does not declare.
pub fn check_schema(metadata: &Metadata) -> Result<()> {
    for field in &metadata.config {
        let name = field.name.as_str();
        let well_formed = !name.is_empty() && !name.starts_with('-') && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            bail!(
                "the connector component declares a setting named {name:?}: setting names are lowercase letters, digits and '-'; the component cannot be used until it renames it"
            );
        }
    }
    let origin = metadata.auth.origin_field.as_str();
    if !metadata.config.iter().any(|f| f.name == origin) {
        bail!("the connector component names {origin:?} as the field of its base URL but declares no such setting; the component cannot be used");
    }
    if withheld_fields(metadata).contains(&origin) {
        bail!(
            "the connector component names {origin:?} as the field of its base URL, but that field holds a credential (it would be shown as the base URL); the component cannot be used"
        );
    }
    Ok(())
}

/// Every value given for a field with declared choices is one of them.
fn check_choices(metadata: &Metadata, given: &BTreeMap<String, String>) -> Result<()> {
    for field in metadata.config.iter().filter(|f| !f.choices.is_empty()) {
        if let Some(value) = given.get(&field.name).filter(|v| !field.choices.contains(v)) {
            bail!("{} is {value:?}; it must be one of: {}", flag_and_env(&field.name), field.choices.join(", "));
        }
    }
    Ok(())
}

/// The fields the guest never sees, decided by the host whatever the component declares (a
/// component may add secrecy, never remove it): those it declares secret, every field one of
/// its auth schemes uses (username included), and every field whose name the host knows as a
/// credential ([`is_credential_name`]).
pub fn withheld_fields(metadata: &Metadata) -> Vec<&str> {
    let declared = metadata.config.iter().filter(|f| f.secret || is_credential_name(&f.name)).map(|f| f.name.as_str());
    let credentials = metadata.auth.schemes.iter().flat_map(|scheme| match scheme {
        AuthScheme::Bearer(field) => vec![field.as_str()],
        AuthScheme::Basic(basic) => vec![basic.username_field.as_str(), basic.password_field.as_str()],
    });
    let mut withheld: Vec<&str> = declared.chain(credentials).collect();
    withheld.sort_unstable();
    withheld.dedup();
    withheld
}

/// Names that carry a credential whatever a component says: `access-token`, `api-token`,
/// `password`, `db-password`, `client-secret`, `api-key`, `private-key`, `credentials`, ...
pub fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    let words: Vec<&str> = name.split('-').collect();
    let last = words.last().copied().unwrap_or_default();
    ["token", "password", "passwd", "passphrase", "secret", "credential", "credentials", "cookie"].contains(&last)
        || (last == "key" && words.len() > 1 && ["api", "private", "secret", "access", "signing"].contains(&words[words.len() - 2]))
}

fn with_default_scheme(value: &str) -> String {
    if value.contains("://") { value.trim().to_string() } else { format!("https://{}", value.trim()) }
}

fn check_required(metadata: &Metadata, given: &BTreeMap<String, String>, withheld: &[&str]) -> Result<()> {
    // A component's default stands in for the operator only where it cannot steer credentials.
    let has_usable_default = |f: &ConfigField| f.default_value.is_some() && f.name != metadata.auth.origin_field && !withheld.contains(&f.name.as_str());
    let missing: Vec<String> = metadata
        .config
        .iter()
        .filter(|f| f.required && !has_usable_default(f) && !given.contains_key(&f.name))
        .map(|f| format!("{} ({})", flag_and_env(&f.name), f.description))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(anyhow!("missing required setting: {}", missing.join("; "))) }
}

/// Each rule: no alternative may be partly set, and at least one must be fully set.
fn check_rules(metadata: &Metadata, given: &BTreeMap<String, String>) -> Result<()> {
    for rule in &metadata.rules {
        for alternative in &rule.alternatives {
            let (set, unset): (Vec<&String>, Vec<&String>) = alternative.iter().partition(|f| given.contains_key(*f));
            if !set.is_empty() && !unset.is_empty() {
                bail!("{} is set but {} is not: they go together", names(&set), unset.iter().map(|f| flag_and_env(f)).collect::<Vec<_>>().join(" and "));
            }
        }
        let complete = rule.alternatives.iter().any(|alt| alt.iter().all(|f| given.contains_key(f)));
        if !complete {
            let options: Vec<String> = rule.alternatives.iter().map(|alt| alt.iter().map(|f| flag_and_env(f)).collect::<Vec<_>>().join(" + ")).collect();
            bail!("credentials are missing: set {}", options.join(", or "));
        }
    }
    Ok(())
}

/// The header value of the first auth scheme whose fields are all set.
fn authorization(metadata: &Metadata, given: &BTreeMap<String, String>) -> Result<(Option<HeaderValue>, String)> {
    for scheme in &metadata.auth.schemes {
        match scheme {
            AuthScheme::Bearer(field) => {
                if let Some(token) = given.get(field) {
                    return Ok((Some(header_value(&format!("Bearer {}", token.trim()), field)?), format!("bearer ({field})")));
                }
            }
            AuthScheme::Basic(basic) => {
                if let (Some(user), Some(password)) = (given.get(&basic.username_field), given.get(&basic.password_field)) {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                    let value = header_value(&format!("Basic {encoded}"), &basic.password_field)?;
                    return Ok((Some(value), format!("basic ({})", basic.username_field)));
                }
            }
        }
    }
    if metadata.auth.schemes.is_empty() { Ok((None, "none".into())) } else { Err(anyhow!("no credentials are set for any supported authentication scheme")) }
}

fn header_value(value: &str, field: &str) -> Result<HeaderValue> {
    let mut header = HeaderValue::from_str(value).map_err(|_| anyhow!("{} contains characters that cannot be sent in an HTTP header", flag_and_env(field)))?;
    header.set_sensitive(true);
    Ok(header)
}

fn flag_and_env(field: &str) -> String {
    format!("--{field} / {}", env_name(field))
}

fn names(fields: &[&String]) -> String {
    fields.iter().map(|f| flag_and_env(f)).collect::<Vec<_>>().join(" and ")
}

fn describe_field(metadata: &Metadata, name: &str) -> String {
    metadata.config.iter().find(|f| f.name == name).map(|f| f.description.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sandbox::wit::{Auth, BasicAuth, ConfigRule, FieldKind};

    fn field(name: &str, required: bool, secret: bool) -> ConfigField {
        ConfigField { name: name.into(), description: format!("the {name}"), kind: FieldKind::Text, required, secret, default_value: None, choices: Vec::new() }
    }

    fn metadata() -> Metadata {
        Metadata {
            display_name: "Test".into(),
            description: String::new(),
            config: vec![field("hostname", true, false), field("access-token", false, true), field("username", false, false), field("password", false, true)],
            rules: vec![ConfigRule { alternatives: vec![vec!["access-token".into()], vec!["username".into(), "password".into()]] }],
            auth: Auth {
                origin_field: "hostname".into(),
                schemes: vec![
                    AuthScheme::Bearer("access-token".into()),
                    AuthScheme::Basic(BasicAuth { username_field: "username".into(), password_field: "password".into() }),
                ],
            },
            capabilities: vec![],
            egress: vec![],
        }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_host_decides_what_is_a_credential_whatever_the_component_declares() {
        let mut liar = metadata();
        // Declared plain, and used by no auth scheme.
        liar.config.push(field("api-token", false, false));
        liar.config.push(field("db-password", false, false));
        liar.config.push(field("page-size", false, false));
        let s = resolve(&liar, given(&[("hostname", "h"), ("access-token", "tok"), ("api-token", "canary1"), ("db-password", "canary2"), ("page-size", "5")]))
            .unwrap();
        assert_eq!(s.guest_config.keys().collect::<Vec<_>>(), ["hostname", "page-size"]);
        for name in ["access-token", "client-secret", "PASSWORD", "signing-key", "session-cookie", "credentials"] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in ["hostname", "user-key", "user-id", "key", "skip-archived-spaces", "tokenizer"] {
            assert!(!is_credential_name(name), "{name}");
        }
    }

    #[test]
    fn a_value_outside_the_declared_choices_is_refused_with_them() {
        let mut meta = metadata();
        meta.config.push(ConfigField { choices: vec!["username".into(), "user-key".into()], ..field("user-id", false, false) });
        assert!(resolve(&meta, given(&[("hostname", "h"), ("access-token", "t"), ("user-id", "user-key")])).is_ok());
        let refused = resolve(&meta, given(&[("hostname", "h"), ("access-token", "t"), ("user-id", "email")])).unwrap_err().to_string();
        assert_eq!(refused, "--user-id / BATON_USER_ID is \"email\"; it must be one of: username, user-key");
    }

    #[test]
    fn env_names_follow_baton() {
        assert_eq!(env_name("access-token"), "BATON_ACCESS_TOKEN");
    }

    #[test]
    fn token_wins_and_never_reaches_the_guest() {
        let s =
            resolve(&metadata(), given(&[("hostname", "wiki.example.com/wiki/"), ("access-token", "s3cr3t"), ("username", "u"), ("password", "p")])).unwrap();
        assert_eq!(s.authorization.unwrap().to_str().unwrap(), "Bearer s3cr3t");
        assert_eq!(s.guest_config.get("hostname").unwrap(), "https://wiki.example.com/wiki");
        assert!(!s.guest_config.contains_key("access-token"));
        assert!(!s.guest_config.contains_key("password"));
        assert!(!format!("{:?}", s.guest_config).contains("s3cr3t"));
    }

    #[test]
    fn basic_when_no_token() {
        let s = resolve(&metadata(), given(&[("hostname", "http://h:1"), ("username", "ada"), ("password", "pw")])).unwrap();
        assert_eq!(s.authorization.unwrap().to_str().unwrap(), "Basic YWRhOnB3");
        assert!(!s.guest_config.contains_key("username"), "a field an auth scheme uses is withheld");
    }

    #[test]
    fn clear_errors_for_missing_and_partial_settings() {
        let err = resolve(&metadata(), given(&[("access-token", "t")])).unwrap_err().to_string();
        assert!(err.contains("--hostname / BATON_HOSTNAME"), "{err}");
        let err = resolve(&metadata(), given(&[("hostname", "h"), ("username", "u")])).unwrap_err().to_string();
        assert!(err.contains("--password / BATON_PASSWORD"), "{err}");
        let err = resolve(&metadata(), given(&[("hostname", "h")])).unwrap_err().to_string();
        assert!(err.contains("BATON_ACCESS_TOKEN, or --username"), "{err}");
        let err = resolve(&metadata(), given(&[("hostname", "ftp://h"), ("access-token", "t")])).unwrap_err().to_string();
        assert!(err.contains("only http and https"), "{err}");
    }

    #[test]
    fn credential_fields_are_withheld_even_when_not_declared_secret() {
        let mut careless = metadata();
        careless.config.iter_mut().for_each(|f| f.secret = false);
        let s = resolve(&careless, given(&[("hostname", "h"), ("access-token", "tok"), ("username", "u"), ("password", "pw")])).unwrap();
        assert_eq!(s.guest_config.keys().collect::<Vec<_>>(), ["hostname"]);
    }

    #[test]
    fn passwords_in_the_hostname_are_refused_without_being_repeated() {
        for hostname in ["https://ada:hunter2@wiki.example.com", "https://ada:hunter2@wiki.example.com:bad/x", "ada:hunter2@wiki.example.com"] {
            let err = resolve(&metadata(), given(&[("hostname", hostname), ("access-token", "t")])).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("BATON_HOSTNAME"), "{err}");
        }
    }

    #[test]
    fn secrets_stay_out_of_error_messages() {
        let err = resolve(&metadata(), given(&[("hostname", "h"), ("access-token", "bad\ntoken-value")])).unwrap_err().to_string();
        assert!(!err.contains("token-value"), "{err}");
    }

    /// A component cannot reach the host's own settings or its credential through its schema:
    /// names are lowercase, and the base URL's field holds no credential.
    #[test]
    fn a_schema_that_could_reach_the_hosts_settings_or_a_credential_is_refused() {
        assert!(check_schema(&metadata()).is_ok());
        for name in ["PROXY", "Proxy", "my_field", "a b", "", "-x", "naïve"] {
            let mut meta = metadata();
            meta.config.push(field(name, false, false));
            let refused = check_schema(&meta).unwrap_err().to_string();
            assert!(refused.contains("lowercase letters, digits and '-'"), "{name:?}: {refused}");
        }
        for origin in ["access-token", "password"] {
            let mut meta = metadata();
            meta.auth.origin_field = origin.into();
            let refused = check_schema(&meta).unwrap_err().to_string();
            assert!(refused.contains("holds a credential"), "{origin}: {refused}");
            assert!(resolve(&meta, given(&[("hostname", "h"), ("access-token", "t")])).is_err(), "{origin}: resolve refuses it too");
        }
        let mut meta = metadata();
        meta.auth.origin_field = "base-url".into();
        assert!(check_schema(&meta).unwrap_err().to_string().contains("declares no such setting"));
    }
}
