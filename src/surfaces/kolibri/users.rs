//! `/api/auth/facilityuser` and `/api/auth/signup`, as Kolibri 0.19.5's
//! `FacilityUserViewSet` and `SignUpViewSet` answer them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::doc::{
    ByIdsParams, KolibriCreateUser, KolibriFacilityUser, KolibriUserList, UserListParams,
};
use super::{hex_id, session_cookie, Kolibri, KolibriError, ListCache, Visitor};
use crate::access::Actor;
use crate::http::extract::Body;
use crate::service::facility_access::{self, ListQuery as Wanted};
use crate::service::{facilities, facility_users};
use crate::{App, Error};
use axum::Extension;
use projections::facility_users::{FacilityUserRow, Filter, Listed, Order, RoleRow, UserType};

/// `GET /api/auth/facilityuser` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Comma-separated ids (deleted-user restores and purges).
    pub(super) by_ids: Option<String>,
    pub(super) member_of: Option<String>,
    pub(super) user_type: Option<String>,
    pub(super) search: Option<String>,
    page_size: Option<String>,
    page: Option<String>,
    ordering: Option<String>,
}

/// A facility user's fields as a Kolibri client sends them (`POST`,
/// `PATCH /api/auth/facilityuser`, `/api/auth/signup`). `None`: not sent
/// (on an edit: untouched).
#[derive(Default, Deserialize, ToSchema)]
pub struct Fields {
    /// Required on creation. Up to 30 characters without whitespace or
    /// any of `` `~!@#$%^&*()-+={}[]|\/:;"'<>,.? ``, or an email address.
    /// Null: untouched.
    #[serde(default)]
    #[schema(value_type = Option<super::doc::KolibriUsernameValue>)]
    username: Option<String>,
    /// Required on creation; `NOT_SPECIFIED` for no password where the
    /// facility lets learners in without one. Null: untouched.
    #[serde(default)]
    #[schema(format = Password, min_length = 1)]
    password: Option<String>,
    /// Up to 120 characters (no control characters); may be empty.
    #[serde(default)]
    #[schema(max_length = 120, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    full_name: Option<String>,
    /// `MALE`, `FEMALE`, `NOT_SPECIFIED`, `DEFERRED` or empty.
    #[serde(default)]
    #[schema(pattern = "^(MALE|FEMALE|NOT_SPECIFIED|DEFERRED)?$")]
    gender: Option<String>,
    /// A year from 1900 to now, `NOT_SPECIFIED`, `DEFERRED` or empty.
    #[serde(default)]
    #[schema(pattern = "^(19[0-9]{2}|20[01][0-9]|NOT_SPECIFIED|DEFERRED)?$")]
    birth_year: Option<String>,
    /// Up to 64 characters (no control characters).
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    id_number: Option<String>,
}

crate::redacted_debug!(Fields {});

impl From<Fields> for facility_users::Fields {
    fn from(wire: Fields) -> Self {
        Self {
            username: wire.username,
            password: wire.password,
            full_name: wire.full_name,
            gender: wire.gender,
            birth_year: wire.birth_year,
            id_number: wire.id_number,
        }
    }
}

