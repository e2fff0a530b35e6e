//! The connector's configuration: the schema it declares to the host (fields, rules, how secrets
//! are applied) and the non-secret values it reads back.

use crate::types::{
    Auth, AuthScheme, BasicAuth, ConfigField, ConfigRule, FieldKind, Metadata, ResourceTypeCapability,
};

/// Field holding the Confluence base URL; credentials go to this origin only.
pub const HOSTNAME: &str = "hostname";
/// Secret field: personal access token.
pub const ACCESS_TOKEN: &str = "access-token";
/// Field: username for basic authentication.
pub const USERNAME: &str = "username";
/// Secret field: password for basic authentication.
pub const PASSWORD: &str = "password";

/// The schema, auth declaration and capabilities this connector declares.
pub fn metadata(capabilities: Vec<ResourceTypeCapability>) -> Metadata {
    Metadata {
        display_name: "Confluence Data Center".into(),
        description: "Syncs users of a self-hosted Confluence Data Center or Server instance.".into(),
        config: config_fields(),
        rules: vec![ConfigRule { alternatives: vec![vec![ACCESS_TOKEN.into()], vec![USERNAME.into(), PASSWORD.into()]] }],
        auth: Auth {
            origin_field: HOSTNAME.into(),
            schemes: vec![
                AuthScheme::Bearer(ACCESS_TOKEN.into()),
                AuthScheme::Basic(BasicAuth { username_field: USERNAME.into(), password_field: PASSWORD.into() }),
            ],
        },
        capabilities,
    }
}

fn config_fields() -> Vec<ConfigField> {
    vec![
        field(
            HOSTNAME,
            "Base URL of Confluence, with the context path if there is one, e.g. https://confluence.example.com or https://example.com/confluence",
            FieldKind::Url,
            true,
            false,
        ),
        field(
            ACCESS_TOKEN,
            "Personal access token of a Confluence administrator (Profile > Settings > Personal Access Tokens)",
            FieldKind::Text,
            false,
            true,
        ),
        field(USERNAME, "Username of a Confluence administrator, for basic authentication", FieldKind::Text, false, false),
        field(PASSWORD, "Password of that user, for basic authentication", FieldKind::Text, false, true),
    ]
}

fn field(name: &str, description: &str, kind: FieldKind, required: bool, secret: bool) -> ConfigField {
    ConfigField { name: name.into(), description: description.into(), kind, required, secret, default_value: None }
}

/// The configured Confluence base URL, split the way requests need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// True for https.
    pub https: bool,
    /// `host` or `host:port`.
    pub authority: String,
    /// Context path without a trailing slash: `""` or e.g. `/confluence`.
    pub context_path: String,
}

impl BaseUrl {
    /// Parses `https://host[:port][/context]`; a value without a scheme means https.
    pub fn parse(value: &str) -> Result<BaseUrl, crate::types::ConnectorError> {
        let invalid = |why: &str| {
            crate::types::ConnectorError::InvalidArgument(format!(
                "{HOSTNAME} {value:?} is not a usable base URL ({why}); expected e.g. https://confluence.example.com or https://example.com/confluence"
            ))
        };
        let value = value.trim();
        let (https, rest) = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some(_) => return Err(invalid("the scheme must be http or https")),
            None => (true, value),
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("it must not have a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("it needs a host name, without user information"));
        }
        Ok(BaseUrl { https, authority: authority.to_string(), context_path: path.trim_end_matches('/').to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_and_password_are_secret() {
        let meta = metadata(vec![]);
        let secret: Vec<_> = meta.config.iter().filter(|f| f.secret).map(|f| f.name.as_str()).collect();
        assert_eq!(secret, vec![ACCESS_TOKEN, PASSWORD]);
        assert!(meta.config.iter().any(|f| f.name == HOSTNAME && f.required));
    }

    #[test]
    fn base_urls_keep_scheme_port_and_context_path() {
        let base = BaseUrl::parse("http://127.0.0.1:8090/confluence/").unwrap();
        assert_eq!(base, BaseUrl { https: false, authority: "127.0.0.1:8090".into(), context_path: "/confluence".into() });
        assert_eq!(BaseUrl::parse("confluence.example.com").unwrap().context_path, "");
        assert!(BaseUrl::parse("confluence.example.com").unwrap().https);
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("https://u:p@x").is_err());
        assert!(BaseUrl::parse("https://x/?a=b").is_err());
    }
}
