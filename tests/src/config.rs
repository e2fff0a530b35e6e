//! Simulator configuration: the knobs a test sets before starting the server
//! (`SimConfig`, `LinkStyle`, the unconfirmed shapes of the Global Permissions REST API:
//! `GlobalListStyle`, `UserSubjectStyle`, `GroupSubjectStyle`; of REST space permissions:
//! `SpaceAnonymousSubject`) and the emulated server version
//! (`ServerVersion`, `Capability`) that decides which endpoints exist.

use crate::dataset::Dataset;
use crate::fault_plan::FaultPlan;
use crate::permissions::GLOBAL_PERMISSION_PAIRS;

/// How `_links.next` (and `_links.base`) are written in page envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkStyle {
    /// `next` is a path WITHOUT the context path; `base` = origin + context path (what real servers do).
    #[default]
    Relative,
    /// `next` is a full URL including the context path.
    Absolute,
    /// `base` and `next` are absolute URLs on a different host (a "Server Base URL" behind a reverse proxy).
    ForeignBase,
}

/// How the global permission GETs answer. The real shape is unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GlobalListStyle {
    /// A bare JSON array of every item.
    #[default]
    Array,
    /// The usual page envelope `{"results","start","limit","size","_links"}`, paged by
    /// `start`/`limit` and clamped to `max_limit`.
    Paged,
}

/// How a user subject of a global permission is written (D = the display name, or the
/// username when the user has none or an empty one). The real shape is unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSubjectStyle {
    /// `{"type":"user","userKey":K,"displayName":D}`.
    #[default]
    UserKey,
    /// `{"type":"user","username":U,"displayName":D}`.
    Username,
    /// `{"type":"user","userKey":K,"username":U,"displayName":D}`.
    Both,
    /// `{"type":"user","displayName":D}`: nothing that identifies the user.
    DisplayNameOnly,
}

/// How a group subject of a global permission is written. The real shape is unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupSubjectStyle {
    /// `{"type":"group","name":N,"displayName":N}`.
    #[default]
    Name,
    /// `{"type":"group","groupName":N}`.
    GroupName,
    /// `{"type":"group","displayName":N}`.
    DisplayNameOnly,
}

/// How anonymous access is written as the subject of a REST space permission (9.1+). Only the
/// documented write body is known (an entry naming no user or group is anonymous access); the
/// read shape is unconfirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpaceAnonymousSubject {
    /// `"subject": {"type":"anonymous"}`.
    #[default]
    Typed,
    /// No `subject` key at all.
    Absent,
    /// `"subject": null`.
    Null,
    /// `"subject": {}`: an object naming nobody.
    Empty,
}

/// The origin used by [`LinkStyle::ForeignBase`].
pub const FOREIGN_ORIGIN: &str = "https://confluence.proxy.example";

/// The version profiles tests iterate over (one per LTS line plus 10.2).
pub const VERSION_PROFILES: [&str; 4] = ["7.19.0", "8.5.0", "9.2.0", "10.2.0"];

