//! `/api/auth`: signing in (a password, or a one-time token from single
//! sign-on), extending and ending a token; the auth method and sign-out
//! URL; `/api/auth/jwt`, where the identity provider posts its SAML
//! response.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::doc::{
    DoubtfireExtendBody, DoubtfireMethod, DoubtfireSamlPost, DoubtfireSignIn, DoubtfireSignInForm,
    DoubtfireSignedIn, DoubtfireSignoutUrl, DoubtfireToken,
};
use super::params::{invalid, Params};
use super::users::{user_json, Caller};
use super::{error, DfError, NO_AUTHENTICATION, SURFACE, TOKEN_EXPIRED};
use crate::access::{grants_of, SystemRole};
use crate::input::{Email, Password};
use crate::service::sessions::header_token::{self, Checked, NewToken};
use crate::service::sessions::{verify_login, Attempt, Identifier, Verified};
use crate::service::single_sign_on;
use crate::{App, Error};

/// Seconds a token lives: `remember` keeps a Student two weeks and a
/// Tutor one, others (and anyone without it) two hours — configurable.
pub fn lifetime(app: &App, role: SystemRole, remember: bool) -> u64 {
    let config = &app.config;
    match (remember, role) {
        (true, SystemRole::Student) => config.doubtfire_remember_student_ttl,
        (true, SystemRole::Tutor) => config.doubtfire_remember_tutor_ttl,
        _ => config.doubtfire_token_ttl,
    }
}

/// How long the one-time token single sign-on hands the browser lives.
const ONE_TIME_TTL: u64 = 30;

/// A 419 with Doubtfire's text.
pub fn unauthenticated(message: &str) -> Response {
    error(
        StatusCode::from_u16(419).unwrap_or(StatusCode::UNAUTHORIZED),
        message,
    )
}

#[utoipa::path(post, path = "/api/auth", tag = "doubtfire", operation_id = "doubtfire_sign_in",
    request_body(content(
        (DoubtfireSignIn = "application/json"),
        (DoubtfireSignInForm = "application/x-www-form-urlencoded"),
    )),
    responses((status = 201, description = "`{user, auth_token}`", body = DoubtfireSignedIn),
        (status = 400, description = "`username is missing, password is missing` (with single sign-on: `auth_token is missing`)"),
        (status = 401, description = "Invalid email or password."),
        (status = 419, description = "A one-time token that is expired or invalid")))]
pub async fn sign_in(State(app): State<App>, params: Params) -> Result<Response, DfError> {
    // With single sign-on the password route does not exist (Doubtfire
    // mounts it only without): the one-time token is the way in.
    if app.saml.is_some() {
        params.require(&["username", "auth_token"])?;
        return exchange(&app, &params).await;
    }
    params.require(&["username", "password"])?;
    let remember = params.flag("remember")?;
    let (Some(username), Some(password)) = (params.text("username"), params.text("password"))
    else {
        return Err(invalid("The request must contain the user username and password.").into());
    };
    // Usernames are emails here; anything else names nobody.
    let email = Email::parse(&username.to_lowercase(), "username")
        .map_err(|_| Error::InvalidCredentials)?;
    let password =
        Password::presented(password, "password").map_err(|_| Error::InvalidCredentials)?;
    let identifier = Identifier::Email(email);
    let attempt = Attempt {
        identifier: &identifier,
        password: Some(&password),
        passwordless: false,
    };
    let verified = verify_login(&app, attempt, &params.ctx)
        .await?
        .map_err(|_| Error::InvalidCredentials)?;
    signed_in(&app, &verified, remember, &params).await
}

/// Exchanges a one-time (or live) token for a new token, remembered.
async fn exchange(app: &App, params: &Params) -> Result<Response, DfError> {
    let (Some(token), Some(username)) = (params.token(), params.username()) else {
        return Ok(unauthenticated(NO_AUTHENTICATION));
    };
    let named = |user: &aggregates::User| goes_by(user, &username);
    let verified = match header_token::exchange(app, &token, SURFACE, named, &params.ctx).await? {
        Ok(verified) => verified,
        Err(Checked::Invalid | Checked::Live(_)) => return Ok(unauthenticated(NO_AUTHENTICATION)),
        Err(Checked::Expired) => return Ok(unauthenticated(TOKEN_EXPIRED)),
    };
    signed_in(app, &verified, true, params).await
}

