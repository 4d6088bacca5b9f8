//! `/api/auth/classroom` and `/api/auth/learnergroup`, as Kolibri 0.19.5's
//! `ClassroomViewSet` and `LearnerGroupViewSet` answer them
//! (docs/kolibri-reference.md §4.1–4.2): lists of what the caller may read
//! (`[]` for learners and anonymous callers), sorted by id; creating,
//! renaming and deleting for those who manage them.

use aggregates::OrganizationKind;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::doc::{
    KolibriClassroom, KolibriCollectionBody, KolibriLearnerGroup, KolibriPartialRenameBody,
    KolibriRenameBody, ParentParams,
};
use super::{hex_id, Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::service::classrooms::{self, CollectionView, NewCollection};
use crate::service::collections;
use crate::{App, Error};

/// A coach as a classroom lists them.
fn coach_json(view: &CollectionView, coach: &classrooms::Coach) -> Value {
    let roles: Vec<Value> = coach
        .facility_role
        .iter()
        .map(|role| {
            json!({
                "kind": aggregates::RoleKind::parse(&role.kind).map_or("", |k| k.kolibri()),
                "collection": hex_id(role.collection_id),
                "id": hex_id(role.role_id),
            })
        })
        .collect();
    json!({
        "id": hex_id(coach.holder.user_id),
        "facility": view.row.parent_id.map(hex_id),
        "is_superuser": coach.holder.is_superuser,
        "full_name": coach.holder.full_name,
        "username": coach.holder.username,
        "roles": roles,
    })
}

/// A classroom or learner group as Kolibri shows one.
fn collection_json(kind: OrganizationKind, view: &CollectionView) -> Value {
    let row = &view.row;
    match kind {
        OrganizationKind::LearnerGroup => json!({
            "id": hex_id(row.organization_id),
            "name": row.name,
            "parent": row.parent_id.map(hex_id),
            "user_ids": view.members.iter().copied().map(hex_id).collect::<Vec<_>>(),
        }),
        _ => json!({
            "id": hex_id(row.organization_id),
            "name": row.name,
            "parent": row.parent_id.map(hex_id),
            "learner_count": row.learners,
            "coaches": view.coaches.iter().map(|c| coach_json(view, c)).collect::<Vec<_>>(),
        }),
    }
}

/// `?parent=` (and `?role=`, which Kolibri's coach pages send: what one
/// may read is already what one holds a role for).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    parent: Option<String>,
}

fn invalid_choice(field: &'static str) -> Error {
    Error::invalid_field(
        field,
        "INVALID_CHOICE",
        "Select a valid choice. That choice is not one of the available choices.",
    )
}

async fn list(
    app: &App,
    visitor: &Visitor,
    kind: OrganizationKind,
    query: &ListQuery,
) -> Result<Json<Value>, KolibriError> {
    let parent = match query.parent.as_deref().filter(|p| !p.is_empty()) {
        Some(raw) => {
            let id = crate::input::parse_id(raw, "parent").map_err(|_| invalid_choice("parent"))?;
            // A filter names an existing collection, or the list is refused.
            collections::place(app, id)
                .await?
                .ok_or_else(|| invalid_choice("parent"))?;
            Some(id)
        }
        None => None,
    };
    let actor = visitor.actor(app).await?;
    let views = classrooms::list(app, actor.as_ref(), kind, parent).await?;
    Ok(Json(json!(views
        .iter()
        .map(|v| collection_json(kind, v))
        .collect::<Vec<_>>())))
}

async fn read(
    app: &App,
    visitor: &Visitor,
    kind: OrganizationKind,
    id: &str,
) -> Result<Json<Value>, KolibriError> {
    let id = crate::input::parse_id(id, "id").map_err(|_| Error::NotFound)?;
    let actor = visitor.actor(app).await?;
    let view = classrooms::get(app, actor.as_ref(), kind, id).await?;
    Ok(Json(collection_json(kind, &view)))
}

/// A `name` as Django REST framework's `CharField` reads one: `None` when
/// absent.
fn name_field(body: &Value) -> Result<Option<String>, Error> {
    match body.get("name") {
        None => Ok(None),
        Some(Value::String(name)) => classrooms::checked_name(Some(name)).map(Some),
        Some(Value::Null) => Err(Error::invalid_field(
            "name",
            "NULL",
            "This field may not be null.",
        )),
        Some(Value::Number(n)) => classrooms::checked_name(Some(&n.to_string())).map(Some),
        Some(_) => Err(Error::invalid_field(
            "name",
            "INVALID",
            "Not a valid string.",
        )),
    }
}

