//! The connector's configuration: the schema it declares to the host (fields, rules, how secrets
//! are applied) and the non-secret values it reads back.

use crate::types::{Auth, AuthScheme, BasicAuth, ConfigField, ConfigRule, FieldKind, Metadata, ResourceTypeCapability};

/// Field holding the Confluence base URL; credentials go to this origin only.
pub const HOSTNAME: &str = "hostname";
/// Secret field: personal access token.
pub const ACCESS_TOKEN: &str = "access-token";
/// Field: username for basic authentication.
pub const USERNAME: &str = "username";
/// Secret field: password for basic authentication.
pub const PASSWORD: &str = "password";
/// Option: leave personal spaces (`~user`) out.
pub const SKIP_PERSONAL_SPACES: &str = "skip-personal-spaces";
/// Option: leave archived spaces out.
pub const SKIP_ARCHIVED_SPACES: &str = "skip-archived-spaces";
/// Option: the page size asked of Confluence.
pub const PAGE_SIZE: &str = "page-size";
/// Option: what identifies a user: `username` or `user-key` (default: as [`COMPAT`] says).
pub const USER_ID: &str = "user-id";
/// Option: which release of the Go connector the ids reproduce ([`Compat`]).
pub const COMPAT: &str = "compat";

/// The schema, auth declaration and capabilities this connector declares.
pub fn metadata(capabilities: Vec<ResourceTypeCapability>) -> Metadata {
    Metadata {
        display_name: "Confluence Data Center".into(),
        description: "Syncs users, groups, memberships, spaces and space permissions of a self-hosted Confluence Data Center or Server instance.".into(),
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
        egress: crate::declared::egress(),
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
        field(ACCESS_TOKEN, "Personal access token of a Confluence administrator (Profile > Settings > Personal Access Tokens)", FieldKind::Text, false, true),
        field(USERNAME, "Username of a Confluence administrator, for basic authentication", FieldKind::Text, false, false),
        field(PASSWORD, "Password of that user, for basic authentication", FieldKind::Text, false, true),
        field(SKIP_PERSONAL_SPACES, "Leave personal spaces (~username) out of the sync", FieldKind::Boolean, false, false),
        field(SKIP_ARCHIVED_SPACES, "Leave archived spaces out of the sync", FieldKind::Boolean, false, false),
        ConfigField {
            default_value: Some(crate::client::DEFAULT_PAGE_SIZE.to_string()),
            ..field(PAGE_SIZE, "Page size asked of Confluence for every list (servers may clamp it lower)", FieldKind::Integer, false, false)
        },
        ConfigField {
            choices: vec!["username".into(), "user-key".into()],
            ..field(
                USER_ID,
                "What identifies a user: username (changes when a user is renamed) or user-key (stable across renames); by default the compat profile's",
                FieldKind::Text,
                false,
                false,
            )
        },
        ConfigField {
            default_value: Some(Compat::default().name().into()),
            choices: Compat::ALL.iter().map(|c| c.name().to_string()).collect(),
            ..field(
                COMPAT,
                "Which release of the Go connector the ids reproduce, so review history carries over: go-2025-01 (usernames; space permissions as view, edit-space, ...) or go-newest (userKeys; space permissions as read-space, create-page, ...)",
                FieldKind::Text,
                false,
                false,
            )
        },
    ]
}

/// The release of the Go connector whose resource, entitlement and grant ids a sync
/// reproduces (docs/confluence-dc.md §14). A profile changes ids and names only, never what is
/// synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// The release of January 2025: users by username, space permissions by our slugs (`view`).
    Go202501,
    /// The newest public release: users by userKey, space permissions as `<operation>-<target>`.
    #[default]
    GoNewest,
}

impl Compat {
    pub const ALL: [Compat; 2] = [Compat::Go202501, Compat::GoNewest];

    /// The name operators write.
    pub fn name(self) -> &'static str {
        match self {
            Compat::Go202501 => "go-2025-01",
            Compat::GoNewest => "go-newest",
        }
    }

    /// What identifies a user unless `user-id` says otherwise.
    pub fn user_id(self) -> UserId {
        match self {
            Compat::Go202501 => UserId::Username,
            Compat::GoNewest => UserId::UserKey,
        }
    }

    fn parse(value: &str) -> Option<Compat> {
        Compat::ALL.into_iter().find(|c| c.name() == value)
    }
}

/// Which attribute is a user resource's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserId {
    Username,
    UserKey,
}

/// The connector's options, read from the non-secret configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub compat: Compat,
    pub user_id: UserId,
    pub skip_personal_spaces: bool,
    pub skip_archived_spaces: bool,
    /// The https base URL for links to Confluence pages (none for http: baton links are https).
    pub web_base: Option<String>,
    /// Page size asked for in every list.
    pub page_size: u32,
    /// The configured base URL, for advice about it (requests are addressed by the transport).
    pub base: Option<BaseUrl>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            compat: Compat::default(),
            user_id: Compat::default().user_id(),
            skip_personal_spaces: false,
            skip_archived_spaces: false,
            web_base: None,
            page_size: crate::client::DEFAULT_PAGE_SIZE,
            base: None,
        }
    }
}