/// 201 `{user, auth_token}` for a new token of `verified`.
async fn signed_in(
    app: &App,
    verified: &Verified,
    remember: bool,
    params: &Params,
) -> Result<Response, DfError> {
    let role = SystemRole::of(&grants_of(&verified.user.state));
    let token = NewToken {
        ttl: lifetime(app, role, remember),
        remember_me: remember,
        surface: SURFACE,
        active: true,
    };
    let started = header_token::start(app, verified, token, &params.ctx).await?;
    let user = user_json(app, &verified.user, &params.ctx).await?;
    let body = json!({ "user": user, "auth_token": started.secret });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Whether `username` (any case) is the user's.
pub fn goes_by(user: &aggregates::User, username: &str) -> bool {
    user.email().expose().eq_ignore_ascii_case(username.trim())
}

#[utoipa::path(put, path = "/api/auth", tag = "doubtfire", operation_id = "doubtfire_extend",
    request_body(
        description = "Optional; `remember` may also come as a form field or a query parameter",
        content((Option<DoubtfireExtendBody> = "application/json")),
    ),
    security(("doubtfire_token" = [], "doubtfire_username" = [])),
    responses((status = 200, description = "`{auth_token}`: the same token, its expiry extended while live", body = DoubtfireToken),
        (status = 400, description = "remember is invalid"),
        (status = 404, description = "Invalid token/username. or Invalid token.")))]
pub async fn extend(State(app): State<App>, params: Params) -> Result<Response, DfError> {
    let remember = params.flag("remember")?;
    let (Some(token), Some(username)) = (params.token(), params.username()) else {
        return Ok(error(StatusCode::NOT_FOUND, "Invalid token/username."));
    };
    let invalid = || error(StatusCode::NOT_FOUND, "Invalid token.");
    let principal = match header_token::check(&app, &token, SURFACE).await? {
        Checked::Live(principal) => principal,
        // Doubtfire answers an expired token with itself, unextended: the
        // client's next request meets the 419.
        Checked::Expired => return Ok(Json(json!({ "auth_token": token })).into_response()),
        Checked::Invalid => return Ok(invalid()),
    };
    let user = app.actors.state(&app, principal.user_id).await?;
    if !goes_by(&user.state, &username) {
        return Ok(invalid());
    }
    let role = SystemRole::of(&grants_of(&user.state));
    header_token::extend(
        &app,
        &principal,
        lifetime(&app, role, remember),
        &params.ctx,
    )
    .await?;
    Ok(Json(json!({ "auth_token": token })).into_response())
}

#[utoipa::path(delete, path = "/api/auth", tag = "doubtfire", operation_id = "doubtfire_sign_out",
    security((), ("doubtfire_token" = [], "doubtfire_username" = [])),
    responses((status = 204, description = "Signed out (also for an unknown token)")))]
pub async fn sign_out(State(app): State<App>, params: Params) -> Result<Response, DfError> {
    if let (Some(token), Some(username)) = (params.token(), params.username()) {
        if let Checked::Live(principal) = header_token::check(&app, &token, SURFACE).await? {
            let user = app.actors.state(&app, principal.user_id).await?;
            if !goes_by(&user.state, &username) {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
        }
        header_token::end(&app, &token, SURFACE, &params.ctx).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/auth/method", tag = "doubtfire", operation_id = "doubtfire_auth_method",
    responses((status = 200, description = "`{method, redirect_to}`: `database`, or `saml` with the identity provider's login URL", body = DoubtfireMethod)))]
pub async fn method(State(app): State<App>) -> Json<Value> {
    Json(match &app.saml {
        Some(saml) => {
            json!({ "method": "saml", "redirect_to": saml.login_url(chrono::Utc::now()) })
        }
        None => json!({ "method": "database", "redirect_to": null }),
    })
}

#[utoipa::path(get, path = "/api/auth/signout_url", tag = "doubtfire", operation_id = "doubtfire_signout_url",
    responses((status = 200, description = "`{auth_signout_url}`: where the front end goes after signing out, or null", body = DoubtfireSignoutUrl)))]
