//! `/v1/auth/setup` and `/v1/auth/status`, as Open Archiver answers them,
//! and its login result (`/v1/auth/login` is shared with Backstack:
//! [`crate::surfaces::v1_login`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::{json, Value};

use super::doc::{OaMessage, OaNewUser, OaSignedIn, OaStatus};
use super::tokens::{Claims, Signer};
use super::wire::{roles_of, user_json};
use super::{OaError, OpenArchiver, SURFACE};
use crate::http::extract::Ctx;
use crate::http::Body;
use crate::input::{Email, Password, PersonName};
use crate::service::installation::{self, Setup};
use crate::service::sessions::{self, NewSession, Transport, Verified};
use crate::service::{RequestContext, UserView};
use crate::{App, Error};

/// A non-empty string field of a body, as JavaScript's truthiness reads it.
fn text(body: &Value, field: &str) -> Option<String> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn message(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// Starts the session of verified credentials and answers Open Archiver's
/// login result: `{accessToken, user}`.
async fn signed_in(
    app: &App,
    signer: &Signer,
    verified: &Verified,
    user: &UserView,
    ctx: &RequestContext,
) -> Result<Value, Error> {
    let new = NewSession {
        ttl: app.config.openarchiver_token_ttl,
        remember_me: false,
        surface: SURFACE,
        transport: Transport::Bearer,
        active: true,
        account: None,
    };
    let started = sessions::record_session(app, verified, new, ctx).await?;
    let expires_at = started.expires_at;
    login_answer(app, signer, verified, user, started.session_id, expires_at).await
}

/// Open Archiver's login result for a session started already:
/// `{accessToken, user}`, the token naming that session and expiring at
/// `expires_at`.
pub async fn login_answer(
    app: &App,
    signer: &Signer,
    verified: &Verified,
    user: &UserView,
    session_id: uuid::Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<Value, Error> {
    let roles = roles_of(app, user).await?;
    let claims = Claims {
        sub: verified.user_id.to_string(),
        email: user.email.clone(),
        roles: roles.iter().map(|r| r.name.clone()).collect(),
        iat: verified.auth_time.timestamp(),
        exp: expires_at.timestamp(),
        sid: session_id.to_string(),
        auth_ms: verified.auth_time.timestamp_millis(),
    };
    let token = signer.issue(&claims)?;
    Ok(json!({ "accessToken": token, "user": user_json(user, &roles) }))
}

/// Sets up a fresh installation: its first administrator (Super Admin),
/// signed in. 201 `{accessToken, user}`; 400 "Email, password, and name are
/// required"; 403 "Setup has already been completed." once any user
/// exists — also for all but one of concurrent setups.
#[utoipa::path(post, path = "/v1/auth/setup", tag = "openarchiver", operation_id = "openarchiver_setup",
    request_body = OaNewUser,
    responses(
        (status = 201, description = "{accessToken, user}", body = OaSignedIn),
        (status = 400, description = "A field missing, or an email or password eventauth refuses", body = OaMessage),
        (status = 403, description = "Setup has already been completed.", body = OaMessage),
    ))]
pub async fn setup(
    State(app): State<App>,
    Extension(signer): Extension<Arc<Signer>>,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<Value, OpenArchiver>,
) -> Result<Response, OaError> {
    let fields = ["email", "password", "first_name", "last_name"].map(|f| text(&body, f));
    let [Some(email), Some(password), Some(first_name), Some(last_name)] = fields else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            "Email, password, and name are required",
        ));
    };
    // Open Archiver checks nothing more; eventauth keeps its own rules for
    // an email and a new password (400 with the reason).
    let input = (|| {
        Ok(Setup {
            email: Email::parse(&email, "email")?,
            password: Password::new_password(password, "password")?,
            first_name: PersonName::parse(&first_name, "first_name")?,
            last_name: PersonName::parse(&last_name, "last_name")?,
        })
    })();
    let (user, verified) = match installation::setup(&app, input, &ctx).await {
        Ok(done) => done,
        Err(Error::Forbidden) => {
            return Ok(message(
                StatusCode::FORBIDDEN,
                "Setup has already been completed.",
            ))
        }
        Err(other) => return Err(other.into()),
    };
    let answer = signed_in(&app, &signer, &verified, &user, &ctx).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Whether the installation still needs its setup (what Open Archiver's
/// front end asks on every page load).
#[utoipa::path(get, path = "/v1/auth/status", tag = "openarchiver", operation_id = "openarchiver_status",
    responses((status = 200, description = "{needsSetup}", body = OaStatus)))]
pub async fn status(State(app): State<App>) -> Result<Json<Value>, OaError> {
    let needs_setup = installation::needs_setup(&app).await?;
    Ok(Json(json!({ "needsSetup": needs_setup })))
}
