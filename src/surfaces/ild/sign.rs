//! `/sign/*`: register, login, check, refresh, logout.

use crate::http::cookies::SecureCookies;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Ild, IldError, IldErrorBody, IldMessage, IldUser};
use crate::http::{Auth, Body, Ctx};
use crate::input::{required, Email, Password, PersonName};
use crate::service::accounts::{self, Registration};
use crate::service::sessions::{self, Issued, Login};
use crate::{App, Error};

/// The refresh-token cookie.
const REFRESH_COOKIE: &str = "refreshToken";
/// Where non-browser clients send the refresh token.
const REFRESH_HEADER: &str = "x-refresh-token";

/// `POST /sign/register` body. All fields are required; they are optional
/// here only so that a missing one gets a message naming it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// Email address (≤ 254 characters).
    #[schema(example = "ada@example.com", required, nullable = false, format = Email, max_length = 254)]
    email: Option<String>,
    /// Password, 8 characters to 1 KiB.
    #[schema(example = "correct horse", required, nullable = false, format = Password, min_length = 8, max_length = 1024)]
    password: Option<String>,
    /// Given name (1–100 characters).
    #[schema(
        example = "Ada",
        required,
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    first_name: Option<String>,
    /// Family name (1–100 characters).
    #[schema(
        example = "Lovelace",
        required,
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    last_name: Option<String>,
}

crate::redacted_debug!(RegisterRequest {});

/// Creates an account.
#[utoipa::path(post, path = "/sign/register", tag = "ild", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = IldUser),
        (status = 400, description = "Invalid input, or the email is taken", body = IldErrorBody),
        (status = 413, description = "Body over 64 KiB", body = IldErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = IldErrorBody),
        (status = 503, description = "Password hashing is saturated; see Retry-After", body = IldErrorBody),
    ))]
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

/// `POST /sign/login` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    /// Email address.
    #[schema(example = "ada@example.com", required, nullable = false, format = Email, max_length = 254)]
    email: Option<String>,
    /// Password (≤ 1 KiB).
    #[schema(example = "correct horse", required, nullable = false, format = Password, min_length = 1, max_length = 1024)]
    password: Option<String>,
    /// A longer session (30 days instead of 7 by default).
    #[serde(default)]
    remember_me: bool,
}
crate::redacted_debug!(LoginRequest { remember_me });

/// A successful login. The refresh token also comes as an HttpOnly cookie
/// `refreshToken` (path `/sign`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    token: String,
    refresh_token: String,
    expires_at: String,
    user: IldUser,
}

/// Logs in with email and password.
#[utoipa::path(post, path = "/sign/login", tag = "ild", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the refresh token is also set as an HttpOnly cookie", body = LoginResponse),
        (status = 400, description = "Invalid input", body = IldErrorBody),
        (status = 401, description = "Wrong email or password (never says which)", body = IldErrorBody),
        (status = 429, description = "Too many failures for this email or client; see Retry-After", body = IldErrorBody),
        (status = 503, description = "Password hashing is saturated; see Retry-After", body = IldErrorBody),
    ))]
pub async fn login(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    SecureCookies(secure): SecureCookies,
    jar: CookieJar,
    Body(body, ..): Body<LoginRequest, Ild>,
) -> Result<impl IntoResponse, IldError> {
    let input = Login {
        identifier: Email::parse(&required(body.email, "email")?, "email")?.into(),
        password: Password::presented(required(body.password, "password")?, "password")?,
        remember_me: body.remember_me,
        surface: super::SURFACE,
    };
    let logged_in = sessions::login(&app, input, &ctx).await?;
    let jar = jar.add(refresh_cookie(secure, &logged_in.issued));
    let body = LoginResponse {
        token: logged_in.issued.access.token,
        refresh_token: logged_in.issued.refresh_token,
        expires_at: logged_in.issued.access.expires_at.to_rfc3339(),
        user: logged_in.user.into(),
    };
    Ok((jar, Json(body)))
}

/// The refresh token as an HttpOnly cookie (`Secure` as
/// [`crate::http::cookies`] decides).
fn refresh_cookie(secure: bool, issued: &Issued) -> Cookie<'static> {
    let max_age = (issued.session_expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    Cookie::build((REFRESH_COOKIE, issued.refresh_token.clone()))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .path("/sign")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

/// The status of a valid access token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResponse {
    /// Always true (an invalid token gets 401).
    authenticated: bool,
    /// Who.
    user: CheckedUser,
    /// The session.
    session_id: uuid::Uuid,
    /// When the access token expires.
    expires_at: Option<String>,
}

/// The user behind a checked token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedUser {
    /// User id.
    id: uuid::Uuid,
    /// Roles at token issue.
    roles: Vec<String>,
}

/// Checks the bearer token (no database round trip).
#[utoipa::path(get, path = "/sign/check", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid and its session live", body = CheckResponse),
        (status = 401, description = "Missing, invalid, expired or revoked", body = IldErrorBody),
    ))]
pub async fn check(Auth(principal, ..): Auth<Ild>) -> impl IntoResponse {
    Json(CheckResponse {
        authenticated: true,
        user: CheckedUser {
            id: principal.user_id,
            roles: principal.roles,
        },
        session_id: principal.session_id,
        expires_at: chrono::DateTime::from_timestamp(principal.claims.exp, 0)
            .map(|t| t.to_rfc3339()),
    })
}

