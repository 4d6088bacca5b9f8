//! `/api/auth/session`: log in, keep alive, log out, and the anonymous
//! session, as Kolibri 0.19.5's `SessionViewSet` answers them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::doc::{KolibriLoginAnswer, KolibriSession};
use super::{
    hex_id, session_cookie, visitor_cookie, Kolibri, KolibriError, Visitor, SESSION_COOKIE,
};
use crate::http::extract::Body;
use crate::service::sessions::{self, cookie, Refused, Verified};
use crate::service::{facilities, RequestContext};
use crate::{App, Error};

/// Kolibri's session object for a signed-in user (`FacilityUser.session_data`).
#[derive(Debug, Clone)]
struct SessionData {
    /// Username.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// User id.
    pub user_id: Uuid,
    /// `superuser` first when one, then role kinds; `learner` without any.
    pub kind: Vec<String>,
    /// Device permission to manage content (superusers have it).
    pub can_manage_content: bool,
    /// The user's facility.
    pub facility_id: Option<Uuid>,
}

/// The session object of `user`.
fn session_data(user_id: Uuid, user: &aggregates::User) -> SessionData {
    let mut kind = Vec::new();
    if user.is_superuser() {
        kind.push("superuser".to_string());
    }
    for role in user.collection_roles() {
        let name = role.kind.kolibri().to_string();
        if !kind.contains(&name) {
            kind.push(name);
        }
    }
    if kind.is_empty() {
        kind.push("learner".to_string());
    }
    SessionData {
        username: user.username().expose().clone(),
        full_name: user.full_name().expose().clone(),
        user_id,
        kind,
        can_manage_content: user.is_superuser(),
        facility_id: user.facility(),
    }
}

/// Checks Kolibri credentials, failures as Kolibri says them: 400
/// `NOT_FOUND` (username), `PASSWORD_NOT_SPECIFIED`, `MISSING_PASSWORD`,
/// or 401 `INVALID_CREDENTIALS`.
async fn verify(
    app: &App,
    facility: Uuid,
    username: &str,
    password: &str,
    ctx: &RequestContext,
) -> Result<Verified, Error> {
    let refused = match sessions::verify_in_facility(app, facility, username, password, ctx).await?
    {
        Ok(verified) => return Ok(verified),
        Err(refused) => refused,
    };
    Err(match refused {
        Refused::UnknownIdentifier => {
            Error::invalid_field("username", "NOT_FOUND", "Username not found.")
        }
        Refused::NoPasswordSet => Error::invalid_field(
            "password",
            "PASSWORD_NOT_SPECIFIED",
            "Username is valid, but password needs to be set before login.",
        ),
        Refused::MissingPassword => Error::invalid_field(
            "password",
            "MISSING_PASSWORD",
            "Username is valid, but password is missing.",
        ),
        Refused::WrongPassword => Error::InvalidCredentials,
    })
}

/// `POST /api/auth/session` body.
#[derive(Deserialize, ToSchema)]
#[schema(as = KolibriLoginRequest)]
pub struct LoginRequest {
    /// Username in the facility.
    #[serde(default)]
    username: Option<String>,
    /// Password (empty for passwordless learners).
    #[serde(default)]
    #[schema(format = Password)]
    password: Option<String>,
    /// The facility's id (32 hex digits); the default facility when absent
    /// or empty.
    #[serde(default)]
    #[schema(pattern = "^([0-9a-f]{32})?$")]
    facility: Option<String>,
    /// With `auth_token`: log in as this user (32 hex digits).
    #[serde(default)]
    user_id: Option<String>,
    /// A token from `eventauth facility-user login-token` (15 minutes).
    #[serde(default)]
    auth_token: Option<String>,
}

crate::redacted_debug!(LoginRequest {
    username,
    facility,
    user_id
});

/// `?prevalidate=true`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    prevalidate: Option<String>,
}

/// The session object: `{id: "current", username, full_name, user_id,
/// kind, can_manage_content, facility_id, full_facility_import,
/// server_time, app_context}`; anonymous: `kind: ["anonymous"]`,
/// `user_id: null`, no `can_manage_content`.
fn session_json(data: Option<&SessionData>, default_facility: Option<Uuid>) -> Value {
    let server_time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match data {
        Some(data) => json!({
            "username": data.username,
            "full_name": data.full_name,
            "user_id": hex_id(data.user_id),
            "kind": data.kind,
            "can_manage_content": data.can_manage_content,
            "facility_id": data.facility_id.map(hex_id),
            "full_facility_import": true,
            "id": "current",
            "server_time": server_time,
            "app_context": false,
        }),
        None => json!({
            "username": "",
            "full_name": "",
            "user_id": null,
            "facility_id": default_facility.map(hex_id),
            "kind": ["anonymous"],
            "full_facility_import": true,
            "id": "current",
            "server_time": server_time,
            "app_context": false,
        }),
    }
}

