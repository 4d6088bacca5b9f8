//! `/user/*`: profile and password.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use super::{Ild, IldError, IldPublicUser, IldUser};
use crate::http::{Auth, Body, Ctx};
use crate::input::Password;
use crate::service::{sessions, users};
use crate::{App, Error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    current_password: Option<String>,
    new_password: Option<String>,
}
crate::redacted_debug!(ChangePasswordRequest {});

/// `PUT /user/changepassword`: ends every other session of the user.
pub async fn change_password(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
    Body(body, ..): Body<ChangePasswordRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let missing = |field: &'static str| {
        Error::invalid_field(field, "REQUIRED", format!("{field} is required"))
    };
    let current = Password::presented(
        body.current_password
            .ok_or_else(|| missing("currentPassword"))?,
        "currentPassword",
    )?;
    let new = Password::new_password(
        body.new_password.ok_or_else(|| missing("newPassword"))?,
        "newPassword",
    )?;
    sessions::change_password(&app, &principal, &current, &new, &ctx).await?;
    Ok(Json(serde_json::json!({ "message": "Password changed" })))
}

/// `GET /user/profile`: the caller's own profile.
pub async fn profile(
    State(app): State<App>,
    Auth(principal, ..): Auth<Ild>,
) -> Result<impl IntoResponse, IldError> {
    let user = users::find(&app, principal.user_id).await?;
    Ok(Json(IldUser::from(user)))
}

/// `GET /user/profile/:userId`: public fields only.
pub async fn public_profile(
    State(app): State<App>,
    Path(user_id): Path<String>,
) -> Result<impl IntoResponse, IldError> {
    let user_id = Uuid::try_parse(&user_id)
        .map_err(|_| Error::invalid_field("userId", "INVALID_ID", "userId must be a UUID"))?;
    let user = users::find(&app, user_id).await?;
    Ok(Json(IldPublicUser::from(user)))
}
