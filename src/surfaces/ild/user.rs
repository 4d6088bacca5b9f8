//! `/user/*`: profile and password.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Ild, IldCommunity, IldError, IldErrorBody, IldMessage, IldPublicUser, IldUser};
use crate::http::{Acting, Auth, Body, Ctx};
use crate::input::{parse_id, required, Password};
use crate::service::{communities, sessions, users};
use crate::{App, Error};

/// `PUT /user/changepassword` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    /// The current password.
    #[schema(required, nullable = false, format = Password, min_length = 1, max_length = 1024)]
    current_password: Option<String>,
    /// The new password, 8 characters to 1 KiB.
    #[schema(required, nullable = false, format = Password, min_length = 8, max_length = 1024)]
    new_password: Option<String>,
}
crate::redacted_debug!(ChangePasswordRequest {});

/// Changes the caller's password; every other session of theirs ends.
#[utoipa::path(put, path = "/user/changepassword", tag = "ild", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed", body = IldMessage),
        (status = 400, description = "Wrong current password, or an invalid new one", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 429, description = "Too many wrong current passwords; see Retry-After", body = IldErrorBody),
    ))]
pub async fn change_password(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
    Body(body, ..): Body<ChangePasswordRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let current = Password::presented(
        required(body.current_password, "currentPassword")?,
        "currentPassword",
    )?;
    let new = Password::new_password(required(body.new_password, "newPassword")?, "newPassword")?;
    let caller = sessions::Caller {
        user_id: principal.user_id,
        session_id: principal.session_id,
    };
    sessions::change_password(&app, caller, &current, &new, &ctx).await?;
    Ok(Json(IldMessage::new("Password changed")))
}

/// The caller's own profile.
#[utoipa::path(get, path = "/user/profile", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = IldUser),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn profile(
    State(app): State<App>,
    Auth(principal, ..): Auth<Ild>,
) -> Result<impl IntoResponse, IldError> {
    Ok(Json(
        super::find_with_communities(&app, principal.user_id).await?,
    ))
}

/// Anyone's public profile: public fields only.
#[utoipa::path(get, path = "/user/profile/{userId}", tag = "ild",
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "The public profile", body = IldPublicUser),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn public_profile(
    State(app): State<App>,
    Path(user_id): Path<String>,
) -> Result<impl IntoResponse, IldError> {
    let user_id = parse_id(&user_id, "userId")?;
    let user = users::find(&app, user_id).await?;
    Ok(Json(IldPublicUser::from(user)))
}

/// Marks the caller's tutorial as finished (idempotent).
#[utoipa::path(put, path = "/user/tutorial", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded", body = IldMessage),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn tutorial(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
) -> Result<Json<IldMessage>, IldError> {
    users::complete_tutorial(&app, &principal, &ctx).await?;
    Ok(Json(IldMessage::new("Tutorial completed")))
}

/// One of the caller's live sessions.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldSession {
    id: String,
    /// The API surface it was started through.
    surface: String,
    /// Client IP at login, where known.
    ip: Option<String>,
    /// User agent at login, where known.
    user_agent: Option<String>,
    started_at: String,
    /// Last refresh.
    last_seen_at: String,
    expires_at: String,
    /// Whether this is the session of the token used for this request.
    current: bool,
}

/// The caller's live sessions, newest first (an eventauth addition to the
/// ILD surface).
#[utoipa::path(get, path = "/user/sessions", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions", body = [IldSession]),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn my_sessions(
    State(app): State<App>,
    Auth(principal, ..): Auth<Ild>,
) -> Result<Json<Vec<IldSession>>, IldError> {
    let sessions = sessions::list_own(&app, &principal).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| IldSession {
                id: s.session_id.to_string(),
                current: s.session_id == principal.session_id,
                surface: s.surface,
                ip: s.client_ip,
                user_agent: s.user_agent,
                started_at: s.started_at.to_rfc3339(),
                last_seen_at: s.last_seen_at.to_rfc3339(),
                expires_at: s.expires_at.to_rfc3339(),
            })
            .collect(),
    ))
}

/// Ends one of the caller's sessions; its tokens stop working at once.
#[utoipa::path(delete, path = "/user/sessions/{sessionId}", tag = "ild", security(("bearer" = [])),
    params(("sessionId" = uuid::Uuid, Path, description = "One of the caller's sessions")),
    responses(
        (status = 200, description = "Ended", body = IldMessage),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 404, description = "Not a session of the caller", body = IldErrorBody),
    ))]
pub async fn end_session(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
    Path(session_id): Path<String>,
) -> Result<Json<IldMessage>, IldError> {
    let session_id = parse_id(&session_id, "sessionId")?;
    sessions::end_own(&app, &principal, session_id, &ctx).await?;
    Ok(Json(IldMessage::new("Session ended")))
}

