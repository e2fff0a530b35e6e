//! REST group-membership writes (8.2+, docs/confluence-dc.md §6.4): `PUT` and `DELETE`
//! `/rest/api/user/{username}/group/{groupName}` -> 204, idempotent; unknown user or group
//! -> 404. Both names are percent-decoded path segments.

use axum::http::Method;

use super::decode_segment;
use super::write_support::{require_admin, write_error_response};
use crate::auth::Caller;
use crate::request::SimRequest;
use crate::responses::{HttpResponse, no_content};
use crate::state::SimState;

pub(super) fn change(state: &SimState, request: &SimRequest, caller: &Caller, raw_user: &str, raw_group: &str) -> HttpResponse {
    let wants_json = request.wants_json();
    if let Err(denied) = require_admin(caller, wants_json) {
        return *denied;
    }
    let (username, group) = (decode_segment(raw_user), decode_segment(raw_group));
    let mut directory = state.directory_mut();
    let result = if request.method == Method::DELETE { directory.remove_member(&username, &group) } else { directory.add_member(&username, &group) };
    match result {
        Ok(()) => no_content(),
        Err(error) => write_error_response(&error, wants_json),
    }
}