pub async fn signout_url(State(app): State<App>) -> Json<Value> {
    let url = app
        .config
        .doubtfire_signout_url
        .as_deref()
        .or_else(|| app.saml.as_ref().and_then(|saml| saml.signout_url()));
    Json(json!({ "auth_signout_url": url }))
}

#[utoipa::path(post, path = "/api/auth/jwt", tag = "doubtfire", operation_id = "doubtfire_saml_response",
    request_body(content((DoubtfireSamlPost = "application/x-www-form-urlencoded"))),
    responses((status = 303, description = "To the front end's `#/sign_in?authToken=…&username=…` (a 30-second one-time token)"),
        (status = 400, description = "SAMLResponse is missing"),
        (status = 401, description = "Invalid SAML response."),
        (status = 404, description = "Single sign-on is not configured")))]
pub async fn saml_response(State(app): State<App>, params: Params) -> Result<Response, DfError> {
    let Some(saml) = app.saml.clone() else {
        return Err(Error::NotFound.into());
    };
    params.require(&["SAMLResponse"])?;
    let refused = || error(StatusCode::UNAUTHORIZED, "Invalid SAML response.");
    let encoded = params.text("SAMLResponse").unwrap_or_default();
    let assertion = match saml.verify(&encoded, chrono::Utc::now()) {
        Ok(assertion) => assertion,
        Err(rejected) => {
            tracing::info!(reason = %rejected, "SAML response refused");
            return Ok(refused());
        }
    };
    let verified =
        match single_sign_on::sign_on(&app, &assertion, saml.create_users, &params.ctx).await? {
            Ok(verified) => verified,
            Err(why) => {
                tracing::info!(reason = ?why, "SAML sign-on refused");
                return Ok(refused());
            }
        };
    let one_time = NewToken {
        ttl: ONE_TIME_TTL,
        remember_me: true,
        surface: SURFACE,
        active: false,
    };
    // The one-time token counts from now, not from the assertion's check.
    let verified = Verified {
        auth_time: chrono::Utc::now(),
        ..verified
    };
    let started = header_token::start(&app, &verified, one_time, &params.ctx).await?;
    let username = verified.user.state.email().expose().to_string();
    let query = serde_urlencoded::to_string([
        ("authToken", started.secret.as_str()),
        ("username", username.as_str()),
    ])
    .unwrap_or_default();
    let base = app.config.doubtfire_frontend_url.trim_end_matches('/');
    let location = format!("{base}/#/sign_in?{query}");
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}

/// The caller behind a request's token, or the 419 Doubtfire answers.
pub async fn caller(app: &App, params: &Params) -> Result<Result<Caller, Response>, Error> {
    let (Some(token), Some(username)) = (params.token(), params.username()) else {
        return Ok(Err(unauthenticated(NO_AUTHENTICATION)));
    };
    let principal = match header_token::check(app, &token, SURFACE).await? {
        Checked::Live(principal) => principal,
        // Doubtfire also deletes the token here, so a second request reads
        // "No authentication details…"; a refusal writes nothing here, so
        // the expiry is said each time (its clients act on the 419 alone).
        Checked::Expired => return Ok(Err(unauthenticated(TOKEN_EXPIRED))),
        Checked::Invalid => return Ok(Err(unauthenticated(NO_AUTHENTICATION))),
    };
    let actor = crate::access::actor(app, principal.user_id, principal.session_id).await?;
    if !goes_by(&actor.user.state, &username) {
        return Ok(Err(unauthenticated(NO_AUTHENTICATION)));
    }
    Ok(Ok(Caller { actor }))
}