/// New tokens. The refresh token is also set as the `refreshToken` cookie.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    token: String,
    refresh_token: String,
    expires_at: String,
}

/// Exchanges the refresh token (cookie `refreshToken`, or header
/// `X-Refresh-Token` for non-browser clients) for new tokens. The presented
/// token is rotated; presenting it again after the grace period revokes the
/// session.
#[utoipa::path(get, path = "/sign/refresh", tag = "ild",
    params(("X-Refresh-Token" = Option<String>, Header, description = "The refresh token, when not sent as the cookie")),
    responses(
        (status = 200, description = "New tokens", body = RefreshResponse),
        (status = 401, description = "Missing, unknown, rotated or ended", body = IldErrorBody),
    ))]
pub async fn refresh(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    SecureCookies(secure): SecureCookies,
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
    let jar = jar.add(refresh_cookie(secure, &issued));
    let body = RefreshResponse {
        token: issued.access.token,
        refresh_token: issued.refresh_token,
        expires_at: issued.access.expires_at.to_rfc3339(),
    };
    Ok((jar, Json(body)))
}

/// Ends the session; its tokens stop working at once.
#[utoipa::path(get, path = "/sign/logout", tag = "ild", security(("bearer" = [])),
    responses(
        (status = 200, description = "Logged out", body = IldMessage),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
    ))]
pub async fn logout(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    jar: CookieJar,
    Auth(principal, ..): Auth<Ild>,
) -> Result<impl IntoResponse, IldError> {
    sessions::logout(&app, &principal, &ctx).await?;
    let jar = jar.remove(Cookie::build(REFRESH_COOKIE).path("/sign"));
    Ok((jar, Json(IldMessage::new("Logged out"))))
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

/// `POST /sign/verify` body.
#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The token from the verification mail.
    #[schema(required, nullable = false, min_length = 1)]
    token: Option<String>,
}

crate::redacted_debug!(VerifyRequest {});

/// Verifies the email address with the token from the verification mail
/// (single use, expires after `EVENTAUTH_MAIL_TOKEN_TTL`, 1 hour by default).
#[utoipa::path(post, path = "/sign/verify", tag = "ild", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Verified", body = IldMessage),
        (status = 400, description = "Missing, wrong, used or expired token", body = IldErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = IldErrorBody),
    ))]
pub async fn verify(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<VerifyRequest, Ild>,
) -> Result<Json<IldMessage>, IldError> {
    let token = required(body.token, "token")?;
    crate::service::recovery::verify_email(&app, token.trim(), &ctx).await?;
    Ok(Json(IldMessage::new("Email verified")))
}

/// `POST /sign/reset` body.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The account's email address.
    #[schema(example = "ada@example.com", required, nullable = false, format = Email, max_length = 254)]
    email: Option<String>,
}

crate::redacted_debug!(ResetRequest {});

/// The answer to every well-formed reset request.
const RESET_SENT: &str = "If an account exists for this email, a reset link is on its way";

/// Sends a password-reset link to the account's address. Answers the same
/// whether or not an account exists (and at once: the work happens after
/// the answer, so timing tells nothing either).
#[utoipa::path(post, path = "/sign/reset", tag = "ild", request_body = ResetRequest,
    responses(
        (status = 200, description = "Accepted (whether or not the account exists)", body = IldMessage),
        (status = 400, description = "Missing or malformed email", body = IldErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = IldErrorBody),
    ))]
pub async fn reset(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Body(body, ..): Body<ResetRequest, Ild>,
) -> Result<Json<IldMessage>, IldError> {
    let email = Email::parse(&required(body.email, "email")?, "email")?;
    crate::service::recovery::accept_reset_request(&app, email, &ctx)?;
    Ok(Json(IldMessage::new(RESET_SENT)))
}

/// `POST /sign/reset/{token}` body.
#[derive(Deserialize, ToSchema)]
pub struct ResetWithTokenRequest {
    /// The new password, 8 characters to 1 KiB.
    #[schema(required, nullable = false, format = Password, min_length = 8, max_length = 1024)]
    password: Option<String>,
}

crate::redacted_debug!(ResetWithTokenRequest {});

/// Sets a new password with the token from the reset mail (single use,
/// expiring); every session of the account ends.
#[utoipa::path(post, path = "/sign/reset/{token}", tag = "ild", request_body = ResetWithTokenRequest,
    params(("token" = String, Path, description = "The token from the reset mail")),
    responses(
        (status = 200, description = "Password replaced; all sessions ended", body = IldMessage),
        (status = 400, description = "Weak password, or a wrong, used or expired token", body = IldErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = IldErrorBody),
        (status = 503, description = "Password hashing is saturated; see Retry-After", body = IldErrorBody),
    ))]
pub async fn reset_with_token(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    axum::extract::Path(token): axum::extract::Path<String>,
    Body(body, ..): Body<ResetWithTokenRequest, Ild>,
) -> Result<Json<IldMessage>, IldError> {
    let password = Password::new_password(required(body.password, "password")?, "password")?;
    crate::service::recovery::reset_password(&app, token.trim(), &password, &ctx).await?;
    Ok(Json(IldMessage::new(
        "Password changed; please sign in again",
    )))
}