/// What a `POST` asks for: the name (required) and the parent, a
/// collection id (`INCORRECT_TYPE` when it is none).
fn new_collection(body: &Value) -> Result<NewCollection, Error> {
    if !body.is_object() {
        return Err(Error::invalid("INVALID_BODY", "Expected an object"));
    }
    let name = name_field(body)?
        .ok_or_else(|| Error::invalid_field("name", "REQUIRED", "This field is required."))?;
    let parent = match body.get("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(crate::input::parse_id(raw, "parent").map_err(|_| {
            Error::invalid_field(
                "parent",
                "INCORRECT_TYPE",
                "Incorrect type. Expected pk value, received str.",
            )
        })?),
        Some(other) => {
            let received = match other {
                Value::Bool(_) => "bool",
                Value::Number(_) => "int",
                Value::Array(_) => "list",
                _ => "dict",
            };
            return Err(Error::invalid_field(
                "parent",
                "INCORRECT_TYPE",
                format!("Incorrect type. Expected pk value, received {received}."),
            ));
        }
    };
    Ok(NewCollection { name, parent })
}

/// Kolibri's renderings of the refusals its serializers raise their own
/// way: a parent naming nothing (with the value sent), a duplicate name
/// (on `non_field_errors`), a parent of the wrong kind (a bare list).
fn rendered(error: Error, body: &Value) -> Response {
    match error {
        Error::Invalid {
            code: "DOES_NOT_EXIST",
            field: Some(field),
            ..
        } => {
            let sent = body.get(field).and_then(Value::as_str).unwrap_or_default();
            super::does_not_exist(field, sent).into_response()
        }
        Error::Invalid {
            code: "UNIQUE",
            message,
            ..
        } => KolibriError::from(Error::invalid_field("non_field_errors", "UNIQUE", message))
            .into_response(),
        Error::Invalid {
            code: "INVALID_HIERARCHY",
            message,
            ..
        } => (StatusCode::BAD_REQUEST, Json(json!([message]))).into_response(),
        other => KolibriError::from(other).into_response(),
    }
}

async fn create(app: &App, visitor: &Visitor, kind: OrganizationKind, body: &Value) -> Response {
    let actor = match visitor.actor(app).await {
        Ok(actor) => actor,
        Err(error) => return KolibriError::from(error).into_response(),
    };
    let input = new_collection(body);
    match classrooms::create(app, actor.as_ref(), kind, input, &visitor.ctx).await {
        Ok(view) => (StatusCode::CREATED, Json(collection_json(kind, &view))).into_response(),
        Err(error) => rendered(error, body),
    }
}

async fn update(
    app: &App,
    visitor: &Visitor,
    kind: OrganizationKind,
    id: &str,
    body: &Value,
    whole: bool,
) -> Response {
    let Ok(id) = crate::input::parse_id(id, "id") else {
        return KolibriError::from(Error::NotFound).into_response();
    };
    let actor = match visitor.actor(app).await {
        Ok(actor) => actor,
        Err(error) => return KolibriError::from(error).into_response(),
    };
    // A PUT sends the whole object: the name is required. The parent is
    // not changed here (a classroom stays in its facility).
    let name = name_field(body).and_then(|name| match name {
        None if whole => Err(Error::invalid_field(
            "name",
            "REQUIRED",
            "This field is required.",
        )),
        other => Ok(other),
    });
    match classrooms::rename(app, actor.as_ref(), kind, id, name, &visitor.ctx).await {
        Ok(view) => Json(collection_json(kind, &view)).into_response(),
        Err(error) => rendered(error, body),
    }
}