/// Logs in with a username (and password) in a facility, or with
/// `{user_id, auth_token}`. Sets the
/// `kolibri` session cookie (HttpOnly) and a `kolibri_csrftoken` bound to
/// the new session. With `?prevalidate=true` only checks the credentials
/// and answers `{full_name}`.
#[utoipa::path(post, path = "/api/auth/session", tag = "kolibri", operation_id = "kolibri_login",
    request_body = LoginRequest,
    params(("prevalidate" = Option<String>, Query, description = "`true`: check only, answer {full_name}")),
    responses(
        (status = 200, description = "The session object (`{full_name}` only with prevalidate); cookies `kolibri` and `kolibri_csrftoken` set", body = KolibriLoginAnswer),
        (status = 400, description = "NOT_FOUND (username), MISSING_PASSWORD, PASSWORD_NOT_SPECIFIED, or an unknown facility"),
        (status = 401, description = "INVALID_CREDENTIALS"),
        (status = 429, description = "Too many failures; see Retry-After"),
    ))]
pub async fn login(
    State(app): State<App>,
    Query(query): Query<LoginQuery>,
    visitor: Visitor,
    jar: CookieJar,
    Body(body, ..): Body<LoginRequest, Kolibri>,
) -> Result<impl IntoResponse, KolibriError> {
    let facility = match body.facility.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => {
            // Django REST framework's primary-key field errors: bare strings.
            let refuse =
                |message: String| (StatusCode::BAD_REQUEST, Json(json!([message]))).into_response();
            let Ok(id) = crate::input::parse_id(raw, "facility") else {
                return Ok(refuse(
                    "Incorrect type. Expected pk value, received str.".to_string(),
                ));
            };
            // Its settings are read once, by the credential check.
            if !facilities::is_facility(&app, id).await? {
                let shown: String = raw.chars().take(64).collect();
                return Ok(refuse(format!(
                    "Invalid pk \"{shown}\" - object does not exist."
                )));
            }
            id
        }
        _ => facilities::default_facility(&app).await?.ok_or_else(|| {
            Error::invalid_field(
                "facility",
                "DOES_NOT_EXIST",
                "There is no facility on this device.",
            )
        })?,
    };
    let by_token = match (body.user_id.as_deref(), body.auth_token.as_deref()) {
        (Some(user_id), Some(token)) => {
            sessions::verify_auth_token(&app, facility, user_id, token).await?
        }
        _ => None,
    };
    let verified = match by_token {
        Some(verified) => verified,
        None => {
            let username = body.username.unwrap_or_default();
            let password = body.password.unwrap_or_default();
            verify(&app, facility, &username, &password, &visitor.ctx).await?
        }
    };
    let data = session_data(verified.user_id, &verified.user.state);
    if query.prevalidate.as_deref() == Some("true") {
        return Ok((jar, Json(json!({ "full_name": data.full_name }))).into_response());
    }
    let jar = super::sign_in(&app, &verified, &visitor, jar).await?;
    Ok((jar, Json(session_json(Some(&data), None))).into_response())
}

/// Keeps the session alive (sliding its idle timeout; recorded at most a
/// few times per timeout, not per request) and answers the session
/// object; for an anonymous visitor the anonymous session (and a
/// `visitor_id` cookie).
#[utoipa::path(put, path = "/api/auth/session/{id}", tag = "kolibri", operation_id = "kolibri_keep_alive",
    params(("id" = String, Path, description = "`current` (any value names the caller's session)")),
    security((), ("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 200, description = "The session object", body = KolibriSession),
        (status = 403, description = "Signed in but without a valid X-CSRFToken"),
    ))]
pub async fn keep_alive(
    State(app): State<App>,
    visitor: Visitor,
    jar: CookieJar,
) -> Result<impl IntoResponse, KolibriError> {
    match visitor.principal {
        Some(principal) => {
            cookie::keep_alive(&app, &principal, &visitor.ctx).await?;
            let actor = crate::access::actor(&app, principal.user_id, principal.session_id).await?;
            let data = session_data(actor.user_id, &actor.user.state);
            // Django sends the session cookie again when the session was
            // touched.
            let secret = jar
                .get(SESSION_COOKIE)
                .map(|c| c.value().to_string())
                .unwrap_or_default();
            let jar = jar.add(session_cookie(visitor.secure, secret));
            Ok((jar, Json(session_json(Some(&data), None))))
        }
        None => {
            let visitor_id = visitor_cookie(visitor.secure, &jar);
            let jar = jar.add(visitor_id);
            let facility = facilities::default_facility(&app).await?;
            Ok((jar, Json(session_json(None, facility))))
        }
    }
}

/// Logs out: the session ends (on every instance at once) and the cookie
/// is cleared. Answers `[]`, signed in or not.
#[utoipa::path(delete, path = "/api/auth/session/{id}", tag = "kolibri", operation_id = "kolibri_logout",
    params(("id" = String, Path, description = "`current` (any value names the caller's session)")),
    security((), ("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 200, description = "`[]`", body = Vec<String>),
        (status = 403, description = "Signed in but without a valid X-CSRFToken"),
    ))]
pub async fn logout(
    State(app): State<App>,
    visitor: Visitor,
    jar: CookieJar,
) -> Result<impl IntoResponse, KolibriError> {
    if let Some(principal) = &visitor.principal {
        cookie::end(&app, principal, &visitor.ctx).await?;
    }
    let jar = jar.remove(axum_extra::extract::cookie::Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Json(json!([]))))
}
