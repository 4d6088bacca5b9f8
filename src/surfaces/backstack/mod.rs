//! The Backstack surface (`../shared/seeds/004_*.txt`; its clients as the
//! reference): `/v1/auth/login-account`, `/v1/auth/session`,
//! `/v1/auth/logout` (GET and POST); `/v1/auth/login` it shares with Open
//! Archiver ([`super::v1_login`]). The session travels in the HttpOnly
//! cookie `BackstackJWT` (an opaque secret naming a cookie session with an
//! idle timeout, not a JWT: nothing reads it but eventauth); answers are
//! the session object (`session.rs`); errors are
//! `{"error": {type, code, message, fields}}`.
//!
//! CSRF: the cookie is `SameSite=Lax`, and an unsafe request (POST) whose
//! `Origin` is neither this service's nor a configured CORS origin is
//! refused (403) before anything happens. Cross-origin clients are allowed
//! through `EVENTAUTH_CORS_ORIGINS` (credentialed CORS for exactly those).

mod doc;
pub mod session;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ErrorShape;
use crate::{App, Error};

/// The name recorded on the sessions this surface starts.
pub const SURFACE: &str = "backstack";

/// The session cookie.
pub const SESSION_COOKIE: &str = "BackstackJWT";

/// The paths of this surface (besides the shared login).
const PATHS: &[&str] = &[
    "/v1/auth/login-account",
    "/v1/auth/session",
    "/v1/auth/logout",
];

/// The Backstack error shape.
#[derive(Debug)]
pub struct Backstack;

/// The Backstack surface, as registered in [`crate::surfaces::all`].
#[derive(Debug)]
pub struct BackstackSurface;

impl crate::surfaces::Surface for BackstackSurface {
    fn name(&self) -> &'static str {
        SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "backstack",
            "The Backstack surface (`/v1/auth/login-account`, `/v1/auth/session`, \
             `/v1/auth/logout`; the `BackstackJWT` cookie; errors `{\"error\": {…}}`)",
        )
    }

    fn owns(&self, path: &str) -> bool {
        PATHS.contains(&path)
    }

    fn routes(&self, _app: &App) -> OpenApiRouter<App> {
        let mut routes = OpenApiRouter::new()
            .routes(routes!(session::login_account))
            .routes(routes!(session::current))
            .routes(routes!(session::logout_get, session::logout_post));
        doc::security_schemes(routes.get_openapi_mut());
        routes
    }

    fn not_found(&self) -> Response {
        Backstack::render(&Error::NotFound)
    }

    fn method_not_allowed<'a>(
        &'a self,
        _app: &'a App,
        _request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        Box::pin(async move {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", None)
        })
    }

    fn panicked(&self) -> Response {
        Backstack::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Backstack's error object: `type` "user" for what the client can mend,
/// "system" for the service's own failures; `fields` the JSON array `[]`
/// when no field is at fault (its clients test the length), else an object
/// `{field: message}` (its forms bind it to inputs).
pub fn error_object(status: StatusCode, message: &str, field: Option<(&str, &str)>) -> Value {
    let fields = match field {
        None => Value::Array(Vec::new()),
        Some((name, text)) => {
            Value::Object(Map::from_iter([(name.to_string(), Value::from(text))]))
        }
    };
    json!({
        "type": if status.is_server_error() { "system" } else { "user" },
        "code": status.as_u16(),
        "message": message,
        "fields": fields,
    })
}

fn error_response(status: StatusCode, message: &str, field: Option<(&str, &str)>) -> Response {
    let body = json!({ "error": error_object(status, message, field) });
    (status, Json(body)).into_response()
}

/// What an error says here: its status, message and the field at fault.
pub fn described(error: &Error) -> (StatusCode, String, Option<(String, String)>) {
    match error {
        Error::Invalid {
            field: Some(field),
            message,
            ..
        } => (
            StatusCode::BAD_REQUEST,
            message.to_string(),
            Some((field.to_string(), message.to_string())),
        ),
        Error::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            "Invalid username or password".to_string(),
            None,
        ),
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "Not logged in".to_string(), None),
        Error::NotFound => (StatusCode::NOT_FOUND, "Not found".to_string(), None),
        other => (other.status(), other.public_message(), None),
    }
}

impl ErrorShape for Backstack {
    fn render(error: &Error) -> Response {
        let (status, message, field) = described(error);
        let field = field.as_ref().map(|(f, m)| (f.as_str(), m.as_str()));
        error_response(status, &message, field)
    }
}

/// The session cookie: HttpOnly, `SameSite=Lax`, a browser-session cookie
/// (the server ends the session when idle); `Secure` as
/// [`crate::http::cookies`] decides. An empty value clears it.
pub fn session_cookie(secure: bool, secret: String) -> Cookie<'static> {
    let clear = secret.is_empty();
    let mut cookie = Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    if clear {
        cookie.make_removal();
    }
    cookie
}

/// The CSRF check of an unsafe request: its `Origin`, when a browser sent
/// one, is this service's own or a configured CORS origin.
pub fn origin_allowed(app: &App, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // No browser's cross-site request (non-browser clients send none).
        return true;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
    own || app
        .config
        .cors_origins
        .iter()
        .any(|allowed| allowed.trim() == origin)
}