/// Everything a test can choose about the simulated server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Emulated Confluence version, e.g. "8.9.0", "7.19.0", "9.2.3", "10.2.0".
    pub version: String,
    /// "" or e.g. "/confluence"; every endpoint lives under it.
    pub context_path: String,
    /// Server-side clamp of `limit`; larger requests are clamped silently.
    pub max_limit: usize,
    /// Page size when `limit` is absent.
    pub default_limit: usize,
    pub link_style: LinkStyle,
    /// No credentials -> anonymous user (true) or 401 (false).
    pub anonymous_access: bool,
    /// Emit `_links.next` on empty pages and on the last page (seen on real servers), so
    /// clients are tested to stop on `size == 0` and never loop.
    pub empty_page_next_oddity: bool,
    /// `GET /rest/api/space` without `status`: both current and archived spaces (true) or
    /// only current ones (false, the default; the real default is unconfirmed).
    pub space_status_default_all: bool,
    /// JSON-RPC permission writes name a user or a group by one `entity` string; when both
    /// exist, the group wins (true) or the user wins (false, the default; the real
    /// resolution is unconfirmed, docs/confluence-dc.md §9.4).
    pub rpc_entity_prefers_group: bool,
    /// Licence seats for user creation: `None` = unlimited; `Some(n)` = at most `n` licensed
    /// active users, so creating one more answers 402.
    pub licence_seats: Option<usize>,
    pub dataset: Dataset,
    /// Faults injected into every request (default: none); see [`FaultPlan`]. Change it at
    /// runtime with `Simulator::set_faults`.
    pub faults: FaultPlan,
    /// Whether `/rpc/json-rpc/confluenceservice-v2` answers at all. Its presence on 10.x is
    /// unconfirmed (docs/confluence-dc.md §9.1), so tests run 10.x both with and without it.
    pub json_rpc: bool,
    /// JSON-RPC `getActiveUsers(true)`: every user, deactivated ones included (true, the
    /// default), or only the active ones (false). The real behaviour is unconfirmed.
    pub view_all_includes_deactivated: bool,
    /// A hostile server: every page that has a next page links to this instead (a path or a
    /// full URL), e.g. one that leaves the context path through `..;`. `None`: honest links.
    pub hostile_next_link: Option<String>,
    /// A hostile server: every answer also carries these headers (for example `Set-Cookie`).
    pub extra_response_headers: Vec<(String, String)>,
    /// Serve HTTPS with this certificate instead of plain http (see [`SimTls`]).
    pub tls: Option<SimTls>,
    /// The first version with the Global Permissions REST API (`/rest/api/permissions...`);
    /// older versions answer 404 on all its paths. Unconfirmed: documented for 9.2 (the
    /// default), a navigation listing suggests 9.3.
    pub global_permissions_since: (u32, u32),
    /// Bare array (the default) or page envelope for the global permission GETs (unconfirmed).
    pub global_list_style: GlobalListStyle,
    /// The JSON of a user subject in global permission items (unconfirmed; default userKey).
    pub global_user_subject: UserSubjectStyle,
    /// The JSON of a group subject in global permission items (unconfirmed; default name).
    pub global_group_subject: GroupSubjectStyle,
    /// The status of a successful `PUT /rest/api/permissions`: 204 (the default) with an empty
    /// body, or another 2xx (such as 200) with the body `{}`. The real status is unconfirmed.
    pub global_put_status: u16,
    /// Global (targetType, operationKey) pairs the server supports beyond the five documented
    /// ones (an add-on's, say): PUT accepts them and GET serves stored rows of them. Default none.
    pub extra_global_operations: Vec<(String, String)>,
    /// Refuse (400, nothing changed) a `PUT /rest/api/permissions` that removes the last holder
    /// of (system, administer). Whether the real server guards this is unconfirmed; default off.
    pub refuse_last_sysadmin_removal: bool,
    /// How a REST space permission names anonymous access (unconfirmed; default typed).
    pub space_anonymous_subject: SpaceAnonymousSubject,
}

/// HTTPS serving: the certificate (from a private CA, see `crate::tls::TestCa`), whether
/// clients must present a certificate (mutual TLS), and the host name the server calls itself
/// (one only a proxy can resolve, say) instead of `127.0.0.1`.
#[derive(Debug, Clone)]
pub struct SimTls {
    pub certificate: crate::tls::Issued,
    /// PEM of the CA that client certificates must come from; `None`: no client certificate asked.
    pub client_ca_pem: Option<String>,
    /// The name in the server's origin (`https://NAME:PORT`); `None`: `127.0.0.1`.
    pub host_name: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            version: "8.9.0".to_string(),
            context_path: String::new(),
            max_limit: 200,
            default_limit: 100,
            link_style: LinkStyle::Relative,
            anonymous_access: true,
            empty_page_next_oddity: false,
            space_status_default_all: false,
            rpc_entity_prefers_group: false,
            licence_seats: None,
            dataset: Dataset::generate(25),
            faults: FaultPlan::default(),
            json_rpc: true,
            view_all_includes_deactivated: true,
            hostile_next_link: None,
            extra_response_headers: Vec::new(),
            tls: None,
            global_permissions_since: (9, 2),
            global_list_style: GlobalListStyle::Array,
            global_user_subject: UserSubjectStyle::UserKey,
            global_group_subject: GroupSubjectStyle::Name,
            global_put_status: 204,
            extra_global_operations: Vec::new(),
            refuse_last_sysadmin_removal: false,
            space_anonymous_subject: SpaceAnonymousSubject::Typed,
        }
    }
}

