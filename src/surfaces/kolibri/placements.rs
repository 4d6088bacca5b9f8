//! `/api/auth/role` and `/api/auth/membership`, as Kolibri 0.19.5's
//! `RoleViewSet` and `MembershipViewSet` answer them
//! (docs/kolibri-reference.md §4.3–4.4): lists narrowed by `user`,
//! `collection`, `kind`, `user_ids`, `by_ids`; one object or a list
//! created; deleted one by one or by filter (every one checked first:
//! Kolibri's bulk delete checks nobody — this one does).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::doc::{
    KolibriMembership, KolibriMembershipRequest, KolibriMembershipsMade, KolibriRole,
    KolibriRoleRequest, KolibriRolesGiven, PlacementFilterParams,
};
use super::{hex_id, Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::service::placements::{self, PlacementQuery, Placing, Unfit};
use crate::{App, Error};
use aggregates::RoleKind;
use projections::collections::{HeldRoleRow, MembershipRow};

fn role_json(role: &HeldRoleRow) -> Value {
    json!({
        "id": hex_id(role.role_id),
        "kind": RoleKind::parse(&role.kind).map_or("", |k| k.kolibri()),
        "collection": hex_id(role.collection_id),
        "user": hex_id(role.user_id),
    })
}

fn membership_json(membership: &MembershipRow) -> Value {
    json!({
        "id": hex_id(membership.membership_id),
        "collection": hex_id(membership.organization_id),
        "user": hex_id(membership.user_id),
    })
}

/// The filters Kolibri's role and membership lists take.
#[derive(Debug, Deserialize)]
pub struct Filters {
    user: Option<String>,
    collection: Option<String>,
    kind: Option<String>,
    user_ids: Option<String>,
    by_ids: Option<String>,
}

fn invalid_choice(field: &'static str, shown: &str) -> Error {
    Error::invalid_field(
        field,
        "INVALID_CHOICE",
        format!("Select a valid choice. {shown} is not one of the available choices."),
    )
}

/// The query the filters ask for; 400 `INVALID_CHOICE` for a `user` or
/// `collection` that is no id, or a `kind` that is none.
fn query_of(filters: &Filters) -> Result<PlacementQuery, Error> {
    let id = |raw: &Option<String>, field: &'static str| -> Result<Option<Uuid>, Error> {
        match raw.as_deref().filter(|r| !r.is_empty()) {
            Some(raw) => crate::input::parse_id(raw, field)
                .map(Some)
                .map_err(|_| invalid_choice(field, "That choice")),
            None => Ok(None),
        }
    };
    // Ids that are not ids match nothing.
    let ids = |raw: &Option<String>| super::users::ids_of(raw.as_deref());
    let kind = match filters.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(kind) => Some(RoleKind::parse(kind).ok_or_else(|| {
            let shown: String = kind.chars().take(64).collect();
            invalid_choice("kind", &shown)
        })?),
        None => None,
    };
    Ok(PlacementQuery {
        user: id(&filters.user, "user")?,
        collection: id(&filters.collection, "collection")?,
        kind,
        user_ids: ids(&filters.user_ids),
        by_ids: ids(&filters.by_ids),
    })
}

/// A primary key field of a body item, as Django REST framework's
/// `PrimaryKeyRelatedField` reads one.
fn pk(item: &Value, field: &'static str) -> Result<Uuid, Error> {
    match item.get(field) {
        None => Err(Error::invalid_field(
            field,
            "REQUIRED",
            "This field is required.",
        )),
        Some(Value::Null) => Err(Error::invalid_field(
            field,
            "NULL",
            "This field may not be null.",
        )),
        Some(Value::String(raw)) => crate::input::parse_id(raw, field).map_err(|_| {
            Error::invalid_field(
                field,
                "INCORRECT_TYPE",
                "Incorrect type. Expected pk value, received str.",
            )
        }),
        Some(_) => Err(Error::invalid_field(
            field,
            "INCORRECT_TYPE",
            "Incorrect type. Expected pk value, received int.",
        )),
    }
}

/// The items of a `POST` body (one object or a list) and whether it was
/// a list.
fn placings(body: &Value, with_kind: bool) -> (Result<Vec<Placing>, Error>, bool) {
    let (items, many) = match body {
        Value::Array(items) => (items.iter().collect::<Vec<_>>(), true),
        other => (vec![other], false),
    };
    let parse = |item: &Value| -> Result<Placing, Error> {
        if !item.is_object() {
            return Err(Error::invalid("INVALID_BODY", "Expected an object"));
        }
        let kind = if with_kind {
            Some(match item.get("kind") {
                None => {
                    return Err(Error::invalid_field(
                        "kind",
                        "REQUIRED",
                        "This field is required.",
                    ))
                }
                Some(Value::String(kind)) => RoleKind::parse(kind).ok_or_else(|| {
                    let shown: String = kind.chars().take(64).collect();
                    Error::invalid_field(
                        "kind",
                        "INVALID_CHOICE",
                        format!("\"{shown}\" is not a valid choice."),
                    )
                })?,
                Some(_) => {
                    return Err(Error::invalid_field(
                        "kind",
                        "INVALID_CHOICE",
                        "Not a valid choice.",
                    ))
                }
            })
        } else {
            None
        };
        Ok(Placing {
            collection: pk(item, "collection")?,
            user: pk(item, "user")?,
            kind,
        })
    };
    (items.into_iter().map(parse).collect(), many)
}