impl Options {
    /// Reads the options through `lookup` (the `config` import in the component).
    pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Options, crate::types::ConnectorError> {
        let flag = |name: &str| lookup(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
        let compat = match lookup(COMPAT).as_deref().map(str::trim) {
            None | Some("") => Compat::default(),
            Some(value) => Compat::parse(&value.to_ascii_lowercase()).ok_or_else(|| {
                crate::types::ConnectorError::InvalidArgument(format!("{COMPAT} is {value:?}; use {}", Compat::ALL.map(Compat::name).join(" or ")))
            })?,
        };
        let user_id = match lookup(USER_ID).as_deref().map(str::trim) {
            None | Some("") => compat.user_id(),
            Some("username") => UserId::Username,
            Some("user-key") | Some("userkey") | Some("user_key") => UserId::UserKey,
            Some(other) => {
                return Err(crate::types::ConnectorError::InvalidArgument(format!("{USER_ID} is {other:?}; use username or user-key")));
            }
        };
        let web_base = lookup(HOSTNAME).map(|h| h.trim().trim_end_matches('/').to_string()).filter(|h| h.to_ascii_lowercase().starts_with("https://"));
        let page_size = match lookup(PAGE_SIZE).map(|v| v.trim().parse::<u32>()) {
            None => crate::client::DEFAULT_PAGE_SIZE,
            Some(Ok(size)) if (1..=10_000).contains(&size) => size,
            Some(_) => {
                return Err(crate::types::ConnectorError::InvalidArgument(format!("{PAGE_SIZE} must be a number from 1 to 10000")));
            }
        };
        let base = lookup(HOSTNAME).and_then(|h| BaseUrl::parse(&h).ok());
        Ok(Options {
            compat,
            user_id,
            skip_personal_spaces: flag(SKIP_PERSONAL_SPACES),
            skip_archived_spaces: flag(SKIP_ARCHIVED_SPACES),
            web_base,
            page_size,
            base,
        })
    }
}

fn field(name: &str, description: &str, kind: FieldKind, required: bool, secret: bool) -> ConfigField {
    ConfigField { name: name.into(), description: description.into(), kind, required, secret, default_value: None, choices: Vec::new() }
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
    /// `scheme://authority`, without the context path.
    pub fn root(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority)
    }

    /// Parses `https://host[:port][/context]`; a value without a scheme means https.
    pub fn parse(value: &str) -> Result<BaseUrl, crate::types::ConnectorError> {
        // A value with user information may carry a password: it is not repeated.
        let shown = if value.contains('@') { "(with user information)".to_string() } else { format!("{value:?}") };
        let invalid = |why: &str| {
            crate::types::ConnectorError::InvalidArgument(format!(
                "{HOSTNAME} {shown} is not a usable base URL ({why}); expected e.g. https://confluence.example.com or https://example.com/confluence"
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
    fn options_default_to_the_newest_go_release_and_everything_included() {
        assert_eq!(Options::read(|_| None).unwrap(), Options::default());
        assert_eq!((Options::default().compat, Options::default().user_id), (Compat::GoNewest, UserId::UserKey));
        let options = Options::read(|name| match name {
            USER_ID => Some("user-key".into()),
            SKIP_PERSONAL_SPACES => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(options.user_id, UserId::UserKey);
        assert!(options.skip_personal_spaces && !options.skip_archived_spaces);
        assert!(Options::read(|name| (name == USER_ID).then(|| "email".into())).is_err());
        let january = Options::read(|name| (name == COMPAT).then(|| "go-2025-01".into())).unwrap();
        assert_eq!((january.compat, january.user_id), (Compat::Go202501, UserId::Username), "the January 2025 release keys users by username");
        let mixed = Options::read(|name| match name {
            COMPAT => Some("go-newest".into()),
            USER_ID => Some("username".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((mixed.compat, mixed.user_id), (Compat::GoNewest, UserId::Username), "an explicit user-id wins");
        let refused = Options::read(|name| (name == COMPAT).then(|| "go-1999".into())).unwrap_err();
        assert!(format!("{refused:?}").contains("use go-2025-01 or go-newest"), "{refused:?}");
        let https = Options::read(|name| (name == HOSTNAME).then(|| "https://c.example.com/wiki/".into())).unwrap();
        assert_eq!(https.web_base.as_deref(), Some("https://c.example.com/wiki"));
        assert!(Options::read(|name| (name == HOSTNAME).then(|| "http://c".into())).unwrap().web_base.is_none());
    }

    #[test]
    fn base_urls_keep_scheme_port_and_context_path() {
        let base = BaseUrl::parse("http://127.0.0.1:8090/confluence/").unwrap();
        assert_eq!(base, BaseUrl { https: false, authority: "127.0.0.1:8090".into(), context_path: "/confluence".into() });
        assert_eq!(BaseUrl::parse("confluence.example.com").unwrap().context_path, "");
        assert!(BaseUrl::parse("confluence.example.com").unwrap().https);
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("https://u:p@x").is_err_and(|e| !format!("{e:?}").contains("u:p")));
        assert!(BaseUrl::parse("https://x/?a=b").is_err());
    }
}
