//! `POST /v1/auth/login`: one endpoint that Open Archiver's and
//! Backstack's clients both call, answering what each expects at once.
//!
//! Both systems put their login at the same path with different bodies and
//! answers, and one service serves both: the request may name the user by
//! `email` (Open Archiver) or `username` (Backstack: a username or an
//! email; eventauth's accounts are named by email); the answer is the union
//! of both shapes — Open Archiver's `accessToken` and `user`, and
//! Backstack's session object (`auth`, `account`, `access`, and
//! `select_account` while an account is to be chosen) with the
//! `BackstackJWT` cookie. The one `user` object carries both systems'
//! fields (they share `id` and `email`; each client reads its own). Errors
//! carry Open Archiver's `message` and Backstack's `error` object.
//!
//! One login is one session: a cookie session (Backstack's idle timeout,
//! waiting for its account when the user is in several), which the Open
//! Archiver token names too — ending it (either surface's logout, a
//! password change, a revocation) ends both at once.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use axum_extra::extract::cookie::CookieJar;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::backstack::{self, session as backstack_session};
use super::openarchiver::{self, auth as oa_auth, tokens::Signer};
use crate::http::cookies::SecureCookies;
use crate::http::extract::Ctx;
use crate::http::{ApiError, Body, ErrorShape};
use crate::input::{Email, Password};
use crate::service::member_accounts;
use crate::service::sessions::cookie::{self as cookie_sessions, Account};
use crate::service::sessions::{self, Attempt, Identifier};
use crate::service::UserView;
use crate::{App, Error};

/// The path both surfaces share.
const PATH: &str = "/v1/auth/login";

/// The union error shape: `{"message", "error": {type, code, message,
/// fields}}` (and `status` on a 429, as Open Archiver's limiter says it).
#[derive(Debug)]
pub struct Union;

impl ErrorShape for Union {
    fn render(error: &Error) -> Response {
        let (status, message, field) = backstack::described(error);
        let message = match error {
            Error::InvalidCredentials => "Invalid credentials".to_string(),
            _ => message,
        };
        let field = field.as_ref().map(|(f, m)| (f.as_str(), m.as_str()));
        let mut body = json!({
            "message": message,
            "error": backstack::error_object(status, &message, field),
        });
        if status == StatusCode::TOO_MANY_REQUESTS {
            body["status"] = json!(429);
        }
        (status, Json(body)).into_response()
    }
}

/// The shared login, as registered in [`crate::surfaces::all`].
#[derive(Debug)]
pub struct V1LoginSurface;

impl crate::surfaces::Surface for V1LoginSurface {
    fn name(&self) -> &'static str {
        backstack::SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "v1-login",
            "`POST /v1/auth/login`, shared by the Open Archiver and Backstack surfaces: \
             both shapes in one answer",
        )
    }

    fn owns(&self, path: &str) -> bool {
        path == PATH
    }

    fn routes(&self, app: &App) -> OpenApiRouter<App> {
        OpenApiRouter::new()
            .routes(routes!(login))
            .layer(Extension(Arc::new(Signer::again(app))))
            .layer(axum::middleware::from_fn_with_state(
                app.clone(),
                openarchiver::rate_limit::limit,
            ))
    }

    fn not_found(&self) -> Response {
        Union::render(&Error::NotFound)
    }

    fn method_not_allowed<'a>(
        &'a self,
        _app: &'a App,
        _request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        // Express (Open Archiver) answers an unrouted method as an unknown
        // path.
        Box::pin(async move { Union::render(&Error::NotFound) })
    }

    fn panicked(&self) -> Response {
        Union::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A non-empty string field.
fn text(body: &Value, field: &str) -> Option<String> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `POST /v1/auth/login` by `email` (Open Archiver's clients).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct V1LoginByEmail {
    /// The account's email.
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    password: String,
}

/// `POST /v1/auth/login` by `username` (Backstack's clients: the
/// account's email).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct V1LoginByUsername {
    /// The account's email.
    #[schema(min_length = 1)]
    username: String,
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    password: String,
}

/// `POST /v1/auth/login` body: `email` or `username`, and `password`.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum V1LoginRequest {
    /// Open Archiver's.
    Email(V1LoginByEmail),
    /// Backstack's.
    Username(V1LoginByUsername),
}