/// Signs the caller out everywhere else: every session but this one ends.
#[utoipa::path(delete, path = "/user/sessions", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every other session ended", body = IldMessage),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn end_other_sessions(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
) -> Result<Json<IldMessage>, IldError> {
    sessions::end_others(&app, &principal, &ctx).await?;
    Ok(Json(IldMessage::new("Signed out everywhere else")))
}

/// The caller joins a community (idempotent).
#[utoipa::path(patch, path = "/user/community/join/{communityId}", tag = "ild", security(("bearer" = [])),
    params(("communityId" = uuid::Uuid, Path, description = "The community's id (UUID)")),
    responses(
        (status = 200, description = "A member (now or already)", body = IldMessage),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 404, description = "No such community", body = IldErrorBody),
    ))]
pub async fn join_community(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
    Path(community_id): Path<String>,
) -> Result<Json<IldMessage>, IldError> {
    let community_id = parse_id(&community_id, "communityId")?;
    communities::join(&app, &principal, community_id, &ctx).await?;
    Ok(Json(IldMessage::new("Joined the community")))
}

/// `POST /admin/communities` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCommunityRequest {
    /// Display name, 1–100 characters (no control characters).
    #[schema(
        example = "Makers",
        required,
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: Option<String>,
    /// Free text, up to 2000 characters (no NUL).
    #[schema(max_length = 2000, pattern = "^[^\\x00]*$")]
    description: Option<String>,
}

/// Creates a community (administrators; an eventauth addition to the ILD
/// surface, which has no endpoint for it).
#[utoipa::path(post, path = "/admin/communities", tag = "ild", security(("bearer" = [])),
    request_body = CreateCommunityRequest,
    responses(
        (status = 201, description = "Created", body = IldCommunity),
        (status = 400, description = "Invalid name or description", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
    ))]
pub async fn create_community(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Body(body, ..): Body<CreateCommunityRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let name = required(body.name, "name")?;
    let community =
        communities::create(&app, &actor, &name, body.description.as_deref(), &ctx).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(IldCommunity::from(community)),
    ))
}

/// `GET /user` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// 1-based page (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000000)]
    page: Option<String>,
    /// Users per page, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Case-insensitive substring of the email, first or last name (no
    /// control characters; at most 254 characters).
    #[param(max_length = 254, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    search: Option<String>,
    /// `createdAt` (default), `updatedAt`, `email`, `firstName`, `lastName`;
    /// `-` in front for descending. Ties are broken by id, so pages never
    /// overlap.
    #[param(value_type = Option<UserSort>, inline)]
    sort: Option<String>,
}

/// How `GET /user` sorts (documentation of `sort`; the handler reads the
/// string).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum UserSort {
    #[schema(rename = "createdAt")]
    CreatedAt,
    #[schema(rename = "-createdAt")]
    CreatedAtDescending,
    #[schema(rename = "updatedAt")]
    UpdatedAt,
    #[schema(rename = "-updatedAt")]
    UpdatedAtDescending,
    #[schema(rename = "email")]
    Email,
    #[schema(rename = "-email")]
    EmailDescending,
    #[schema(rename = "firstName")]
    FirstName,
    #[schema(rename = "-firstName")]
    FirstNameDescending,
    #[schema(rename = "lastName")]
    LastName,
    #[schema(rename = "-lastName")]
    LastNameDescending,
}

/// An administrative action on a user (documentation of the `{action}`
/// path segment; the handler reads the string).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum AdminAction {
    #[schema(rename = "disable")]
    Disable,
    #[schema(rename = "enable")]
    Enable,
    #[schema(rename = "end-sessions")]
    EndSessions,
    #[schema(rename = "reset-password")]
    ResetPassword,
}

/// All users, a page at a time (administrators). The body is the array the
/// ILD document gives; `X-Total-Count`, `X-Page` and `X-Page-Size` tell
/// where it stands.
#[utoipa::path(get, path = "/user", tag = "ild", security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = [IldUser]),
        (status = 400, description = "Bad page, pageSize, search or sort", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
    ))]
pub async fn list_users(
    State(app): State<App>,
    Acting(actor, ..): Acting<Ild>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<impl IntoResponse, IldError> {
    let query: UserListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| Error::invalid("INVALID_QUERY", "The query string is malformed"))?;
    let query = users::ListQuery::parse(
        query.page.as_deref(),
        query.page_size.as_deref(),
        query.search.as_deref(),
        query.sort.as_deref(),
    )?;
    let (page, total) = users::list(&app, &actor, &query).await?;
    let headers = [
        ("x-total-count", total.to_string()),
        ("x-page", query.page.to_string()),
        ("x-page-size", query.page_size.to_string()),
    ];
    Ok((
        headers,
        Json(page.into_iter().map(IldUser::from).collect::<Vec<_>>()),
    ))
}

