//! `/api/auth/usernameavailable`, as Kolibri 0.19.5's
//! `UsernameAvailableView` answers it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::input::Username;
use crate::service::{facilities, facility_users};
use crate::{App, Error};

/// `POST /api/auth/usernameavailable` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UsernameAvailableRequest {
    /// The username to check (not blank).
    #[schema(required, nullable = false, min_length = 1, pattern = "\\S")]
    username: Option<String>,
    /// The facility's id (32 hex digits).
    #[schema(required, nullable = false, pattern = "^[0-9a-f]{32}$")]
    facility: Option<String>,
}

/// Whether a username is free in a facility (case-insensitive), as
/// Kolibri's `UsernameAvailableView` answers: `true`, or 400
/// `USERNAME_ALREADY_EXISTS`; 400 `REQUIRED`/`BLANK` (username) and
/// `REQUIRED`/`INVALID` (facility) for what its serializer refuses; 404
/// with the bare string `"Facility not found"`.
#[utoipa::path(post, path = "/api/auth/usernameavailable", tag = "kolibri",
    request_body = UsernameAvailableRequest,
    responses(
        (status = 200, description = "Available", body = bool, content_type = "application/json"),
        (status = 400, description = "Taken, or username/facility missing or malformed"),
        (status = 403, description = "Signed in without a valid X-CSRFToken"),
        (status = 404, description = "No such facility"),
    ))]
pub async fn username_available(
    State(app): State<App>,
    _visitor: Visitor,
    Body(body, ..): Body<UsernameAvailableRequest, Kolibri>,
) -> Result<Response, KolibriError> {
    // The serializer's errors, every field at once.
    let mut errors = Vec::new();
    let required = |field: &str| json!({ "id": "REQUIRED", "metadata": { "field": field, "message": "This field is required." } });
    match body.username.as_deref() {
        None => errors.push(required("username")),
        Some(u) if u.trim().is_empty() => errors.push(json!({ "id": "BLANK",
            "metadata": { "field": "username", "message": "This field may not be blank." } })),
        Some(_) => {}
    }
    let facility = match body.facility.as_deref() {
        None => {
            errors.push(required("facility"));
            None
        }
        Some(raw) => match crate::input::parse_id(raw.trim(), "facility") {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(json!({ "id": "INVALID",
                    "metadata": { "field": "facility", "message": "Must be a valid UUID." } }));
                None
            }
        },
    };
    let (Some(facility), true) = (facility, errors.is_empty()) else {
        return Ok((StatusCode::BAD_REQUEST, Json(json!(errors))).into_response());
    };
    let facility_not_found =
        || (StatusCode::NOT_FOUND, Json(json!("Facility not found"))).into_response();
    // A username no user could have is available (Kolibri only looks it
    // up).
    let Ok(username) = Username::parse(body.username.as_deref().unwrap_or_default(), "username")
    else {
        return Ok(if facilities::is_facility(&app, facility).await? {
            Json(json!(true)).into_response()
        } else {
            facility_not_found()
        });
    };
    match facility_users::available(&app, facility, &username).await {
        Ok(true) => Ok(Json(json!(true)).into_response()),
        Ok(false) => Err(Error::invalid_field(
            "username",
            "USERNAME_ALREADY_EXISTS",
            "Username already exists.",
        )
        .into()),
        Err(Error::NotFound) => Ok(facility_not_found()),
        Err(other) => Err(other.into()),
    }
}