impl SimConfig {
    /// The context path normalised to "" or "/segment..." without a trailing slash.
    pub fn normalized_context_path(&self) -> String {
        let trimmed = self.context_path.trim().trim_matches('/');
        if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
    }

    /// Whether the server supports the global permission (targetType, operationKey): one of
    /// the five documented pairs or of [`SimConfig::extra_global_operations`].
    pub fn supports_global_operation(&self, target_type: &str, operation_key: &str) -> bool {
        GLOBAL_PERMISSION_PAIRS.contains(&(target_type, operation_key))
            || self.extra_global_operations.iter().any(|(target, operation)| target == target_type && operation == operation_key)
    }
}

/// A parsed `major.minor.patch` Confluence version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// Parses "8.9.0", "9.2" or "10"; missing parts are 0.
    pub fn parse(text: &str) -> anyhow::Result<ServerVersion> {
        let mut parts = text.trim().split('.');
        let mut next_number = |name: &str| -> anyhow::Result<u32> {
            match parts.next() {
                None => Ok(0),
                Some(p) => p.parse::<u32>().map_err(|_| anyhow::anyhow!("bad {name} in version {text:?}")),
            }
        };
        let version = ServerVersion { major: next_number("major")?, minor: next_number("minor")?, patch: next_number("patch")? };
        anyhow::ensure!(version.major > 0, "version {text:?} must start with a major number > 0");
        Ok(version)
    }

    pub const fn new(major: u32, minor: u32, patch: u32) -> ServerVersion {
        ServerVersion { major, minor, patch }
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        *self >= ServerVersion::new(major, minor, 0)
    }

    /// A plausible build number (e.g. 9.2.3 -> 9203).
    pub fn build_number(&self) -> u32 {
        self.major * 1000 + self.minor * 100 + self.patch
    }

    pub fn display(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    /// 8.x answers a non-admin `group/{g}/member` call with 401 instead of 403
    /// (docs/confluence-dc.md §3.3).
    pub fn denies_with_401(&self) -> bool {
        self.major == 8
    }

    /// Whether this version has `capability`; `config` decides the capabilities whose first
    /// version is unconfirmed.
    pub fn supports(&self, capability: Capability, config: &SimConfig) -> bool {
        let (major, minor) = capability.introduced_in(config);
        self.at_least(major, minor)
    }
}

/// Version-gated features (docs/confluence-dc.md §2.1). Endpoints of a missing capability
/// answer 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `GET /rest/api/user/list` (8.4+).
    UserList,
    /// `GET /rest/api/server-information` (9.1+).
    ServerInformation,
    /// Membership PUT/DELETE `/rest/api/user/{u}/group/{g}` (8.2+).
    MembershipWrites,
    /// `POST /rest/api/admin/user` (8.4+).
    UserCreation,
    /// REST space permissions `/rest/api/space/{key}/permissions` (9.1+).
    SpacePermissionRest,
    /// `GET /rest/api/admin/users/list/active` (9.3+).
    ActiveUserList,
    /// Query-parameter group endpoints `/rest/api/group/member`, `/group/info` (10.2+).
    GroupQueryParams,
    /// The Global Permissions REST API `/rest/api/permissions...` (since
    /// [`SimConfig::global_permissions_since`], 9.2 by default).
    GlobalPermissionRest,
}

impl Capability {
    /// The first (major, minor) with this capability; `config` supplies the unconfirmed ones.
    pub fn introduced_in(self, config: &SimConfig) -> (u32, u32) {
        match self {
            Capability::UserList => (8, 4),
            Capability::ServerInformation => (9, 1),
            Capability::MembershipWrites => (8, 2),
            Capability::UserCreation => (8, 4),
            Capability::SpacePermissionRest => (9, 1),
            Capability::ActiveUserList => (9, 3),
            Capability::GroupQueryParams => (10, 2),
            Capability::GlobalPermissionRest => config.global_permissions_since,
        }
    }
}
