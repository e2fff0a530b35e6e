//! Routing below the context path: maps a normalised path to an [`Endpoint`], applies
//! version gating (404 where the emulated version lacks the endpoint) and method checks,
//! then calls the endpoint's handler. Mutating requests also pass the XSRF rule
//! ([`crate::xsrf`]) before their handler runs.

mod admin_users;
mod global_permission_writes;
mod global_permissions;
mod groups;
mod jsonrpc;
mod jsonrpc_writes;
mod memberships;
mod permission_writes;
mod server_info;
mod spaces;
mod users;
mod write_support;

use axum::http::Method;
use percent_encoding::percent_decode_str;

use crate::auth::Caller;
use crate::config::{Capability, ServerVersion, SimConfig};
use crate::request::SimRequest;
use crate::responses::{HttpResponse, bad_request, method_not_allowed, not_found};
use crate::state::SimState;
use crate::xsrf::xsrf_rejection;

pub use groups::group_json;

const USER_PREFIX: &str = "/rest/api/user/";
const GROUP_PREFIX: &str = "/rest/api/group/";
const SPACE_PREFIX: &str = "/rest/api/space/";
const GLOBAL_PERMISSIONS_PATH: &str = "/rest/api/permissions";
const JSON_RPC_BASE: &str = "/rpc/json-rpc/confluenceservice-v2";

/// Every endpoint the simulator knows. Strings are raw (still percent-encoded) path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CurrentUser,
    AnonymousUser,
    UserList,
    User,
    UserMemberOf,
    ActiveUserList,
    ServerInformation,
    ApplinksManifest,
    GroupList,
    Group(String),
    GroupMembers(String),
    /// `/rest/api/group/info?groupName=` (10.2+).
    GroupInfoByQuery,
    /// `/rest/api/group/member?groupName=` (10.2+).
    GroupMembersByQuery,
    /// A group path with extra segments, i.e. a raw `/` in the group name: 400.
    GroupPathWithSlash,
    SpaceList,
    Space(String),
    SpacePermissions(String),
    /// `PUT /rest/api/space/{key}/permissions/{subject}/grant|revoke` (9.1+).
    SpacePermissionChange {
        key: String,
        subject: RawSubject,
        action: PermissionAction,
    },
    /// `PUT|DELETE /rest/api/user/{username}/group/{groupName}` (8.2+).
    Membership {
        user: String,
        group: String,
    },
    /// `POST /rest/api/admin/user` (8.4+).
    AdminUser,
    /// `GET /rest/api/permissions` (and `PUT` for [`GlobalScope::All`]), `/permissions/anonymous`,
    /// `/permissions/group/{groupName}`, `/permissions/unlicensed` (since
    /// `SimConfig::global_permissions_since`).
    GlobalPermissions(GlobalScope),
    /// JSON-RPC: `Some(method)` for light mode, `None` for envelope mode.
    JsonRpc(Option<String>),
}

/// The subject segment(s) of a space-permission write path (raw, still percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSubject {
    UserKey(String),
    Group(String),
    Anonymous,
}

/// Which global permissions a `/rest/api/permissions` path is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalScope {
    /// Every subject's (the only path that also takes `PUT`).
    All,
    Anonymous,
    /// One group (raw, still percent-encoded name).
    Group(String),
    /// "Unlicensed" access: always empty here.
    Unlicensed,
}

/// The last segment of a space-permission write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionAction {
    Grant,
    Revoke,
}

impl PermissionAction {
    fn parse(segment: &str) -> Option<PermissionAction> {
        match segment {
            "grant" => Some(PermissionAction::Grant),
            "revoke" => Some(PermissionAction::Revoke),
            _ => None,
        }
    }
}

