//! Accounts (Backstack's) administered over HTTP — eventauth's own
//! endpoints beside the CLI, for administrators (403 for anyone else):
//! `POST /admin/accounts`, `PUT|DELETE /admin/accounts/{accountId}/members/{userId}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Ild, IldError, IldErrorBody};
use crate::http::{Acting, Body, Ctx};
use crate::input::parse_id;
use crate::service::member_accounts::{self, By};
use crate::App;

/// `POST /admin/accounts` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    /// What the account choice shows: 1–100 characters.
    #[schema(
        required,
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    title: Option<String>,
}

/// An account created.
#[derive(Debug, Serialize, ToSchema)]
pub struct IldAccount {
    id: String,
    title: String,
}

/// Creates an account.
#[utoipa::path(post, path = "/admin/accounts", tag = "ild", security(("bearer" = [])),
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "Created", body = IldAccount),
        (status = 400, description = "Invalid title", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
    ))]
pub async fn create_account(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Body(body, ..): Body<CreateAccountRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    // Checked by the use case, after who asks: a non-administrator learns
    // nothing from a 400.
    let title = body.title.unwrap_or_default();
    let id = member_accounts::create(&app, By::Actor(&actor), None, &title, &ctx).await?;
    let account = IldAccount {
        id: id.to_string(),
        title: title.trim().to_string(),
    };
    Ok((StatusCode::CREATED, Json(account)))
}

/// `PUT /admin/accounts/{accountId}/members/{userId}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberRequest {
    /// The member's roles in the account (each 1–32 of `a-z 0-9 _ -`).
    #[serde(default)]
    #[schema(inline, value_type = Vec<RoleSlug>)]
    roles: Vec<String>,
}

/// A role slug: 1–32 of `a-z 0-9 _ -` (documentation only).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9_-]{1,32}$")]
#[allow(dead_code)]
pub struct RoleSlug(String);

/// Makes a user a member of an account with these roles (or sets their
/// roles there): 204; 404 for no such account or user.
#[utoipa::path(put, path = "/admin/accounts/{accountId}/members/{userId}", tag = "ild",
    security(("bearer" = [])), request_body = MemberRequest,
    params(("accountId" = uuid::Uuid, Path, description = "The account"), ("userId" = uuid::Uuid, Path, description = "The user")),
    responses(
        (status = 204, description = "A member with these roles"),
        (status = 400, description = "Not a UUID, or a role that is not a slug", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such account or user", body = IldErrorBody),
    ))]
pub async fn add_member(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path((account, user)): Path<(String, String)>,
    Body(body, ..): Body<MemberRequest, Ild>,
) -> Result<StatusCode, IldError> {
    let (account, user) = (parse_id(&account, "accountId")?, parse_id(&user, "userId")?);
    member_accounts::add_member(&app, By::Actor(&actor), account, user, body.roles, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a user out of an account: 204 (also when they were not in it).
#[utoipa::path(delete, path = "/admin/accounts/{accountId}/members/{userId}", tag = "ild",
    security(("bearer" = [])),
    params(("accountId" = uuid::Uuid, Path, description = "The account"), ("userId" = uuid::Uuid, Path, description = "The user")),
    responses(
        (status = 204, description = "Not a member"),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn remove_member(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path((account, user)): Path<(String, String)>,
) -> Result<StatusCode, IldError> {
    let (account, user) = (parse_id(&account, "accountId")?, parse_id(&user, "userId")?);
    member_accounts::remove_member(&app, By::Actor(&actor), account, user, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
