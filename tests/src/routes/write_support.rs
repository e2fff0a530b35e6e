//! What every REST write shares: the administrator requirement (anonymous -> 401, any other
//! non-admin -> 403, on every version) and the mapping of a [`WriteError`] to a status.

use axum::http::StatusCode;

use crate::auth::Caller;
use crate::mutations::WriteError;
use crate::responses::{HttpResponse, forbidden, rest_error};

/// `Err(response)` unless the caller is an administrator.
pub(super) fn require_admin(caller: &Caller, wants_json: bool) -> Result<(), Box<HttpResponse>> {
    match caller {
        Caller::User(user) if user.is_admin => Ok(()),
        Caller::User(_) => Err(Box::new(forbidden("User is not permitted to perform this operation; administrator rights are required", wants_json))),
        Caller::Anonymous => Err(Box::new(rest_error(StatusCode::UNAUTHORIZED, "Client must be authenticated to access this resource.", wants_json))),
    }
}

/// 404 for unknown users, groups and spaces; 400 for bad permissions, invalid fields and the
/// removal of the last system administrator;
/// 409 for an existing user; 402 when no licence seat is left.
pub(super) fn write_error_response(error: &WriteError, wants_json: bool) -> HttpResponse {
    rest_error(status_of(error), &error.message(), wants_json)
}

fn status_of(error: &WriteError) -> StatusCode {
    match error {
        WriteError::UnknownUser(_) | WriteError::UnknownGroup(_) | WriteError::UnknownEntity(_) | WriteError::UnknownSpace(_) => StatusCode::NOT_FOUND,
        WriteError::UnknownPermission(_) | WriteError::UnknownGlobalPermission(_) | WriteError::Invalid(_) | WriteError::LastSystemAdministrator => {
            StatusCode::BAD_REQUEST
        }
        WriteError::UserExists(_) => StatusCode::CONFLICT,
        WriteError::NoLicenceSeat => StatusCode::PAYMENT_REQUIRED,
    }
}