impl Endpoint {
    /// The endpoint for a normalised path (see [`crate::request::normalize_path`]).
    pub fn resolve(path: &str) -> Option<Endpoint> {
        let endpoint = match path {
            "/rest/api/user/current" => Endpoint::CurrentUser,
            "/rest/api/user/anonymous" => Endpoint::AnonymousUser,
            "/rest/api/user/list" => Endpoint::UserList,
            "/rest/api/user" => Endpoint::User,
            "/rest/api/user/memberof" => Endpoint::UserMemberOf,
            "/rest/api/admin/users/list/active" => Endpoint::ActiveUserList,
            "/rest/api/server-information" => Endpoint::ServerInformation,
            "/rest/applinks/1.0/manifest" | "/rest/applinks/latest/manifest" => Endpoint::ApplinksManifest,
            "/rest/api/group" => Endpoint::GroupList,
            "/rest/api/space" => Endpoint::SpaceList,
            "/rest/api/admin/user" => Endpoint::AdminUser,
            GLOBAL_PERMISSIONS_PATH => Endpoint::GlobalPermissions(GlobalScope::All),
            JSON_RPC_BASE => Endpoint::JsonRpc(None),
            _ => return resolve_below_prefix(path),
        };
        Some(endpoint)
    }

    fn required_capability(&self) -> Option<Capability> {
        match self {
            Endpoint::UserList => Some(Capability::UserList),
            Endpoint::ServerInformation => Some(Capability::ServerInformation),
            Endpoint::ActiveUserList => Some(Capability::ActiveUserList),
            Endpoint::SpacePermissions(_) | Endpoint::SpacePermissionChange { .. } => Some(Capability::SpacePermissionRest),
            Endpoint::Membership { .. } => Some(Capability::MembershipWrites),
            Endpoint::AdminUser => Some(Capability::UserCreation),
            Endpoint::GroupInfoByQuery | Endpoint::GroupMembersByQuery => Some(Capability::GroupQueryParams),
            Endpoint::GlobalPermissions(_) => Some(Capability::GlobalPermissionRest),
            _ => None,
        }
    }

    /// Whether `version` has this endpoint (`config` decides the unconfirmed first versions).
    pub fn exists_in(&self, version: ServerVersion, config: &SimConfig) -> bool {
        self.required_capability().is_none_or(|capability| version.supports(capability, config))
    }

    fn allows(&self, method: &Method) -> bool {
        match self {
            Endpoint::JsonRpc(_) | Endpoint::AdminUser => method == Method::POST,
            Endpoint::SpacePermissionChange { .. } => method == Method::PUT,
            Endpoint::Membership { .. } => method == Method::PUT || method == Method::DELETE,
            Endpoint::GlobalPermissions(GlobalScope::All) => [Method::GET, Method::HEAD, Method::PUT].contains(method),
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

fn resolve_below_prefix(path: &str) -> Option<Endpoint> {
    if let Some(rest) = path.strip_prefix(USER_PREFIX) {
        return resolve_user(rest);
    }
    if let Some(rest) = path.strip_prefix(GROUP_PREFIX) {
        return resolve_group(rest);
    }
    if let Some(rest) = path.strip_prefix(SPACE_PREFIX) {
        return resolve_space(rest);
    }
    if let Some(rest) = path.strip_prefix(GLOBAL_PERMISSIONS_PATH).and_then(|r| r.strip_prefix('/')) {
        return resolve_global(rest).map(Endpoint::GlobalPermissions);
    }
    let method = path.strip_prefix(JSON_RPC_BASE)?.strip_prefix('/')?;
    (!method.is_empty() && !method.contains('/')).then(|| Endpoint::JsonRpc(Some(method.into())))
}

/// `rest` is what follows `/rest/api/group/`.
fn resolve_group(rest: &str) -> Option<Endpoint> {
    let segments: Vec<&str> = rest.split('/').collect();
    let endpoint = match segments.as_slice() {
        ["member"] => Endpoint::GroupMembersByQuery,
        ["info"] => Endpoint::GroupInfoByQuery,
        [name] => Endpoint::Group(name.to_string()),
        [name, "member"] => Endpoint::GroupMembers(name.to_string()),
        [_, "groupmember" | "groupparent" | "groupancestor"] => return None,
        _ => Endpoint::GroupPathWithSlash,
    };
    Some(endpoint)
}

/// `rest` is what follows `/rest/api/user/`: only `{username}/group/{groupName}`. A raw `/`
/// in the group name adds segments and matches nothing (404), as the JAX-RS template would.
fn resolve_user(rest: &str) -> Option<Endpoint> {
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [user, "group", group] if !user.is_empty() && !group.is_empty() => Some(Endpoint::Membership { user: user.to_string(), group: group.to_string() }),
        _ => None,
    }
}

/// `rest` is what follows `/rest/api/space/`.
fn resolve_space(rest: &str) -> Option<Endpoint> {
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [key] => Some(Endpoint::Space(key.to_string())),
        [key, "permissions"] => Some(Endpoint::SpacePermissions(key.to_string())),
        [key, "permissions", subject @ .., action] => {
            let subject = resolve_raw_subject(subject)?;
            Some(Endpoint::SpacePermissionChange { key: key.to_string(), subject, action: PermissionAction::parse(action)? })
        }
        _ => None,
    }
}

/// `rest` is what follows `/rest/api/permissions/`. A raw `/` in a group name adds segments and
/// matches nothing (404), as a JAX-RS template would.
fn resolve_global(rest: &str) -> Option<GlobalScope> {
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["anonymous"] => Some(GlobalScope::Anonymous),
        ["unlicensed"] => Some(GlobalScope::Unlicensed),
        ["group", name] if !name.is_empty() => Some(GlobalScope::Group(name.to_string())),
        _ => None,
    }
}