/// `DOES_NOT_EXIST` with the value sent, as Kolibri words it.
fn rendered(error: Error, body: &Value) -> Response {
    if let Error::Invalid {
        code: "DOES_NOT_EXIST",
        field: Some(field),
        ..
    } = &error
    {
        let first = match body {
            Value::Array(items) => items.first().cloned().unwrap_or_default(),
            other => other.clone(),
        };
        let sent = first
            .get(*field)
            .and_then(Value::as_str)
            .unwrap_or_default();
        return super::does_not_exist(field, sent).into_response();
    }
    if let Error::Invalid {
        code: "INVALID_ROLE_KIND",
        message,
        ..
    } = error
    {
        return KolibriError::from(Error::invalid_field("non_field_errors", "INVALID", message))
            .into_response();
    }
    KolibriError::from(error).into_response()
}

/// 400 with an empty body: a bulk delete without a filter.
fn unfiltered() -> Response {
    StatusCode::BAD_REQUEST.into_response()
}

/// Roles the caller reads (their own; those for collections they read).
#[utoipa::path(get, path = "/api/auth/role", tag = "kolibri", operation_id = "kolibri_roles",
    params(PlacementFilterParams),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "`[{id, kind, collection, user}]`", body = Vec<KolibriRole>), (status = 400, description = "A filter names nothing"),
        (status = 403, description = "A session that ended")))]
pub async fn roles(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Json<Value>, KolibriError> {
    let query = query_of(&filters)?;
    let actor = visitor.actor(&app).await?;
    let roles = placements::roles(&app, actor.as_ref(), &query).await?;
    Ok(Json(json!(roles.iter().map(role_json).collect::<Vec<_>>())))
}

/// One role the caller reads; 404 otherwise.
#[utoipa::path(get, path = "/api/auth/role/{id}", tag = "kolibri", operation_id = "kolibri_role",
    params(("id" = String, Path, description = "The role's id", pattern = "^[0-9a-f]{32}$")),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "The role", body = KolibriRole), (status = 403, description = "A session that ended"), (status = 404, description = "No such role, or not readable")))]
pub async fn role(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Json<Value>, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let actor = visitor.actor(&app).await?;
    Ok(Json(role_json(
        &placements::role(&app, actor.as_ref(), id).await?,
    )))
}

/// Gives roles (a facility's admins, the superuser): one object or a list.
#[utoipa::path(post, path = "/api/auth/role", tag = "kolibri", operation_id = "kolibri_give_roles",
    request_body = KolibriRoleRequest,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 201, description = "The role (one), or the new roles (a list)", body = KolibriRolesGiven), (status = 400, description = "Bad field or kind"), (status = 403, description = "Not allowed")))]