/// One user (administrators), with their communities.
#[utoipa::path(get, path = "/user/{userId}", tag = "ild", security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user's id (UUID)")),
    responses(
        (status = 200, description = "The user", body = IldUser),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn get_user(
    State(app): State<App>,
    Acting(actor, ..): Acting<Ild>,
    Path(user_id): Path<String>,
) -> Result<Json<IldUser>, IldError> {
    let user_id = parse_id(&user_id, "userId")?;
    let user = users::find_as(&app, &actor, user_id).await?;
    Ok(Json(super::with_communities(&app, user).await?))
}

/// An administrative action on a user (administrators; eventauth addition):
/// `disable` (logins refused, every session ends), `enable`, `end-sessions`,
/// `reset-password` (mails a reset link and ends every session).
#[utoipa::path(post, path = "/admin/users/{userId}/{action}", tag = "ild", security(("bearer" = [])),
    params(
        ("userId" = uuid::Uuid, Path, description = "The user's id (UUID)"),
        ("action" = inline(AdminAction), Path, description = "disable, enable, end-sessions or reset-password"),
    ),
    responses(
        (status = 200, description = "Done (or nothing to do)", body = IldMessage),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user or action", body = IldErrorBody),
    ))]
pub async fn admin_action(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path((user_id, action)): Path<(String, String)>,
) -> Result<Json<IldMessage>, IldError> {
    use crate::service::admin::Action;
    let (action, done) = match action.as_str() {
        "disable" => (Action::Disable, "User disabled"),
        "enable" => (Action::Enable, "User enabled"),
        "end-sessions" => (Action::EndSessions, "Every session ended"),
        "reset-password" => (
            Action::ForcePasswordReset,
            "Reset link sent; every session ended",
        ),
        _ => return Err(crate::service::admin::no_such_action(&actor).into()),
    };
    act_on(&app, &ctx, &actor, &user_id, action, done).await
}

/// One administrative action on the user `raw_id` names; `done` is the
/// confirmation.
async fn act_on(
    app: &App,
    ctx: &crate::service::RequestContext,
    actor: &crate::access::Actor,
    raw_id: &str,
    action: crate::service::admin::Action,
    done: &str,
) -> Result<Json<IldMessage>, IldError> {
    super::admin_act(app, ctx, actor, raw_id, action).await?;
    Ok(Json(IldMessage::new(done)))
}

/// Grants a role (administrators; eventauth addition). Roles are 1–32 of
/// `a-z 0-9 _ -`; they reach access tokens at the next login or refresh.
#[utoipa::path(put, path = "/admin/users/{userId}/roles/{role}", tag = "ild", security(("bearer" = [])),
    params(
        ("userId" = uuid::Uuid, Path, description = "The user's id (UUID)"),
        ("role" = String, Path, description = "The role, e.g. admin: 1–32 of `a-z 0-9 _ -`", pattern = "^[a-z0-9_-]{1,32}$"),
    ),
    responses(
        (status = 200, description = "Granted (or already held)", body = IldMessage),
        (status = 400, description = "Not a UUID, or not a valid role", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn grant_role(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path((user_id, role)): Path<(String, String)>,
) -> Result<Json<IldMessage>, IldError> {
    let action = crate::service::admin::Action::GrantRole(role);
    act_on(&app, &ctx, &actor, &user_id, action, "Role granted").await
}

/// Revokes a role (administrators; eventauth addition).
#[utoipa::path(delete, path = "/admin/users/{userId}/roles/{role}", tag = "ild", security(("bearer" = [])),
    params(
        ("userId" = uuid::Uuid, Path, description = "The user's id (UUID)"),
        ("role" = String, Path, description = "The role", pattern = "^[a-z0-9_-]{1,32}$"),
    ),
    responses(
        (status = 200, description = "Revoked (or not held)", body = IldMessage),
        (status = 400, description = "Not a UUID", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 403, description = "Not an administrator", body = IldErrorBody),
        (status = 404, description = "No such user", body = IldErrorBody),
    ))]
pub async fn revoke_role(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Acting(actor, ..): Acting<Ild>,
    Path((user_id, role)): Path<(String, String)>,
) -> Result<Json<IldMessage>, IldError> {
    let action = crate::service::admin::Action::RevokeRole(role);
    act_on(&app, &ctx, &actor, &user_id, action, "Role revoked").await
}