/// Both systems' login answers in one: Open Archiver's `{accessToken,
/// user}` and Backstack's session object (one `user` with both systems'
/// fields).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct V1LoginAnswer {
    /// Open Archiver's token.
    #[serde(rename = "accessToken")]
    access_token: String,
    /// Both systems' user fields.
    user: serde_json::Map<String, Value>,
    /// Backstack: acting in an account.
    auth: bool,
    /// Backstack: the account, or null.
    #[schema(required)]
    account: Option<serde_json::Map<String, Value>>,
    /// Backstack: `{}`.
    access: Value,
    /// Backstack: the accounts to choose from, while one is to be chosen.
    #[schema(nullable = false)]
    select_account: Option<serde_json::Map<String, Value>>,
}

/// Signs in by `email` or `username` (an email) and password: 200 with
/// both systems' answers and the `BackstackJWT` cookie; 400 "Email and
/// password are required"; 401 "Invalid credentials" alike for an unknown
/// user and a wrong password; 429 while throttled.
#[utoipa::path(post, path = "/v1/auth/login", tag = "v1-login", operation_id = "v1_login",
    request_body = V1LoginRequest,
    responses(
        (status = 200, description = "{accessToken, user, auth, account, access, select_account?} and the BackstackJWT cookie", body = V1LoginAnswer),
        (status = 400, description = "Email and password are required"),
        (status = 401, description = "Invalid credentials"),
        (status = 429, description = "Throttled; see Retry-After"),
    ))]
pub async fn login(
    State(app): State<App>,
    Extension(signer): Extension<Arc<Signer>>,
    Ctx(ctx): Ctx,
    SecureCookies(secure): SecureCookies,
    jar: CookieJar,
    Body(body, ..): Body<Value, Union>,
) -> Result<Response, ApiError<Union>> {
    let name = text(&body, "email").or_else(|| text(&body, "username"));
    let (Some(name), Some(password)) = (name, text(&body, "password")) else {
        let field = if body.get("username").is_some() {
            "username"
        } else {
            "email"
        };
        let missing = if text(&body, "password").is_none() {
            "password"
        } else {
            field
        };
        return Err(
            Error::invalid_field(missing, "REQUIRED", "Email and password are required").into(),
        );
    };
    // A name no account could have fails as an unknown one does.
    let email = Email::parse(&name, "email").map_err(|_| Error::InvalidCredentials)?;
    let password = Password::presented(password, "password")?;
    let identifier = Identifier::Email(email);
    let attempt = Attempt {
        identifier: &identifier,
        password: Some(&password),
        passwordless: false,
    };
    let verified = sessions::verify_login(&app, attempt, &ctx)
        .await?
        .map_err(|_| Error::InvalidCredentials)?;
    let user = UserView::from_aggregate(&verified.user.state).ok_or(Error::InvalidCredentials)?;
    let accounts = member_accounts::of_user(&app, &verified.user.state).await?;
    let account = match accounts.as_slice() {
        [] => Account::None,
        [only] => Account::Chosen(only.id),
        _ => Account::ToChoose,
    };
    let started =
        cookie_sessions::start_in(&app, &verified, backstack::SURFACE, account, &ctx).await?;
    let token_ends =
        verified.auth_time + chrono::Duration::seconds(app.config.openarchiver_token_ttl as i64);
    let mut answer = oa_auth::login_answer(
        &app,
        &signer,
        &verified,
        &user,
        started.session_id,
        token_ends,
    )
    .await?;
    let principal = cookie_sessions::CookiePrincipal {
        user_id: verified.user_id,
        session_id: started.session_id,
        expires_at: started.expires_at,
        active: !matches!(account, Account::ToChoose),
        account: match account {
            Account::Chosen(id) => Some(id),
            _ => None,
        },
    };
    let session = backstack_session::session_object(&app, &principal, &verified.user.state).await?;
    for (key, value) in session {
        match (key.as_str(), answer.get_mut("user")) {
            // One user object with both systems' fields.
            ("user", Some(Value::Object(user))) => {
                if let Value::Object(fields) = value {
                    user.extend(fields);
                }
            }
            _ => {
                answer[key] = value;
            }
        }
    }
    let jar = jar.add(backstack::session_cookie(secure, started.secret));
    Ok((jar, Json(answer)).into_response())
}
