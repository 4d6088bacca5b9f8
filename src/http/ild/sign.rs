//! `/sign/*`: register, login, check, refresh, logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use super::{Ild, IldError, IldUser};
use crate::http::{Auth, Body, Ctx};
use crate::input::{Email, Password, PersonName};
use crate::service::accounts::{self, Registration};
use crate::service::sessions::{self, Issued, Login};
use crate::{App, Error};

/// The refresh-token cookie.
const REFRESH_COOKIE: &str = "refreshToken";
/// Where non-browser clients send the refresh token.
const REFRESH_HEADER: &str = "x-refresh-token";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    email: Option<String>,
    password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

crate::redacted_debug!(RegisterRequest {});

fn required(value: Option<String>, field: &'static str) -> Result<String, Error> {
    value.ok_or_else(|| Error::invalid_field(field, "REQUIRED", format!("{field} is required")))
}

/// `POST /sign/register` → 201 with the user.
pub async fn register(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<RegisterRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let input = Registration {
        email: Email::parse(&required(body.email, "email")?, "email")?,
        password: Password::new_password(required(body.password, "password")?, "password")?,
        first_name: PersonName::parse(&required(body.first_name, "firstName")?, "firstName")?,
        last_name: PersonName::parse(&required(body.last_name, "lastName")?, "lastName")?,
        roles: Vec::new(),
    };
    let user = accounts::register(&app, input, &ctx).await?;
    Ok((StatusCode::CREATED, Json(IldUser::from(user))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    remember_me: bool,
}
crate::redacted_debug!(LoginRequest { remember_me });

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    token: String,
    refresh_token: String,
    expires_at: String,
    user: IldUser,
}

/// `POST /sign/login` → `{token, refreshToken, user}` and the refresh cookie.
pub async fn login(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    Body(body, ..): Body<LoginRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let input = Login {
        email: Email::parse(&required(body.email, "email")?, "email")?,
        password: Password::presented(required(body.password, "password")?, "password")?,
        remember_me: body.remember_me,
        surface: "ild",
    };
    let logged_in = sessions::login(&app, input, &ctx).await?;
    let jar = jar.add(refresh_cookie(&app, &logged_in.issued));
    let body = LoginResponse {
        token: logged_in.issued.access.token,
        refresh_token: logged_in.issued.refresh_token,
        expires_at: logged_in.issued.access.expires_at.to_rfc3339(),
        user: logged_in.user.into(),
    };
    Ok((jar, Json(body)))
}

fn refresh_cookie(app: &App, issued: &Issued) -> Cookie<'static> {
    let max_age = (issued.session_expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    Cookie::build((REFRESH_COOKIE, issued.refresh_token.clone()))
        .http_only(true)
        .secure(app.config.cookie_secure)
        .same_site(SameSite::Strict)
        .path("/sign")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

/// `GET /sign/check` → the token's status (no database round trip).
pub async fn check(Auth(principal, ..): Auth<Ild>) -> impl IntoResponse {
    Json(serde_json::json!({
        "authenticated": true,
        "user": { "id": principal.user_id, "roles": principal.roles },
        "sessionId": principal.session_id,
        "expiresAt": chrono::DateTime::from_timestamp(principal.claims.exp, 0).map(|t| t.to_rfc3339()),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshResponse {
    token: String,
    refresh_token: String,
    expires_at: String,
}

/// `GET /sign/refresh`: the refresh token from the cookie, or from
/// `X-Refresh-Token` for non-browser clients → `{token, refreshToken}`.
pub async fn refresh(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<impl IntoResponse, IldError> {
    let presented = headers
        .get(REFRESH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| jar.get(REFRESH_COOKIE).map(|c| c.value().to_string()))
        .ok_or(Error::Unauthenticated)?;
    let issued = sessions::refresh(&app, presented.trim(), &ctx).await?;
    let jar = jar.add(refresh_cookie(&app, &issued));
    let body = RefreshResponse {
        token: issued.access.token,
        refresh_token: issued.refresh_token,
        expires_at: issued.access.expires_at.to_rfc3339(),
    };
    Ok((jar, Json(body)))
}

/// `GET /sign/logout`: ends the session; its tokens stop working at once.
pub async fn logout(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    Auth(principal, ..): Auth<Ild>,
) -> Result<impl IntoResponse, IldError> {
    sessions::logout(&app, &principal, &ctx).await?;
    let jar = jar.remove(Cookie::build(REFRESH_COOKIE).path("/sign"));
    Ok((jar, Json(serde_json::json!({ "message": "Logged out" }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_never_print_their_passwords() {
        let login: LoginRequest =
            serde_json::from_str(r#"{"email":"a@b.co","password":"hunter22"}"#).expect("parses");
        let register: RegisterRequest =
            serde_json::from_str(r#"{"email":"a@b.co","password":"hunter22"}"#).expect("parses");
        let printed = format!("{login:?}{register:?}");
        assert!(!printed.contains("hunter22"), "{printed}");
    }
}
