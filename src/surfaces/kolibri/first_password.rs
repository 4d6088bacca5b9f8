//! `/api/auth/setnonspecifiedpassword`, as Kolibri 0.19.5's
//! `SetNonSpecifiedPasswordView` answers it: the sign-in page's "set your
//! password" step for a user created without one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::service::facility_users;
use crate::{App, Error};

/// Sets the first password of a user who has none: 200 with an empty
/// body; 400 with the bare string Kolibri sends when a field is missing;
/// 404 `NOT_FOUND` when no such user is without a password.
#[utoipa::path(post, path = "/api/auth/setnonspecifiedpassword", tag = "kolibri",
    operation_id = "kolibri_set_first_password",
    request_body = super::doc::KolibriFirstPassword,
    responses(
        (status = 200, description = "Set (empty body)"),
        (status = 400, description = "\"Must specify username, password, and facility\""),
        (status = 404, description = "No such user without a password"),
    ))]
pub async fn set_first_password(
    State(app): State<App>,
    visitor: Visitor,
    Body(body, ..): Body<Value, Kolibri>,
) -> Result<Response, KolibriError> {
    // Kolibri reads each field with `request.data.get(…)`: anything but a
    // non-empty value is missing.
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (Some(username), Some(password), Some(facility)) =
        (text("username"), text("password"), text("facility"))
    else {
        let missing = json!("Must specify username, password, and facility");
        return Ok((StatusCode::BAD_REQUEST, Json(missing)).into_response());
    };
    let facility = crate::input::parse_id(&facility, "facility").map_err(|_| Error::NotFound)?;
    facility_users::set_first_password(&app, facility, &username, &password, &visitor.ctx)
        .await
        .map_err(|error| match error {
            // A password Kolibri's rule refuses sets nothing either.
            Error::Invalid { .. } => Error::NotFound,
            other => other,
        })?;
    Ok(StatusCode::OK.into_response())
}
