//! The session object and the routes that answer it: choosing an account,
//! reading the session, logging out.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::doc::{BackstackLoginAccount, BackstackSession};
use super::{origin_allowed, session_cookie, Backstack, SESSION_COOKIE, SURFACE};
use crate::http::cookies::SecureCookies;
use crate::http::extract::Ctx;
use crate::http::{ApiError, Body};
use crate::service::member_accounts::{self, AccountView};
use crate::service::sessions::cookie::{self as cookie_sessions, CookiePrincipal};
use crate::service::{RequestContext, UserView};
use crate::{App, Error};

/// An error rendered the Backstack way.
pub type BsError = ApiError<Backstack>;

/// Who is calling: the session behind the `BackstackJWT` cookie (also one
/// still waiting for its account), the request's context, whether cookies
/// set in answer are `Secure`. An unsafe request from a foreign origin is
/// refused here (403), before any handler runs.
#[derive(Debug)]
pub struct Visitor {
    /// The session, if any.
    pub principal: Option<CookiePrincipal>,
    /// The request's context.
    pub ctx: RequestContext,
    /// `Secure` cookies.
    pub secure: bool,
    jar: CookieJar,
}

impl FromRequestParts<App> for Visitor {
    type Rejection = BsError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET && !origin_allowed(app, &parts.headers) {
            return Err(Error::Forbidden.into());
        }
        let Ctx(ctx) = Ctx::from_request_parts(parts, app)
            .await
            .unwrap_or_else(|never| match never {});
        let SecureCookies(secure) = SecureCookies::of(parts, app);
        let jar = CookieJar::from_headers(&parts.headers);
        let principal = match jar.get(SESSION_COOKIE) {
            Some(cookie) => {
                cookie_sessions::resolve_any(app, cookie.value(), Some(SURFACE)).await?
            }
            None => None,
        };
        Ok(Self {
            principal,
            ctx,
            secure,
            jar,
        })
    }
}

/// The user in a session object: Backstack's fields.
pub fn user_fields(user: &UserView, roles: &[String]) -> Map<String, Value> {
    let name = format!("{} {}", user.first_name, user.last_name);
    Map::from_iter([
        ("id".to_string(), json!(user.id)),
        ("username".to_string(), json!(user.email)),
        ("name".to_string(), json!(name.trim())),
        ("email".to_string(), json!(user.email)),
        ("avatar".to_string(), Value::Null),
        ("roles".to_string(), json!(roles)),
    ])
}

/// The session object with nobody signed in.
pub fn signed_out() -> Map<String, Value> {
    Map::from_iter([
        ("auth".to_string(), json!(false)),
        ("account".to_string(), Value::Null),
        ("user".to_string(), Value::Null),
        ("access".to_string(), json!({})),
    ])
}

/// The session object of a live session: `auth` once it acts in an account
/// its user (still) belongs to; while one is to be chosen among several,
/// `select_account` with their titles and the one chosen last. `user` is
/// Backstack's user with the roles held in the account.
pub async fn session_object(
    app: &App,
    principal: &CookiePrincipal,
    state: &aggregates::User,
) -> Result<Map<String, Value>, Error> {
    let user = UserView::from_aggregate(state).ok_or(Error::Unauthenticated)?;
    let user = &user;
    let accounts = member_accounts::of_user(app, state).await?;
    let current: Option<&AccountView> = principal
        .account
        .filter(|_| principal.active)
        .and_then(|id| accounts.iter().find(|a| a.id == id));
    let mut object = signed_out();
    object.insert("auth".into(), json!(current.is_some()));
    let roles = current.map(|a| a.roles.clone()).unwrap_or_default();
    object.insert("user".into(), Value::Object(user_fields(user, &roles)));
    if let Some(account) = current {
        object.insert(
            "account".into(),
            json!({ "id": account.id, "title": account.title }),
        );
    } else if accounts.len() > 1 {
        let titles: Map<String, Value> = accounts
            .iter()
            .map(|a| (a.id.to_string(), json!(a.title)))
            .collect();
        let last = member_accounts::last_chosen(app, principal.user_id)
            .await?
            .filter(|id| accounts.iter().any(|a| a.id == *id));
        object.insert(
            "select_account".into(),
            json!({ "accounts": titles, "last_login": last }),
        );
    }
    Ok(object)
}