async fn delete(
    app: &App,
    visitor: &Visitor,
    kind: OrganizationKind,
    id: &str,
) -> Result<StatusCode, KolibriError> {
    let id = crate::input::parse_id(id, "id").map_err(|_| Error::NotFound)?;
    let actor = visitor.actor(app).await?;
    classrooms::delete(app, actor.as_ref(), kind, id, &visitor.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declares the routes of one kind of collection.
macro_rules! collection_routes {
    ($kind:expr, $path:literal, $item:literal, $tag_list:ident, $tag_create:ident, $tag_read:ident,
     $tag_put:ident, $tag_patch:ident, $tag_delete:ident, $what:literal, $shape:ty) => {
        #[doc = concat!("The ", $what, "s the caller may read, by id (`[]` for learners and anonymous callers); `?parent=` narrows them.")]
        #[utoipa::path(get, path = $path, tag = "kolibri", operation_id = stringify!($tag_list),
            params(ParentParams),
            security((), ("kolibri_session" = [])),
            responses((status = 200, description = "The list", body = Vec<$shape>), (status = 400, description = "`parent` names no collection"),
                (status = 403, description = "A session that ended")))]
        pub async fn $tag_list(
            State(app): State<App>,
            visitor: Visitor,
            Query(query): Query<ListQuery>,
        ) -> Result<Json<Value>, KolibriError> {
            list(&app, &visitor, $kind, &query).await
        }

        #[doc = concat!("Creates a ", $what, " (201); 400 for a bad field, a taken name or the wrong parent; 403 for callers who may not.")]
        #[utoipa::path(post, path = $path, tag = "kolibri", operation_id = stringify!($tag_create),
            request_body = KolibriCollectionBody,
            security(("kolibri_session" = [], "kolibri_csrf" = [])),
            responses((status = 201, description = "Created", body = $shape), (status = 400, description = "Refused"), (status = 403, description = "Not allowed")))]
        pub async fn $tag_create(
            State(app): State<App>,
            visitor: Visitor,
            Body(body, ..): Body<Value, Kolibri>,
        ) -> Response {
            create(&app, &visitor, $kind, &body).await
        }

        #[doc = concat!("One ", $what, " the caller may read; 404 otherwise.")]
        #[utoipa::path(get, path = $item, tag = "kolibri", operation_id = stringify!($tag_read),
            params(("id" = String, Path, description = "Its id (32 hex digits)", pattern = "^[0-9a-f]{32}$")),
            security((), ("kolibri_session" = [])),
            responses((status = 200, description = "It", body = $shape), (status = 403, description = "A session that ended"),
                (status = 404, description = "No such one, or not readable")))]
        pub async fn $tag_read(
            State(app): State<App>,
            visitor: Visitor,
            Path(id): Path<String>,
        ) -> Result<Json<Value>, KolibriError> {
            read(&app, &visitor, $kind, &id).await
        }

        #[doc = concat!("Renames a ", $what, " (the whole object: `name` required).")]
        #[utoipa::path(put, path = $item, tag = "kolibri", operation_id = stringify!($tag_put),
            params(("id" = String, Path, description = "Its id", pattern = "^[0-9a-f]{32}$")),
            request_body = KolibriRenameBody,
            security(("kolibri_session" = [], "kolibri_csrf" = [])),
            responses((status = 200, description = "It, renamed", body = $shape), (status = 400, description = "Bad or taken name"), (status = 403, description = "Not allowed"), (status = 404, description = "No such one")))]
        pub async fn $tag_put(
            State(app): State<App>,
            visitor: Visitor,
            Path(id): Path<String>,
            Body(body, ..): Body<Value, Kolibri>,
        ) -> Response {
            update(&app, &visitor, $kind, &id, &body, true).await
        }

        #[doc = concat!("Renames a ", $what, ".")]
        #[utoipa::path(patch, path = $item, tag = "kolibri", operation_id = stringify!($tag_patch),
            params(("id" = String, Path, description = "Its id", pattern = "^[0-9a-f]{32}$")),
            request_body = KolibriPartialRenameBody,
            security(("kolibri_session" = [], "kolibri_csrf" = [])),
            responses((status = 200, description = "It, renamed", body = $shape), (status = 400, description = "Bad or taken name"), (status = 403, description = "Not allowed"), (status = 404, description = "No such one")))]
        pub async fn $tag_patch(
            State(app): State<App>,
            visitor: Visitor,
            Path(id): Path<String>,
            Body(body, ..): Body<Value, Kolibri>,
        ) -> Response {
            update(&app, &visitor, $kind, &id, &body, false).await
        }

        #[doc = concat!("Deletes a ", $what, " (204) with its memberships and roles.")]
        #[utoipa::path(delete, path = $item, tag = "kolibri", operation_id = stringify!($tag_delete),
            params(("id" = String, Path, description = "Its id", pattern = "^[0-9a-f]{32}$")),
            security(("kolibri_session" = [], "kolibri_csrf" = [])),
            responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed"), (status = 404, description = "No such one")))]
        pub async fn $tag_delete(
            State(app): State<App>,
            visitor: Visitor,
            Path(id): Path<String>,
        ) -> Result<StatusCode, KolibriError> {
            delete(&app, &visitor, $kind, &id).await
        }
    };
}

collection_routes!(
    OrganizationKind::Classroom,
    "/api/auth/classroom",
    "/api/auth/classroom/{id}",
    kolibri_classrooms,
    kolibri_create_classroom,
    kolibri_classroom,
    kolibri_put_classroom,
    kolibri_patch_classroom,
    kolibri_delete_classroom,
    "classroom",
    KolibriClassroom
);

collection_routes!(
    OrganizationKind::LearnerGroup,
    "/api/auth/learnergroup",
    "/api/auth/learnergroup/{id}",
    kolibri_learner_groups,
    kolibri_create_learner_group,
    kolibri_learner_group,
    kolibri_put_learner_group,
    kolibri_patch_learner_group,
    kolibri_delete_learner_group,
    "learner group",
    KolibriLearnerGroup
);