/// A facility user as Kolibri shows one.
pub(super) fn user_json(row: &FacilityUserRow, roles: &[RoleRow]) -> Value {
    let roles: Vec<Value> = roles
        .iter()
        .map(|r| {
            let kind = aggregates::RoleKind::parse(&r.kind).map_or("", |k| k.kolibri());
            json!({ "id": hex_id(r.role_id), "kind": kind, "collection": hex_id(r.collection_id) })
        })
        .collect();
    let mut user = json!({
        "id": hex_id(row.user_id),
        "username": row.username,
        "full_name": row.full_name,
        "facility": hex_id(row.facility_id),
        "id_number": row.id_number.clone().unwrap_or_default(),
        "gender": row.gender.clone().unwrap_or_default(),
        "birth_year": row.birth_year.clone().unwrap_or_default(),
        "extra_demographics": null,
        "date_joined": row.date_joined.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "is_superuser": row.is_superuser,
        "roles": roles,
        "picture_password": null,
    });
    if let Some(deleted) = row.deleted_at {
        user["date_deleted"] = json!(deleted.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    user
}

/// A listed page.
fn listed_json(rows: &[Listed]) -> Vec<Value> {
    rows.iter()
        .map(|listed| user_json(&listed.user, &listed.roles))
        .collect()
}

/// One live user as the read models show them.
async fn one_json(app: &App, user_id: Uuid) -> Result<Value, Error> {
    let (row, roles) = facility_access::find(app, user_id).await?;
    Ok(user_json(&row, &roles))
}

/// An empty list, as Kolibri answers anonymous readers (its permission
/// filter leaves them nothing).
fn empty_list(page_size: Option<&str>) -> Value {
    match page_size
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p > 0)
    {
        Some(_) => json!({ "page": 1, "count": 0, "total_pages": 1, "results": [] }),
        None => json!([]),
    }
}

/// The signed-in caller, or 403 `NOT_AUTHENTICATED`.
async fn actor(app: &App, visitor: &Visitor) -> Result<Actor, Error> {
    let principal = visitor.principal.as_ref().ok_or(Error::Unauthenticated)?;
    crate::access::actor(app, principal.user_id, principal.session_id).await
}

/// A path id: 32 hex digits (or a hyphenated UUID); anything else is not
/// found.
fn path_id(raw: &str) -> Result<Uuid, Error> {
    crate::input::parse_id(raw, "id").map_err(|_| Error::NotFound)
}

/// Facility users the caller may read (superuser: all; facility admin or
/// coach: their facility; anyone else: themselves), ordered by username.
/// Filters `member_of` (a facility, classroom or learner group),
/// `user_type` (`learner`, `coach`, `classroom assignable coach`, `admin`,
/// `superuser`), `search` (every term in the username or full name).
/// Paginated `{page, count, total_pages, results}` only with `page_size`;
/// else a plain array.
#[utoipa::path(get, path = "/api/auth/facilityuser", tag = "kolibri", operation_id = "kolibri_list",
    params(UserListParams),
    security((), ("kolibri_session" = [])),
    responses(
        (status = 200, description = "Users (array, or a page object with page_size); `[]` for anonymous callers", body = KolibriUserList),
        (status = 400, description = "Unknown member_of collection or user_type"),
        (status = 403, description = "A session that ended"),
        (status = 404, description = "No such page"),
    ))]
