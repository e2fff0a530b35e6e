//! Routing below the context path: maps a normalised path to an [`Endpoint`], applies
//! version gating (404 where the emulated version lacks the endpoint) and method checks,
//! then calls the endpoint's handler.

mod server_info;
mod users;

use axum::http::Method;

use crate::auth::Caller;
use crate::config::{Capability, ServerVersion};
use crate::request::SimRequest;
use crate::responses::{HttpResponse, method_not_allowed, not_found};
use crate::state::SimState;

/// Every endpoint the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CurrentUser,
    AnonymousUser,
    UserList,
    User,
    ServerInformation,
    ApplinksManifest,
}

impl Endpoint {
    /// The endpoint for a normalised path (see [`crate::request::normalize_path`]).
    pub fn resolve(path: &str) -> Option<Endpoint> {
        let endpoint = match path {
            "/rest/api/user/current" => Endpoint::CurrentUser,
            "/rest/api/user/anonymous" => Endpoint::AnonymousUser,
            "/rest/api/user/list" => Endpoint::UserList,
            "/rest/api/user" => Endpoint::User,
            "/rest/api/server-information" => Endpoint::ServerInformation,
            "/rest/applinks/1.0/manifest" | "/rest/applinks/latest/manifest" => {
                Endpoint::ApplinksManifest
            }
            _ => return None,
        };
        Some(endpoint)
    }

    fn required_capability(&self) -> Option<Capability> {
        match self {
            Endpoint::UserList => Some(Capability::UserList),
            Endpoint::ServerInformation => Some(Capability::ServerInformation),
            _ => None,
        }
    }

    pub fn exists_in(&self, version: ServerVersion) -> bool {
        self.required_capability()
            .is_none_or(|capability| version.supports(capability))
    }

    fn allows(&self, method: &Method) -> bool {
        // Everything implemented so far is read-only.
        method == Method::GET || method == Method::HEAD
    }
}

/// Answers an authenticated request whose path is already below the context path.
pub fn route(state: &SimState, request: &SimRequest, caller: &Caller) -> HttpResponse {
    let wants_json = request.wants_json();
    let Some(endpoint) = Endpoint::resolve(&request.path).filter(|e| e.exists_in(state.version))
    else {
        return not_found(wants_json);
    };
    if !endpoint.allows(&request.method) {
        return method_not_allowed(wants_json);
    }
    match endpoint {
        Endpoint::CurrentUser => users::current_user(state, request, caller),
        Endpoint::AnonymousUser => users::anonymous_user(state),
        Endpoint::UserList => users::user_list(state, request, caller),
        Endpoint::User => users::single_user(state, request, caller),
        Endpoint::ServerInformation => server_info::server_information(state),
        Endpoint::ApplinksManifest => server_info::applinks_manifest(state, request),
    }
}