/// `user/{userKey}`, `group/{groupName}` or `anonymous`.
fn resolve_raw_subject(segments: &[&str]) -> Option<RawSubject> {
    match segments {
        ["user", key] if !key.is_empty() => Some(RawSubject::UserKey(key.to_string())),
        ["group", name] if !name.is_empty() => Some(RawSubject::Group(name.to_string())),
        ["anonymous"] => Some(RawSubject::Anonymous),
        _ => None,
    }
}

/// Percent-decodes one raw path segment (`+` stays a plus, unlike in queries).
pub fn decode_segment(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Answers an authenticated request whose path is already below the context path.
pub fn route(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    let Some(endpoint) = Endpoint::resolve(&request.path)
        .filter(|e| e.exists_in(state.version, &state.config))
        .filter(|e| state.config.json_rpc || !matches!(e, Endpoint::JsonRpc(_)))
    else {
        return not_found(wants_json);
    };
    if !endpoint.allows(&request.method) {
        return method_not_allowed(wants_json);
    }
    if let Some(rejection) = xsrf_rejection(request) {
        return rejection;
    }
    match endpoint {
        Endpoint::CurrentUser => users::current_user(state, request, caller),
        Endpoint::AnonymousUser => users::anonymous_user(state),
        Endpoint::UserList => users::user_list(state, request, caller),
        Endpoint::User => users::single_user(state, request, caller),
        Endpoint::UserMemberOf => users::member_of(state, request, caller),
        Endpoint::ActiveUserList => users::active_user_list(state, request, caller),
        Endpoint::ServerInformation => server_info::server_information(state),
        Endpoint::ApplinksManifest => server_info::applinks_manifest(state, request),
        Endpoint::GroupList => groups::group_list(state, request, caller),
        Endpoint::Group(raw) => groups::group_by_path(state, request, caller, &raw),
        Endpoint::GroupMembers(raw) => groups::members_by_path(state, request, caller, &raw),
        Endpoint::GroupInfoByQuery => groups::group_by_query(state, request, caller),
        Endpoint::GroupMembersByQuery => groups::members_by_query(state, request, caller),
        Endpoint::GroupPathWithSlash => bad_request("Bad group name in path", wants_json),
        Endpoint::SpaceList => spaces::space_list(state, request, caller),
        Endpoint::Space(raw) => spaces::single_space(state, request, caller, &raw),
        Endpoint::SpacePermissions(raw) => spaces::space_permissions(state, request, caller, &raw),
        Endpoint::SpacePermissionChange { key, subject, action } => permission_writes::change(state, request, caller, &key, &subject, action),
        Endpoint::Membership { user, group } => memberships::change(state, request, caller, &user, &group),
        Endpoint::AdminUser => admin_users::create_user(state, request, caller),
        Endpoint::GlobalPermissions(GlobalScope::All) if request.method == Method::PUT => global_permission_writes::set(state, request, caller),
        Endpoint::GlobalPermissions(scope) => global_permissions::list(state, request, caller, &scope),
        Endpoint::JsonRpc(Some(method)) => jsonrpc::light_mode(state, request, caller, &method),
        Endpoint::JsonRpc(None) => jsonrpc::envelope_mode(state, request, caller),
    }
}