pub async fn list(
    State(app): State<App>,
    Extension(cache): Extension<Arc<ListCache>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<axum::response::Response, KolibriError> {
    listing(&app, &cache, &visitor, &query, false).await
}

/// The live users (or, `deleted`, the deleted ones) the caller may read,
/// filtered, ordered and paged as Kolibri's facility-user lists are.
pub(super) async fn listing(
    app: &App,
    cache: &ListCache,
    visitor: &Visitor,
    query: &ListQuery,
    deleted: bool,
) -> Result<axum::response::Response, KolibriError> {
    let app = app.clone();
    if visitor.principal.is_none() {
        return Ok(Json(empty_list(query.page_size.as_deref())).into_response());
    }
    let actor = actor(&app, visitor).await?;
    // The Users page fetches the users it has selected by id.
    if let (Some(ids), false) = (ids_of(query.by_ids.as_deref()), deleted) {
        let users = facility_access::read_many(&app, &actor, &ids).await?;
        let rows: Vec<Value> = users
            .iter()
            .map(|(row, roles)| user_json(row, roles))
            .collect();
        let answer = match query
            .page_size
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
        {
            Some(size) if size > 0 => {
                json!({ "page": 1, "count": rows.len(), "total_pages": 1, "results": rows })
            }
            _ => json!(rows),
        };
        return Ok(Json(answer).into_response());
    }
    let invalid_member_of = || {
        Error::invalid_field(
            "member_of",
            "INVALID_CHOICE",
            "Select a valid choice. That choice is not one of the available choices.",
        )
    };
    let member_of = match query.member_of.as_deref().filter(|m| !m.is_empty()) {
        Some(raw) => {
            Some(crate::input::parse_id(raw, "member_of").map_err(|_| invalid_member_of())?)
        }
        None => None,
    };
    let wanted = Wanted {
        member_of,
        user_type: None,
        search: query.search.clone(),
        order: query.ordering.as_deref().and_then(Order::parse),
    };
    let filtered = if deleted {
        crate::service::deleted_users::filter(&app, &actor, wanted).await
    } else {
        facility_access::filter(&app, &actor, wanted).await
    };
    let mut filter = match filtered {
        Err(Error::NotFound) => return Err(invalid_member_of().into()),
        other => other?,
    };
    // Checked after the collection, as Kolibri's filters run.
    if let Some(user_type) = query.user_type.as_deref().filter(|t| !t.is_empty()) {
        let kind = UserType::parse(user_type).ok_or_else(|| {
            Error::invalid_field(
                "user_type",
                "INVALID_CHOICE",
                format!("Select a valid choice. {user_type} is not one of the available choices."),
            )
        })?;
        filter.user_types.push(kind);
    }
    // The same list for the same scope, unchanged since: from memory.
    let key = format!("{filter:?}|{:?}|{:?}", query.page_size, query.page);
    if let Some(body) = cache.answer(&key) {
        return Ok(json_body(body));
    }
    let read_at = *app.projected.borrow();
    let answer = list_answer(
        &app,
        &filter,
        query.page_size.as_deref(),
        query.page.as_deref(),
    )
    .await?;
    let body =
        bytes::Bytes::from(serde_json::to_vec(&answer).map_err(|e| Error::Internal(e.into()))?);
    cache.keep_answer(key, read_at, body.clone());
    Ok(json_body(body))
}

fn json_body(body: bytes::Bytes) -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A list as Kolibri answers it: an array without `page_size`, else a
/// page object (404 past the last page).
async fn list_answer(
    app: &App,
    filter: &Filter,
    page_size: Option<&str>,
    page: Option<&str>,
) -> Result<Value, Error> {
    let page_size = page_size
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p > 0);
    let Some(page_size) = page_size else {
        // No page_size: every match, as a plain array (bounded for safety).
        let (rows, _) = facility_access::page(app, filter, UNPAGED_LIMIT, 0).await?;
        return Ok(json!(listed_json(&rows)));
    };
    let page_size = page_size.min(MAX_PAGE_SIZE);
    let page = match page {
        None => 1,
        Some("last") => -1,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or(Error::NotFound)?,
    };
    // A page whose offset does not fit an i64 is past the last one
    // whatever the count: Kolibri's 404 for a page past the end.
    let offset_of = |page: i64| {
        (page.max(1) - 1)
            .checked_mul(page_size)
            .ok_or(Error::NotFound)
    };
    let offset = offset_of(page)?;
    let (rows, count) = facility_access::page(app, filter, page_size, offset).await?;
    let total_pages = ((count + page_size - 1) / page_size).max(1);
    let (page, rows) = if page == -1 {
        let last = total_pages;
        let (rows, _) = facility_access::page(app, filter, page_size, offset_of(last)?).await?;
        (last, rows)
    } else {
        (page, rows)
    };
    if page > total_pages {
        return Err(Error::NotFound);
    }
    Ok(json!({
        "page": page,
        "count": count,
        "total_pages": total_pages,
        "results": listed_json(&rows),
    }))
}

/// The most users an unpaginated list answers.
const UNPAGED_LIMIT: i64 = 10_000;
/// The largest page.
const MAX_PAGE_SIZE: i64 = 1_000;