pub async fn give_roles(
    State(app): State<App>,
    visitor: Visitor,
    Body(body, ..): Body<Value, Kolibri>,
) -> Response {
    let (items, many) = placings(&body, true);
    let actor = match visitor.actor(&app).await {
        Ok(actor) => actor,
        Err(error) => return KolibriError::from(error).into_response(),
    };
    match placements::give_roles(&app, actor.as_ref(), items, many, &visitor.ctx).await {
        Ok(given) => {
            let shown: Vec<Value> = given
                .iter()
                .map(|(user, role)| {
                    json!({
                        "id": hex_id(role.id),
                        "kind": role.kind.kolibri(),
                        "collection": hex_id(role.collection),
                        "user": hex_id(*user),
                    })
                })
                .collect();
            let answer = if many {
                json!(shown)
            } else {
                shown.into_iter().next().unwrap_or_default()
            };
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(error) => rendered(error, &body),
    }
}

/// Takes a role away (204).
#[utoipa::path(delete, path = "/api/auth/role/{id}", tag = "kolibri", operation_id = "kolibri_take_role",
    params(("id" = String, Path, description = "The role's id", pattern = "^[0-9a-f]{32}$")),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Taken away"), (status = 403, description = "Not allowed"), (status = 404, description = "No such role")))]
pub async fn take_role(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<StatusCode, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let role = placements::find_role(&app, id).await?;
    let actor = visitor.actor(&app).await?;
    placements::take_roles(&app, actor.as_ref(), &[role], &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes away every role a filter matches (204; 400 with no filter; 403,
/// nothing taken, when any is not the caller's to take).
#[utoipa::path(delete, path = "/api/auth/role", tag = "kolibri", operation_id = "kolibri_take_roles",
    params(PlacementFilterParams),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Taken away"), (status = 400, description = "No filter"), (status = 403, description = "Not allowed")))]
pub async fn take_roles(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Response, KolibriError> {
    let query = query_of(&filters)?;
    if !query.narrows() {
        return Ok(unfiltered());
    }
    let roles = placements::matching_roles(&app, &query).await?;
    let actor = visitor.actor(&app).await?;
    placements::take_roles(&app, actor.as_ref(), &roles, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Memberships the caller reads (their own; those of collections they
/// read).
#[utoipa::path(get, path = "/api/auth/membership", tag = "kolibri", operation_id = "kolibri_memberships",
    params(PlacementFilterParams),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "`[{id, collection, user}]`", body = Vec<KolibriMembership>), (status = 400, description = "A filter names nothing"),
        (status = 403, description = "A session that ended")))]
pub async fn memberships(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Json<Value>, KolibriError> {
    let mut query = query_of(&filters)?;
    query.kind = None;
    let actor = visitor.actor(&app).await?;
    let rows = placements::memberships(&app, actor.as_ref(), &query).await?;
    Ok(Json(json!(rows
        .iter()
        .map(membership_json)
        .collect::<Vec<_>>())))
}

/// One membership the caller reads; 404 otherwise.
#[utoipa::path(get, path = "/api/auth/membership/{id}", tag = "kolibri", operation_id = "kolibri_membership",
    params(("id" = String, Path, description = "The membership's id", pattern = "^[0-9a-f]{32}$")),
    security((), ("kolibri_session" = [])),
    responses((status = 200, description = "The membership", body = KolibriMembership), (status = 403, description = "A session that ended"), (status = 404, description = "No such membership, or not readable")))]
pub async fn membership(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Json<Value>, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let actor = visitor.actor(&app).await?;
    Ok(Json(membership_json(
        &placements::membership(&app, actor.as_ref(), id).await?,
    )))
}

/// Places users in classrooms and learner groups: one object or a list.
#[utoipa::path(post, path = "/api/auth/membership", tag = "kolibri", operation_id = "kolibri_join",
    request_body = KolibriMembershipRequest,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 201, description = "The membership (one), or the new ones (a list)", body = KolibriMembershipsMade), (status = 400, description = "Bad field, a facility, or not in the group's classroom"), (status = 403, description = "Not allowed")))]
pub async fn join(
    State(app): State<App>,
    visitor: Visitor,
    Body(body, ..): Body<Value, Kolibri>,
) -> Response {
    let (items, many) = placings(&body, false);
    let actor = match visitor.actor(&app).await {
        Ok(actor) => actor,
        Err(error) => return KolibriError::from(error).into_response(),
    };
    match placements::join(&app, actor.as_ref(), items, many, &visitor.ctx).await {
        Ok(Ok(ids)) => {
            let mut shown = Vec::new();
            for id in ids {
                match placements::find_membership(&app, id).await {
                    Ok(row) => shown.push(membership_json(&row)),
                    Err(error) => return KolibriError::from(error).into_response(),
                }
            }
            let answer = if many {
                json!(shown)
            } else {
                shown.into_iter().next().unwrap_or_default()
            };
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Ok(Err(unfit)) => unfit_answer(unfit, many),
        Err(error) => rendered(error, &body),
    }
}

/// Kolibri's refusals of a membership that cannot be: a bare list for one
/// object, a non-field error for a list.
fn unfit_answer(unfit: Unfit, many: bool) -> Response {
    if !many {
        return (StatusCode::BAD_REQUEST, Json(json!(["Invalid membership"]))).into_response();
    }
    let message = match unfit {
        Unfit::Facility => "Cannot create membership objects for facilities, as should already be a member by facility attribute",
        Unfit::NotInClassroom => "Cannot create membership for a user in a LearnerGroup or AdHocGroup when they are not a member of the parent Classroom",
    };
    KolibriError::from(Error::invalid_field("non_field_errors", "INVALID", message)).into_response()
}

/// Ends a membership (204); leaving a classroom leaves its groups too.
#[utoipa::path(delete, path = "/api/auth/membership/{id}", tag = "kolibri", operation_id = "kolibri_leave",
    params(("id" = String, Path, description = "The membership's id", pattern = "^[0-9a-f]{32}$")),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Ended"), (status = 403, description = "Not allowed"), (status = 404, description = "No such membership")))]
pub async fn leave(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<StatusCode, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let membership = placements::find_membership(&app, id).await?;
    let actor = visitor.actor(&app).await?;
    placements::leave(&app, actor.as_ref(), &[membership], &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every membership a filter matches (204; 400 with no filter; 403,
/// nothing ended, when any is not the caller's to end).
#[utoipa::path(delete, path = "/api/auth/membership", tag = "kolibri", operation_id = "kolibri_leave_many",
    params(PlacementFilterParams),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 204, description = "Ended"), (status = 400, description = "No filter"), (status = 403, description = "Not allowed")))]
pub async fn leave_many(
    State(app): State<App>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Response, KolibriError> {
    let mut query = query_of(&filters)?;
    query.kind = None;
    if !query.narrows() {
        return Ok(unfiltered());
    }
    let rows = placements::matching_memberships(&app, &query).await?;
    let actor = visitor.actor(&app).await?;
    placements::leave(&app, actor.as_ref(), &rows, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
