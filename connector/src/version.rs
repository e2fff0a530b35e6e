//! Which Confluence this is, and what that means for how each capability is read. Detected once
//! per sync (`/rest/api/server-information` on 9.1+, the applinks manifest before) and kept in
//! the per-sync store; the strategy is logged once.

use crate::client::Client;
use crate::guest_log;
use crate::kv::KeyValue;
use crate::types::ConnectorError;
use serde::Deserialize;

const KV_VERSION: &str = "server-version";

/// A Confluence version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// Parses `9.2.3` (extra parts such as `-m12` are ignored).
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(ServerVersion { major, minor, patch })
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Users: `/rest/api/user/list` exists from 8.4.
    pub fn has_user_list(&self) -> bool {
        self.at_least(8, 4)
    }

    /// Membership writes over REST (`PUT/DELETE /rest/api/user/{u}/group/{g}`) from 8.2.
    pub fn has_membership_rest(&self) -> bool {
        self.at_least(8, 2)
    }

    /// Creating users over REST (`POST /rest/api/admin/user`) from 8.4.
    pub fn has_user_create_rest(&self) -> bool {
        self.at_least(8, 4)
    }

    /// Emails: `/rest/api/admin/users/list/active` exists from 9.3.
    pub fn has_admin_active_users(&self) -> bool {
        self.at_least(9, 3)
    }

    /// Space permissions over REST from 9.1 (JSON-RPC before).
    pub fn has_space_permission_rest(&self) -> bool {
        self.at_least(9, 1)
    }

    /// Group endpoints taking the name as a query parameter (names with `/`), from 10.2.
    pub fn has_group_query_endpoints(&self) -> bool {
        self.at_least(10, 2)
    }

    /// Global permissions over REST (`/rest/api/permissions`), documented from 9.2 (the first
    /// version is unconfirmed: a server of 9.2 or later that answers 404 is taken at its word).
    pub fn has_global_permission_rest(&self) -> bool {
        self.at_least(9, 2)
    }

    /// How each capability is read on this version, for the log.
    pub fn strategy(&self) -> String {
        let users = if self.has_user_list() {
            "users from /rest/api/user/list"
        } else {
            "users from JSON-RPC getActiveUsers plus one /rest/api/user request per user (no /rest/api/user/list before 8.4)"
        };
        let emails = if self.has_admin_active_users() { "emails from /rest/api/admin/users/list/active" } else { "no emails (not exposed before 9.3)" };
        let permissions = if self.has_space_permission_rest() {
            "space permissions from REST /rest/api/space/{key}/permissions"
        } else {
            "space permissions from JSON-RPC getSpacePermissionSets"
        };
        let slash_groups = if self.has_group_query_endpoints() {
            "groups with '/' via the groupName query endpoints"
        } else {
            "groups with '/' via each user's group list (only when such a group exists)"
        };
        let global =
            if self.has_global_permission_rest() { "global permissions from /rest/api/permissions" } else { "no global permissions (no REST API before 9.2)" };
        format!("{users}; {emails}; {permissions}; {slash_groups}; {global}")
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Deserialize)]
struct VersionField {
    version: Option<String>,
}

/// The server's version: from the per-sync store, else detected (and logged once).
pub fn server_version(client: &Client, kv: &dyn KeyValue) -> Result<ServerVersion, ConnectorError> {
    if let Some(version) = kv.get(KV_VERSION).as_deref().and_then(ServerVersion::parse) {
        return Ok(version);
    }
    let version = detect(client)?;
    kv.set(KV_VERSION, &version.to_string());
    guest_log::info("detected the Confluence version", &[("version", &version.to_string()), ("strategy", &version.strategy())]);
    Ok(version)
}

fn detect(client: &Client) -> Result<ServerVersion, ConnectorError> {
    let from_server_information = match client.get_json::<VersionField>("/rest/api/server-information") {
        Ok(info) => info.version,
        Err(ConnectorError::NotFound(_)) => None,
        Err(other) => return Err(other),
    };
    let text = match from_server_information {
        Some(text) => text,
        None => client
            .get_json::<VersionField>("/rest/applinks/1.0/manifest")?
            .version
            .ok_or_else(|| ConnectorError::Internal("the applinks manifest has no version".into()))?,
    };
    ServerVersion::parse(&text).ok_or_else(|| ConnectorError::Internal(format!("Confluence reported a version that is not one: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::transport::FakeTransport;

    #[test]
    fn parses_versions() {
        assert_eq!(ServerVersion::parse("9.2.3"), Some(ServerVersion { major: 9, minor: 2, patch: 3 }));
        assert_eq!(ServerVersion::parse("7.19"), Some(ServerVersion { major: 7, minor: 19, patch: 0 }));
        assert!(ServerVersion::parse("x").is_none());
        assert!(ServerVersion::parse("8.4.0").unwrap().has_user_list());
        assert!(!ServerVersion::parse("8.3.9").unwrap().has_user_list());
        assert!(ServerVersion::parse("10.2.0").unwrap().has_group_query_endpoints());
    }

    #[test]
    fn falls_back_to_the_manifest_and_remembers() {
        let fake = FakeTransport::new(vec![
            FakeTransport::json(404, r#"{"statusCode":404,"message":"null"}"#),
            FakeTransport::json(200, r#"{"typeId":"confluence","version":"8.5.4"}"#),
        ]);
        let kv = MemoryKv::default();
        let client = Client::new(&fake);
        assert_eq!(server_version(&client, &kv).unwrap().to_string(), "8.5.4");
        assert_eq!(server_version(&client, &kv).unwrap().to_string(), "8.5.4");
        assert_eq!(fake.sent_paths(), vec!["/rest/api/server-information", "/rest/applinks/1.0/manifest"]);
    }
}