/// One facility user the caller may read; 404 otherwise.
#[utoipa::path(get, path = "/api/auth/facilityuser/{id}", tag = "kolibri", operation_id = "kolibri_read",
    params(("id" = String, Path, description = "User id (32 hex digits)", pattern = "^[0-9a-f]{32}$")),
    security((), ("kolibri_session" = [])),
    responses(
        (status = 200, description = "The user", body = KolibriFacilityUser),
        (status = 403, description = "Not signed in"),
        (status = 404, description = "No such user (or not readable)"),
    ))]
pub async fn read(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, KolibriError> {
    // Anonymous readers find nothing (Kolibri filters before looking up).
    if visitor.principal.is_none() {
        return Err(Error::NotFound.into());
    }
    let actor = actor(&app, &visitor).await?;
    let user_id = path_id(&id)?;
    let (row, roles) = facility_access::read(&app, &actor, user_id).await?;
    Ok(Json(user_json(&row, &roles)))
}

/// Edits a user (themselves, or one of a facility they administer): the
/// changed fields become one event; a new password ends the user's other
/// sessions (the caller's own stays).
#[utoipa::path(patch, path = "/api/auth/facilityuser/{id}", tag = "kolibri", operation_id = "kolibri_update",
    params(("id" = String, Path, description = "User id (32 hex digits)", pattern = "^[0-9a-f]{32}$")),
    request_body = Fields,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 200, description = "The updated user", body = KolibriFacilityUser),
        (status = 400, description = "Invalid field, or USERNAME_ALREADY_EXISTS"),
        (status = 403, description = "Not signed in, or not allowed"),
        (status = 404, description = "No such user"),
    ))]
pub async fn update(
    State(app): State<App>,
    visitor: Visitor,
    jar: CookieJar,
    Path(id): Path<String>,
    Body(edit, ..): Body<Fields, Kolibri>,
) -> Result<impl IntoResponse, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let user_id = path_id(&id)?;
    facility_access::edit(&app, &actor, user_id, edit.into(), &visitor.ctx).await?;
    let own = user_id == actor.user_id;
    // Kolibri (Django's `update_session_auth_hash`) sends the editor's
    // session cookie again after they edit themselves.
    let jar = match jar
        .get(super::SESSION_COOKIE)
        .map(|c| c.value().to_string())
    {
        Some(secret) if own => jar.add(session_cookie(visitor.secure, secret)),
        _ => jar,
    };
    Ok((jar, Json(one_json(&app, user_id).await?)))
}

/// Deletes a user (soft: the events stay; the user leaves every list,
/// cannot log in, every session ends, the username becomes free). 204.
#[utoipa::path(delete, path = "/api/auth/facilityuser/{id}", tag = "kolibri", operation_id = "kolibri_delete",
    params(("id" = String, Path, description = "User id (32 hex digits)", pattern = "^[0-9a-f]{32}$")),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not signed in, or not allowed"),
        (status = 404, description = "No such user"),
    ))]
