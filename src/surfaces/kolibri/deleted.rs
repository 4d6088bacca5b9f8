//! `/api/auth/deletedfacilityuser`, as Kolibri 0.19.5's
//! `DeletedFacilityUserViewSet` answers it: the facility pages' removed
//! users — listed like live ones (with `date_deleted`, by deletion time),
//! brought back (`restore`), or deleted for good.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use projections::facility_users::{FacilityUserRow, UserType};

use super::doc::{DeletedFilterParams, KolibriFacilityUser, KolibriUserList, UserListParams};
use super::users::{listing, user_json, ListQuery};
use super::{KolibriError, ListCache, Visitor};
use crate::access::Actor;
use crate::service::deleted_users;
use crate::service::facility_access::ListQuery as Wanted;
use crate::{App, Error};

/// Deleted users the caller may read (as `/api/auth/facilityuser`), by
/// deletion time.
#[utoipa::path(get, path = "/api/auth/deletedfacilityuser", tag = "kolibri", operation_id = "kolibri_deleted_users",
    params(UserListParams),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "Deleted users with `date_deleted` (array, or a page object with page_size); `[]` for anonymous callers", body = KolibriUserList),
        (status = 400, description = "Unknown member_of collection or user_type"),
        (status = 403, description = "A session that ended"),
        (status = 404, description = "No such page")))]
pub async fn list(
    State(app): State<App>,
    Extension(cache): Extension<Arc<ListCache>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<Response, KolibriError> {
    listing(&app, &cache, &visitor, &query, true).await
}

async fn actor(app: &App, visitor: &Visitor) -> Result<Actor, Error> {
    visitor.actor(app).await?.ok_or(Error::Unauthenticated)
}

/// One deleted user the caller may read; 404 otherwise.
#[utoipa::path(get, path = "/api/auth/deletedfacilityuser/{id}", tag = "kolibri", operation_id = "kolibri_deleted_user",
    params(("id" = String, Path, description = "The user's id", pattern = "^[0-9a-f]{32}$")),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "The user", body = KolibriFacilityUser), (status = 404, description = "No such deleted user, or not readable")))]
pub async fn read(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let actor = visitor.actor(&app).await?.ok_or(Error::NotFound)?;
    let row = deleted_users::read(&app, &actor, id).await?;
    Ok(Json(user_json(&row, &[])))
}

/// The deleted users a filter names (`by_ids`, `member_of`, `user_type`,
/// `search`), in the caller's scope; `None` without any filter.
async fn chosen(
    app: &App,
    actor: &Actor,
    query: &ListQuery,
) -> Result<Option<Vec<FacilityUserRow>>, Error> {
    let given = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
    let by_ids = super::users::ids_of(query.by_ids.as_deref());
    let member_of = given(&query.member_of);
    let user_type = given(&query.user_type);
    let search = given(&query.search);
    if by_ids.is_none() && member_of.is_none() && user_type.is_none() && search.is_none() {
        return Ok(None);
    }
    let wanted = Wanted {
        member_of: match member_of {
            Some(raw) => Some(crate::input::parse_id(&raw, "member_of")?),
            None => None,
        },
        user_type: match user_type {
            Some(raw) => Some(UserType::parse(&raw).ok_or_else(|| {
                Error::invalid_field("user_type", "INVALID_CHOICE", "Select a valid choice.")
            })?),
            None => None,
        },
        search,
        order: None,
    };
    let filter = deleted_users::filter(app, actor, wanted).await?;
    let rows = deleted_users::matching(app, &filter).await?;
    Ok(Some(
        rows.into_iter()
            .filter(|row| by_ids.as_ref().is_none_or(|ids| ids.contains(&row.user_id)))
            .collect(),
    ))
}

/// Brings back the deleted users a filter names: 204; 400 (empty) without
/// a filter; 404 when none match; 403 (nobody restored) when any is not the
/// caller's; 400 `USERNAME_ALREADY_EXISTS` when someone took a username
/// meanwhile (Kolibri would let two users share it).
#[utoipa::path(post, path = "/api/auth/deletedfacilityuser/restore", tag = "kolibri", operation_id = "kolibri_restore_users",
    params(DeletedFilterParams),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Restored"), (status = 400, description = "No filter, or a username taken meanwhile"),
        (status = 403, description = "Not allowed"), (status = 404, description = "None match")))]
pub async fn restore(
    State(app): State<App>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<Response, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let Some(users) = chosen(&app, &actor, &query).await? else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    if users.is_empty() {
        return Err(Error::NotFound.into());
    }
    deleted_users::restore(&app, &actor, &users, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes one deleted user for good (204).
#[utoipa::path(delete, path = "/api/auth/deletedfacilityuser/{id}", tag = "kolibri", operation_id = "kolibri_purge_user",
    params(("id" = String, Path, description = "The user's id", pattern = "^[0-9a-f]{32}$")),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Gone for good"), (status = 403, description = "Not allowed"), (status = 404, description = "No such deleted user")))]
pub async fn purge(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<StatusCode, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let actor = actor(&app, &visitor).await?;
    let row = deleted_users::read(&app, &actor, id).await?;
    deleted_users::purge(&app, &actor, &[row], &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes for good the deleted users a filter names: 204; 400 (empty)
/// without a filter; 403 (nothing done) when any is not the caller's.
#[utoipa::path(delete, path = "/api/auth/deletedfacilityuser", tag = "kolibri", operation_id = "kolibri_purge_users",
    params(DeletedFilterParams),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Gone for good"), (status = 400, description = "No filter"), (status = 403, description = "Not allowed"),
        (status = 404, description = "A filter naming no collection")))]
pub async fn purge_many(
    State(app): State<App>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<Response, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let Some(users) = chosen(&app, &actor, &query).await? else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    deleted_users::purge(&app, &actor, &users, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
