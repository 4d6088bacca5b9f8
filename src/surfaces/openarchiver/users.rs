//! `/v1/users*`, as Open Archiver answers it: the signed-in user's own
//! profile and password, and user administration (list and read with
//! `read users`; create and change with `manage all`, `roleId` giving the
//! one role they hold). Never a password hash in an answer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::doc::{
    OaMessage, OaNewUser, OaPasswordChange, OaProfileChangesBody, OaUser, OaUserChangesBody,
};
use super::wire::{roles_of, user_json};
use super::{OaError, OpenArchiver, Signed, Wording, NO_PERMISSION};
use crate::http::extract::Ctx;
use crate::http::Body;
use crate::input::{Email, Password, PersonName};
use crate::service::policy_roles;
use crate::service::role_users::{self, NewUser, UserChanges};
use crate::service::{sessions, users, UserView};
use crate::{App, Error};

/// Reading users: `user.notFound`, the default refusal.
const READING: Wording = Wording {
    not_found: "User not found",
    forbidden: NO_PERMISSION,
};

/// Managing users (`user.requiresSuperAdminRole`).
const MANAGING: Wording = Wording {
    not_found: "User not found",
    forbidden: "Super Admin role is required to manage users.",
};

/// A string field as JavaScript's truthiness reads it.
fn text<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// A user with their role, as answers show them.
async fn shown(app: &App, user: &UserView) -> Result<Value, Error> {
    let roles = roles_of(app, user).await?;
    Ok(user_json(user, &roles))
}

/// The names a body changes, and a refused email change: eventauth does
/// not move an account to another address here (its email is the claim
/// others are refused by); the same address is no change.
fn changes(body: &Value, current: &UserView) -> Result<UserChanges, Error> {
    if let Some(email) = text(body, "email") {
        if !email.trim().eq_ignore_ascii_case(&current.email) {
            return Err(Error::invalid_field(
                "email",
                "EMAIL_CHANGE",
                "Changing a user's email address is not supported.",
            ));
        }
    }
    let name = |field: &'static str| {
        text(body, field)
            .map(|raw| PersonName::parse(raw, field))
            .transpose()
    };
    Ok(UserChanges {
        first_name: name("first_name")?,
        last_name: name("last_name")?,
        role: role_of(body)?,
    })
}

/// The role `roleId` names (none when absent or empty); 400 "Role not
/// found." for what cannot be a role's id.
fn role_of(body: &Value) -> Result<Option<Uuid>, Error> {
    match body.get("roleId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) if raw.is_empty() => Ok(None),
        Some(raw) => raw
            .as_str()
            .and_then(|raw| Uuid::try_parse(raw).ok())
            .map(Some)
            .ok_or_else(|| Error::invalid_field("roleId", "ROLE_NOT_FOUND", "Role not found.")),
    }
}

/// Every user, with their role.
#[utoipa::path(get, path = "/v1/users", tag = "openarchiver", operation_id = "openarchiver_users",
    security(("openarchiver_bearer" = [])),
    responses((status = 200, description = "[user]", body = Vec<OaUser>), (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
        (status = 403, description = "Not allowed to read users", body = OaMessage)))]
pub async fn list(State(app): State<App>, signed: Signed) -> Response {
    let listed = async {
        let actor = signed.actor(&app).await?;
        let every = role_users::list(&app, &actor).await?;
        // The roles read once for all of them.
        let roles = policy_roles::every_role(&app).await?;
        let shown_all: Vec<Value> = every
            .iter()
            .map(|user| user_json(user, &policy_roles::held_among(&roles, &user.roles)))
            .collect();
        Ok::<_, Error>(shown_all)
    };
    READING.reply(listed.await.map(|every| Json(Value::Array(every))))
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "openarchiver", operation_id = "openarchiver_user",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = OaUser), (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
        (status = 403, description = "Not allowed to read users", body = OaMessage),
        (status = 404, description = "User not found", body = OaMessage)))]
pub async fn read(State(app): State<App>, signed: Signed, Path(id): Path<String>) -> Response {
    let found = async {
        let actor = signed.actor(&app).await?;
        let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
        let user = role_users::get(&app, &actor, id).await?;
        shown(&app, &user).await
    };
    READING.reply(found.await.map(Json))
}

/// Creates a user, with the role `roleId` names: 201; 400 for a missing
/// field, an email or password eventauth refuses, a taken email, an
/// unknown role; 403 "Super Admin role is required to manage users.".
#[utoipa::path(post, path = "/v1/users", tag = "openarchiver", operation_id = "openarchiver_create_user",
    security(("openarchiver_bearer" = [])),
    request_body = OaNewUser,
    responses((status = 201, description = "The user", body = OaUser), (status = 400, description = "A bad field, a taken email, an unknown role", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
        (status = 403, description = "Super Admin role is required to manage users.", body = OaMessage)))]