pub async fn delete(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let user_id = path_id(&id)?;
    facility_access::delete(&app, &actor, user_id, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Comma-separated ids (`by_ids`); ids that are not ids name nobody.
pub(super) fn ids_of(raw: Option<&str>) -> Option<Vec<Uuid>> {
    raw.filter(|r| !r.is_empty()).map(|raw| {
        raw.split(',')
            .filter_map(|id| Uuid::try_parse(id.trim()).ok())
            .collect()
    })
}

/// Deletes the users `by_ids` names (the Users page's bulk removal): 204;
/// 400 (empty) without it; 403, nobody deleted, when any is not the
/// caller's to delete (Kolibri checks nobody here).
#[utoipa::path(delete, path = "/api/auth/facilityuser", tag = "kolibri", operation_id = "kolibri_delete_many",
    params(ByIdsParams),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Deleted"), (status = 400, description = "No by_ids"), (status = 403, description = "Not allowed")))]
pub async fn delete_many(
    State(app): State<App>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> Result<axum::response::Response, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let Some(ids) = ids_of(query.by_ids.as_deref()) else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    facility_access::delete_many(&app, &actor, &ids, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/auth/facilityuser` and `POST /api/auth/signup` body
/// (documented as [`KolibriCreateUser`]).
#[derive(Debug, Deserialize)]
pub struct CreateRequest {
    /// The facility (default: the default facility).
    #[serde(default)]
    facility: Option<String>,
    /// The user's fields.
    #[serde(flatten)]
    fields: Fields,
}

/// The facility a create names (the default one when absent).
async fn facility_of(app: &App, raw: Option<&str>) -> Result<Uuid, Error> {
    let invalid = || Error::invalid_field("facility", "DOES_NOT_EXIST", "Facility does not exist.");
    match raw.map(str::trim).filter(|f| !f.is_empty()) {
        Some(raw) => {
            let id = crate::input::parse_id(raw, "facility").map_err(|_| invalid())?;
            if facilities::is_facility(app, id).await? {
                Ok(id)
            } else {
                Err(invalid())
            }
        }
        None => facilities::default_facility(app).await?.ok_or_else(invalid),
    }
}

/// Creates a user in a facility the caller administers. 201 with the user.
#[utoipa::path(post, path = "/api/auth/facilityuser", tag = "kolibri", operation_id = "kolibri_create",
    request_body = KolibriCreateUser,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 201, description = "The new user", body = KolibriFacilityUser),
        (status = 400, description = "Invalid field, or USERNAME_ALREADY_EXISTS"),
        (status = 403, description = "Not signed in, or not an admin of the facility"),
    ))]
pub async fn create(
    State(app): State<App>,
    visitor: Visitor,
    Body(body, ..): Body<CreateRequest, Kolibri>,
) -> Result<impl IntoResponse, KolibriError> {
    let actor = actor(&app, &visitor).await?;
    let facility = facility_of(&app, body.facility.as_deref()).await?;
    let user_id =
        facility_access::create(&app, &actor, facility, body.fields.into(), &visitor.ctx).await?;
    Ok((StatusCode::CREATED, Json(one_json(&app, user_id).await?)))
}

/// Signs up a learner in a facility that allows it (403 otherwise) and
/// logs them in (cookies as a login). Needs the CSRF header even
/// anonymous (Django's `csrf_protect`). 201 with the user.
#[utoipa::path(post, path = "/api/auth/signup", tag = "kolibri", operation_id = "kolibri_signup",
    request_body = KolibriCreateUser,
    security(("kolibri_csrf" = [])),
    responses(
        (status = 201, description = "The new user (without date_joined); signed in", body = KolibriFacilityUser),
        (status = 400, description = "Invalid field, or USERNAME_ALREADY_EXISTS"),
        (status = 403, description = "The facility does not allow sign-up, or no CSRF token"),
        (status = 429, description = "Too many attempts; see Retry-After"),
    ))]
pub async fn signup(
    State(app): State<App>,
    visitor: Visitor,
    jar: CookieJar,
    Body(body, ..): Body<CreateRequest, Kolibri>,
) -> Result<impl IntoResponse, KolibriError> {
    if visitor.require_csrf().is_err() {
        return Ok(super::csrf_failure());
    }
    let facility = facility_of(&app, body.facility.as_deref()).await?;
    // The credentials were just set: the new user is logged in as they are.
    let verified =
        facility_access::sign_up(&app, facility, body.fields.into(), &visitor.ctx).await?;
    let user_id = verified.user_id;
    let jar = super::sign_in(&app, &verified, &visitor, jar).await?;
    // Kolibri answers sign-up with its serializer's fields: no date_joined.
    let mut user = one_json(&app, user_id).await?;
    if let Some(fields) = user.as_object_mut() {
        fields.remove("date_joined");
    }
    Ok((StatusCode::CREATED, jar, Json(user)).into_response())
}
