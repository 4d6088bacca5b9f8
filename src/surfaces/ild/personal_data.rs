//! A person's data (eventauth additions): their own export, and erasure by
//! an administrator.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Ild, IldError, IldErrorBody};
use crate::http::{Acting, Ctx};
use crate::input::parse_id;
use crate::service::{erasure, personal_export};
use crate::App;

/// Everything held about the caller, as JSON: their account, sessions (with
/// IPs and agents), memberships and roles, and the history of their events
/// with metadata. Nothing of other users, no password or token hash.
#[utoipa::path(get, path = "/user/profile/export", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's data", body = Object),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn export(
    State(app): State<App>,
    Acting(actor, ..): Acting<Ild>,
) -> Result<Json<serde_json::Value>, IldError> {
    Ok(Json(personal_export::own(&app, &actor).await?))
}

/// What an erasure did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldErasure {
    /// What happened.
    message: String,
    /// The user.
    user_id: uuid::Uuid,
    /// Data keys destroyed.
    keys_destroyed: usize,
    /// Queued mails deleted.
    mails_deleted: u64,
    /// Profile pictures deleted.
    pictures_deleted: usize,
    /// Their events written before encryption, whose personal values stay
    /// readable in the log.
    events_in_the_clear: i64,
}

/// Erases a user (administrators): their personal data in the log becomes
/// unreadable for good, the account is over, their email is free again.
#[utoipa::path(delete, path = "/admin/users/{userId}", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "Erased (or erased before)", body = IldErasure),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn erase(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
) -> Result<Json<IldErasure>, IldError> {
    let user_id = parse_id(&user_id, "userId")?;
    let erased = erasure::erase(&app, &actor, user_id, &ctx).await?;
    Ok(Json(IldErasure {
        message: "User erased".into(),
        user_id: erased.user_id,
        keys_destroyed: erased.keys,
        mails_deleted: erased.mails,
        pictures_deleted: erased.pictures,
        events_in_the_clear: erased.in_the_clear,
    }))
}