async fn answer(app: &App, principal: Option<&CookiePrincipal>) -> Result<Value, Error> {
    let Some(principal) = principal else {
        return Ok(Value::Object(signed_out()));
    };
    // The caller's live state (cached per instance), not a read-model query.
    let state = app.actors.state(app, principal.user_id).await?;
    Ok(Value::Object(
        session_object(app, principal, &state.state).await?,
    ))
}

/// Activates one of the user's accounts in the pending (or current)
/// session: the session object with `auth: true`; 400 without
/// `account_id`; 401 without a session; 404 for an account the user is
/// not a member of (nothing recorded).
#[utoipa::path(post, path = "/v1/auth/login-account", tag = "backstack", operation_id = "backstack_login_account",
    request_body = BackstackLoginAccount,
    security(("backstack_session" = [])),
    responses((status = 200, description = "The session object", body = BackstackSession), (status = 400, description = "account_id missing"),
        (status = 401, description = "Not logged in"), (status = 404, description = "Not one of the user's accounts")))]
pub async fn login_account(
    State(app): State<App>,
    visitor: Visitor,
    Body(body, ..): Body<Value, Backstack>,
) -> Result<Json<Value>, BsError> {
    let account = body
        .get("account_id")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::invalid_field("account_id", "REQUIRED", "An account must be selected")
        })?;
    let Some(principal) = &visitor.principal else {
        return Err(Error::Unauthenticated.into());
    };
    let account = Uuid::try_parse(account).map_err(|_| Error::NotFound)?;
    let chosen = member_accounts::choose(&app, principal, account, &visitor.ctx).await?;
    Ok(Json(answer(&app, Some(&chosen)).await?))
}

/// The current session object (`auth: false` and nulls without one); a
/// live session's idle timeout slides.
#[utoipa::path(get, path = "/v1/auth/session", tag = "backstack", operation_id = "backstack_session",
    security((), ("backstack_session" = [])),
    responses((status = 200, description = "The session object", body = BackstackSession)))]
pub async fn current(State(app): State<App>, visitor: Visitor) -> Result<Json<Value>, BsError> {
    if let Some(principal) = &visitor.principal {
        cookie_sessions::keep_alive(&app, principal, &visitor.ctx).await?;
    }
    Ok(Json(answer(&app, visitor.principal.as_ref()).await?))
}

async fn logout(app: App, visitor: Visitor) -> Result<Response, BsError> {
    if let Some(principal) = &visitor.principal {
        cookie_sessions::end(&app, principal, &visitor.ctx).await?;
    }
    let jar = visitor
        .jar
        .clone()
        .add(session_cookie(visitor.secure, String::new()));
    Ok((StatusCode::OK, jar, Json(Value::Object(signed_out()))).into_response())
}

/// Logs out (what Backstack's clients call): the session ends at once; the
/// session object with `auth: false`, user and account null.
#[utoipa::path(get, path = "/v1/auth/logout", tag = "backstack", operation_id = "backstack_logout_get",
    security((), ("backstack_session" = [])),
    responses((status = 200, description = "The session object, signed out", body = BackstackSession)))]
pub async fn logout_get(State(app): State<App>, visitor: Visitor) -> Result<Response, BsError> {
    logout(app, visitor).await
}

/// Logs out (what Backstack's documents say).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "backstack", operation_id = "backstack_logout_post",
    security((), ("backstack_session" = [])),
    responses((status = 200, description = "The session object, signed out", body = BackstackSession),
        (status = 403, description = "A foreign origin")))]
pub async fn logout_post(State(app): State<App>, visitor: Visitor) -> Result<Response, BsError> {
    logout(app, visitor).await
}