pub async fn create(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Response {
    let created = async {
        let actor = signed.actor(&app).await?;
        let input = (|| {
            let fields = ["email", "password", "first_name", "last_name"].map(|f| text(&body, f));
            let [Some(email), Some(password), Some(first_name), Some(last_name)] = fields else {
                return Err(Error::invalid(
                    "MISSING_FIELDS",
                    "Email, password, and name are required",
                ));
            };
            Ok(NewUser {
                email: Email::parse(email, "email")?,
                password: Password::new_password(password.to_string(), "password")?,
                first_name: PersonName::parse(first_name, "first_name")?,
                last_name: PersonName::parse(last_name, "last_name")?,
            })
        })();
        let role = role_of(&body);
        let input = input.and_then(|input| Ok((input, role?)));
        let user = role_users::create(&app, &actor, input, &ctx).await?;
        shown(&app, &user).await
    };
    MANAGING.reply(created.await.map(|user| (StatusCode::CREATED, Json(user))))
}

/// Changes a user's names and role (`roleId`): 200; 400 for a bad name, an
/// unknown role, another email; 403 "Super Admin role is required to
/// manage users."; 404 "User not found".
#[utoipa::path(put, path = "/v1/users/{id}", tag = "openarchiver", operation_id = "openarchiver_update_user",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = OaUserChangesBody,
    responses((status = 200, description = "The user", body = OaUser), (status = 400, description = "A bad field or an unknown role", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
        (status = 403, description = "Super Admin role is required to manage users.", body = OaMessage), (status = 404, description = "User not found", body = OaMessage)))]
pub async fn update(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Response {
    let changed = async {
        let actor = signed.actor(&app).await?;
        let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
        let user =
            role_users::update(&app, &actor, id, |current| changes(&body, current), &ctx).await?;
        shown(&app, &user).await
    };
    MANAGING.reply(changed.await.map(Json))
}

/// Deletes a user: 204; 400 for the only user; 403 "Super Admin role is
/// required to manage users."; 404 "User not found".
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "openarchiver", operation_id = "openarchiver_delete_user",
    security(("openarchiver_bearer" = [])), params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "The only user", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
        (status = 403, description = "Super Admin role is required to manage users.", body = OaMessage), (status = 404, description = "User not found", body = OaMessage)))]
pub async fn delete(
    State(app): State<App>,
    signed: Signed,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Response {
    let deleted = async {
        let actor = signed.actor(&app).await?;
        let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
        role_users::delete(&app, &actor, id, &ctx).await
    };
    MANAGING.reply(deleted.await.map(|()| StatusCode::NO_CONTENT))
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/users/profile", tag = "openarchiver", operation_id = "openarchiver_profile",
    security(("openarchiver_bearer" = [])),
    responses(
        (status = 200, description = "The user", body = OaUser),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
    ))]
pub async fn profile(
    State(app): State<App>,
    Signed(caller): Signed,
) -> Result<Json<Value>, OaError> {
    let user = users::find(&app, caller.user_id).await?;
    Ok(Json(shown(&app, &user).await?))
}

/// Everything held about the signed-in user, as JSON (eventauth addition:
/// their right of access; see `GET /user/profile/export`).
#[utoipa::path(get, path = "/v1/users/profile/export", tag = "openarchiver", operation_id = "openarchiver_profile_export",
    security(("openarchiver_bearer" = [])),
    responses(
        (status = 200, description = "The user's data", body = Object),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage),
    ))]
pub async fn export(State(app): State<App>, signed: Signed) -> Result<Json<Value>, OaError> {
    let actor = signed.actor(&app).await?;
    Ok(Json(
        crate::service::personal_export::own(&app, &actor).await?,
    ))
}

/// Changes the signed-in user's names (their email stays; another one:
/// 400).
#[utoipa::path(patch, path = "/v1/users/profile", tag = "openarchiver", operation_id = "openarchiver_update_profile",
    security(("openarchiver_bearer" = [])),
    request_body = OaProfileChangesBody,
    responses((status = 200, description = "The user", body = OaUser), (status = 400, description = "A bad name, another email", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage)))]
pub async fn update_profile(
    State(app): State<App>,
    Signed(caller): Signed,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Result<Json<Value>, OaError> {
    let current = users::find(&app, caller.user_id).await?;
    // One's own role is not one's to choose: `roleId` is not read here.
    let mut body = body;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("roleId");
    }
    let wanted = changes(&body, &current)?;
    let user = role_users::rename_self(&app, caller.user_id, wanted, &ctx).await?;
    Ok(Json(shown(&app, &user).await?))
}

/// Changes the signed-in user's password: 200 `{"message": "Password
/// updated successfully"}`; 400 "Invalid current password"; their other
/// sessions end.
#[utoipa::path(post, path = "/v1/users/profile/password", tag = "openarchiver", operation_id = "openarchiver_password",
    security(("openarchiver_bearer" = [])),
    request_body = OaPasswordChange,
    responses((status = 200, description = "Password updated successfully", body = OaMessage),
        (status = 400, description = "Invalid current password, or a new password eventauth refuses", body = OaMessage),
        (status = 401, description = "Unauthorized: No token provided / Invalid token", body = OaMessage)))]
pub async fn change_password(
    State(app): State<App>,
    Signed(caller): Signed,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Result<Response, OaError> {
    let (Some(current), Some(new)) = (text(&body, "currentPassword"), text(&body, "newPassword"))
    else {
        return Err(
            Error::invalid("MISSING_FIELDS", "Current and new password are required").into(),
        );
    };
    let current = Password::presented(current.to_string(), "currentPassword")?;
    let new = Password::new_password(new.to_string(), "newPassword")?;
    match sessions::change_password(&app, caller, &current, &new, &ctx).await {
        Ok(()) => Ok(Json(json!({ "message": "Password updated successfully" })).into_response()),
        Err(Error::Invalid {
            code: "INVALID_PASSWORD",
            ..
        }) => Err(Error::invalid("INVALID_PASSWORD", "Invalid current password").into()),
        Err(other) => Err(other.into()),
    }
}
