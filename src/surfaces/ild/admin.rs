//! Administrators on a user's categories and subscription:
//! `PATCH /user/{userId}/index`, `PUT /user/{userId}/recalculate-subscription`
//! (the ILD document's), and `PUT|PATCH|DELETE /admin/users/{userId}/subscription`
//! (eventauth's: where subscription events come from).

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Ild, IldError, IldErrorBody, IldUser};
use crate::access::Actor;
use crate::http::{Acting, Body, Ctx};
use crate::service::admin::Action;
use crate::service::RequestContext;
use crate::{App, Error};

/// Runs `action` on the user `raw_id` names and answers with the user as
/// it is afterwards.
async fn act(
    app: &App,
    ctx: &RequestContext,
    actor: &Actor,
    raw_id: &str,
    action: Action,
) -> Result<Json<IldUser>, IldError> {
    let user_id = super::admin_act(app, ctx, actor, raw_id, action).await?;
    Ok(Json(super::find_with_communities(app, user_id).await?))
}

/// Recomputes the user's categories from their communities and profile
/// (administrators). The rule: `community:<name slug>` per community,
/// `profile:complete` (nickname, bio and picture set) or
/// `profile:incomplete`, `language:<primary tag>`, `email:verified`,
/// `tutorial:completed`, `subscriber:<plan>` while the plan is usable.
/// Recorded as a `CategoriesIndexed` event when they changed.
#[utoipa::path(patch, path = "/user/{userId}/index", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "The user with its categories", body = IldUser),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn index_categories(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
) -> Result<Json<IldUser>, IldError> {
    act(&app, &ctx, &actor, &user_id, Action::IndexCategories).await
}

/// Recomputes the subscription's state now from its events
/// (administrators): `none` without a plan, `expired` at or past its end,
/// else `canceled` if canceled, else `active`. Recorded as a
/// `SubscriptionRecalculated` event when it differs from the last recorded
/// state (typically: a plan ran out).
#[utoipa::path(put, path = "/user/{userId}/recalculate-subscription", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "The user with its subscription", body = IldUser),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn recalculate_subscription(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
) -> Result<Json<IldUser>, IldError> {
    act(
        &app,
        &ctx,
        &actor,
        &user_id,
        Action::RecalculateSubscription,
    )
    .await
}

/// `PUT /admin/users/{userId}/subscription` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantSubscriptionRequest {
    /// Plan slug: 1–32 of `a-z 0-9 _ -`.
    #[schema(
        required,
        nullable = false,
        example = "pro",
        pattern = "^[a-z0-9_-]{1,32}$"
    )]
    plan: Option<String>,
    /// When it ends (RFC 3339, in the future).
    #[schema(required, nullable = false, example = "2027-01-01T00:00:00Z", format = DateTime)]
    valid_until: Option<String>,
}

/// `PATCH /admin/users/{userId}/subscription` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtendSubscriptionRequest {
    /// The new end (RFC 3339), later than the current one.
    #[schema(required, nullable = false, example = "2027-06-01T00:00:00Z", format = DateTime)]
    valid_until: Option<String>,
}

/// `DELETE /admin/users/{userId}/subscription` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// `true`: end now; otherwise the plan stays usable until its end.
    immediately: Option<bool>,
}

fn valid_until(raw: Option<&str>) -> Result<DateTime<Utc>, Error> {
    let raw = crate::input::required(raw, "validUntil")?;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::invalid_field(
                "validUntil",
                "INVALID_DATE",
                "validUntil must be an RFC 3339 date-time",
            )
        })
}

/// Grants a plan until an instant, replacing any earlier plan
/// (administrators; eventauth addition).
#[utoipa::path(put, path = "/admin/users/{userId}/subscription", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    request_body = GrantSubscriptionRequest,
    responses(
        (status = 200, description = "The user with its subscription", body = IldUser),
        (status = 400, description = "Bad plan or end", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn grant_subscription(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
    Body(body, ..): Body<GrantSubscriptionRequest, Ild>,
) -> Result<Json<IldUser>, IldError> {
    let plan = crate::input::required(body.plan, "plan")?;
    let action = Action::GrantSubscription {
        plan: plan.trim().to_string(),
        valid_until: valid_until(body.valid_until.as_deref())?,
    };
    act(&app, &ctx, &actor, &user_id, action).await
}

/// Moves the plan's end later and renews it (administrators; eventauth
/// addition).
#[utoipa::path(patch, path = "/admin/users/{userId}/subscription", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    request_body = ExtendSubscriptionRequest,
    responses(
        (status = 200, description = "The user with its subscription", body = IldUser),
        (status = 400, description = "No plan, or an end not later than the current one", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn extend_subscription(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
    Body(body, ..): Body<ExtendSubscriptionRequest, Ild>,
) -> Result<Json<IldUser>, IldError> {
    let action = Action::ExtendSubscription {
        valid_until: valid_until(body.valid_until.as_deref())?,
    };
    act(&app, &ctx, &actor, &user_id, action).await
}

/// Cancels the plan: usable until its end, or ended now with
/// `?immediately=true` (administrators; eventauth addition).
#[utoipa::path(delete, path = "/admin/users/{userId}/subscription", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)"), CancelQuery),
    responses(
        (status = 200, description = "The user with its subscription", body = IldUser),
        (status = 400, description = "No plan", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn cancel_subscription(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
    query: Result<Query<CancelQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<IldUser>, IldError> {
    let Query(query) = query.map_err(|_| {
        Error::invalid_field(
            "immediately",
            "INVALID_QUERY",
            "immediately must be true or false",
        )
    })?;
    let action = Action::CancelSubscription {
        immediately: query.immediately.unwrap_or(false),
    };
    act(&app, &ctx, &actor, &user_id, action).await
}
