//! `/v1/iam/roles`, as Open Archiver answers it: the predefined roles and
//! those defined since, for callers whose policies allow it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::doc::{OaMessage, OaRole, OaRoleBody, OaRoleChanges};
use super::wire::role_json;
use super::{OpenArchiver, Signed, Wording, NO_PERMISSION};
use crate::http::extract::Ctx;
use crate::http::Body;
use crate::service::policy_roles::{self, RoleInput};
use crate::{App, Error};

/// Reading roles: a missing one is "Role not found."; a refusal the
/// default text.
const READING: Wording = Wording {
    not_found: "Role not found.",
    forbidden: NO_PERMISSION,
};

/// Defining roles needs `manage all` (`iam.requiresSuperAdminRole`).
const DEFINING: Wording = Wording {
    not_found: "Role not found.",
    forbidden: "Super Admin role is required to manage roles.",
};

fn input(body: &Value) -> RoleInput {
    RoleInput {
        name: body.get("name").and_then(Value::as_str).map(str::to_string),
        policies: body.get("policies").filter(|p| !p.is_null()).cloned(),
    }
}

fn id_of(raw: &str) -> Result<Uuid, Error> {
    Uuid::try_parse(raw).map_err(|_| Error::NotFound)
}

/// Every role.
#[utoipa::path(get, path = "/v1/iam/roles", tag = "openarchiver", operation_id = "openarchiver_roles",
    security(("openarchiver_bearer" = [])),
    responses((status = 200, description = "[{id, name, slug, policies, createdAt, updatedAt}]", body = Vec<OaRole>),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage), (status = 403, description = "Not allowed", body = OaMessage)))]
pub async fn list(State(app): State<App>, signed: Signed) -> Response {
    let listed = async {
        let actor = signed.actor(&app).await?;
        policy_roles::list(&app, &actor).await
    };
    READING.reply(
        listed
            .await
            .map(|roles| Json(json!(roles.iter().map(role_json).collect::<Vec<_>>()))),
    )
}

/// One role.
#[utoipa::path(get, path = "/v1/iam/roles/{id}", tag = "openarchiver", operation_id = "openarchiver_role",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 200, description = "The role", body = OaRole), (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage), (status = 403, description = "Not allowed", body = OaMessage),
        (status = 404, description = "Role not found.", body = OaMessage)))]
pub async fn read(State(app): State<App>, signed: Signed, Path(id): Path<String>) -> Response {
    let found = async {
        let actor = signed.actor(&app).await?;
        policy_roles::get(&app, &actor, id_of(&id)?).await
    };
    READING.reply(found.await.map(|role| Json(role_json(&role))))
}

/// Defines a role: 201; 400 "Missing required fields: name and policy." or
/// "Invalid policy statement: …"; 403 "Super Admin role is required to
/// manage roles." for callers who may not manage everything.
#[utoipa::path(post, path = "/v1/iam/roles", tag = "openarchiver", operation_id = "openarchiver_create_role",
    security(("openarchiver_bearer" = [])),
    request_body = OaRoleBody,
    responses((status = 201, description = "The role", body = OaRole), (status = 400, description = "Missing fields, a bad statement, a taken name", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage), (status = 403, description = "Not allowed", body = OaMessage)))]
pub async fn create(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Response {
    let created = async {
        let actor = signed.actor(&app).await?;
        policy_roles::create(&app, &actor, input(&body), &ctx).await
    };
    DEFINING.reply(
        created
            .await
            .map(|role| (StatusCode::CREATED, Json(role_json(&role)))),
    )
}

/// Changes a defined role (predefined ones: 400).
#[utoipa::path(put, path = "/v1/iam/roles/{id}", tag = "openarchiver", operation_id = "openarchiver_update_role",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The role's id")),
    request_body = OaRoleChanges,
    responses((status = 200, description = "The role", body = OaRole), (status = 400, description = "A bad statement, a taken name, or a predefined role", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage), (status = 403, description = "Not allowed", body = OaMessage), (status = 404, description = "Role not found.", body = OaMessage)))]
pub async fn update(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Response {
    let changed = async {
        let actor = signed.actor(&app).await?;
        policy_roles::update(&app, &actor, id_of(&id)?, input(&body), &ctx).await
    };
    DEFINING.reply(changed.await.map(|role| Json(role_json(&role))))
}

/// Deletes a defined role: 204 (predefined ones: 400).
#[utoipa::path(delete, path = "/v1/iam/roles/{id}", tag = "openarchiver", operation_id = "openarchiver_delete_role",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "A predefined role", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage), (status = 403, description = "Not allowed", body = OaMessage),
        (status = 404, description = "Role not found.", body = OaMessage)))]
pub async fn delete(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let deleted = async {
        let actor = signed.actor(&app).await?;
        policy_roles::delete(&app, &actor, id_of(&id)?, &ctx).await
    };
    DEFINING.reply(deleted.await.map(|()| StatusCode::NO_CONTENT))
}
