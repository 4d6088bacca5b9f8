//! The Kolibri surface (`../shared/seeds/000_*.txt`, Kolibri 0.19.5 as the
//! reference): `/api/auth/*`. Ids are 32 lowercase hex digits; errors are
//! `[{"id": <Kolibri error id>, "metadata": {"field", "message"}}]`; every
//! path also answers with a trailing slash.
//!
//! So far: `POST /api/auth/usernameavailable`. Sessions, sign-up and
//! facility users follow (issue 7).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::{ApiError, Body, Surface};
use crate::input::Username;
use crate::service::facility_users;
use crate::{App, Error};

/// The Kolibri surface marker.
#[derive(Debug)]
pub struct Kolibri;

/// An error rendered the Kolibri way.
pub type KolibriError = ApiError<Kolibri>;

impl Surface for Kolibri {
    fn render(error: &Error) -> Response {
        let status = error.status();
        let (id, field) = match error {
            Error::Invalid { code, field, .. } => (kolibri_id(code), *field),
            Error::InvalidCredentials => ("INVALID_CREDENTIALS", None),
            Error::Unauthenticated => ("NOT_AUTHENTICATED", None),
            Error::Forbidden | Error::Disabled => ("PERMISSION_DENIED", None),
            Error::NotFound => ("NOT_FOUND", None),
            Error::TooManyAttempts { .. } => ("THROTTLED", None),
            _ => ("ERROR", None),
        };
        let mut metadata = json!({ "message": error.public_message() });
        if let Some(field) = field {
            metadata["field"] = json!(field);
        }
        let status = match error {
            // Kolibri (Django REST framework with session auth) answers
            // 403 to requests without a session.
            Error::Unauthenticated => StatusCode::FORBIDDEN,
            _ => status,
        };
        let body = json!([{ "id": id, "metadata": metadata }]);
        (status, Json(body)).into_response()
    }
}

/// Kolibri's error id for one of our 400 codes (Kolibri's own ids pass
/// through; the rest become `INVALID`).
fn kolibri_id(code: &'static str) -> &'static str {
    match code {
        "USERNAME_ALREADY_EXISTS"
        | "MISSING_PASSWORD"
        | "PASSWORD_TOO_LONG"
        | "NOT_FOUND"
        | "INVALID_CREDENTIALS" => code,
        "REQUIRED" => "REQUIRED",
        _ => "INVALID",
    }
}

/// Kolibri's ids: 32 lowercase hex digits.
pub fn hex_id(id: Uuid) -> String {
    id.simple().to_string()
}

/// The Kolibri routes, documented.
pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(username_available))
}

/// Every `/api/` path also answers with a trailing slash, as Kolibri's
/// (Django's) do. Runs before routing.
pub async fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.starts_with("/api/") && path.len() > 5 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_string();
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed,
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `POST /api/auth/usernameavailable` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UsernameAvailableRequest {
    /// The username to check.
    username: Option<String>,
    /// The facility's id (32 hex digits).
    facility: Option<String>,
}

/// Whether a username is free in a facility (case-insensitive), as
/// Kolibri answers it: `true`, or 400 `USERNAME_ALREADY_EXISTS`; 400 with
/// the bare string `"Must specify username, and facility"`; 404 with the
/// bare string `"Facility not found"`.
#[utoipa::path(post, path = "/api/auth/usernameavailable", tag = "kolibri",
    request_body = UsernameAvailableRequest,
    responses(
        (status = 200, description = "Available", body = bool),
        (status = 400, description = "Taken, or username/facility missing"),
        (status = 404, description = "No such facility"),
    ))]
pub async fn username_available(
    State(app): State<App>,
    Body(body, ..): Body<UsernameAvailableRequest, Kolibri>,
) -> Result<Response, KolibriError> {
    let username = body.username.unwrap_or_default();
    let facility = body.facility.unwrap_or_default();
    if username.trim().is_empty() || facility.trim().is_empty() {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!("Must specify username, and facility")),
        )
            .into_response());
    }
    let facility_not_found =
        || (StatusCode::NOT_FOUND, Json(json!("Facility not found"))).into_response();
    // 32 hex digits as Kolibri sends them (hyphenated UUIDs too).
    let Ok(facility) = crate::input::parse_id(&facility, "facility") else {
        return Ok(facility_not_found());
    };
    // A username no user could have is available (Kolibri only looks it
    // up).
    let Ok(username) = Username::parse(&username, "username") else {
        return Ok(Json(json!(true)).into_response());
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
