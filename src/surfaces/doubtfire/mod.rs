//! The Doubtfire surface (`../shared/seeds/003_*.txt`; Doubtfire's API and
//! web client as the reference): `/api/auth` (sign in, extend, sign out),
//! `/api/auth/method`, `/api/auth/signout_url`, `/api/auth/jwt` (the SAML
//! assertion consumer) and `GET /api/users/{id}`. Every path also answers
//! with `.json` and with a trailing slash, as Grape's routes do.
//!
//! The credential is a header token ([`crate::service::sessions::header_token`]):
//! `Auth-Token` and `Username` headers (any case, `_` or `-`), or query
//! parameters. Authentication failures are 419, never 401; errors are
//! `{"error": "…"}`. Users are known by an integer: their number
//! ([`crate::service::numbers`]); usernames are the users' emails.

pub mod auth;
mod doc;
pub mod params;
pub mod users;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ErrorShape;
use crate::{App, Error};

/// The name recorded on the sessions this surface starts.
pub const SURFACE: &str = "doubtfire";

/// A request without a live token (Doubtfire's 419 text).
pub const NO_AUTHENTICATION: &str =
    "No authentication details provided. Authentication is required to access this resource.";

/// A request with an expired token.
pub const TOKEN_EXPIRED: &str = "Authentication token expired.";

/// The Doubtfire error shape.
#[derive(Debug)]
pub struct Doubtfire;

/// An error rendered the Doubtfire way.
pub type DfError = crate::http::ApiError<Doubtfire>;

/// The Doubtfire surface, as registered in [`crate::surfaces::all`].
#[derive(Debug)]
pub struct DoubtfireSurface;

/// A path as routed: without a trailing slash and `.json`.
fn route_of(path: &str) -> &str {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    path.strip_suffix(".json").unwrap_or(path)
}

/// Whether a routed path is this surface's.
fn is_ours(path: &str) -> bool {
    matches!(
        path,
        "/api/auth" | "/api/auth/method" | "/api/auth/signout_url" | "/api/auth/jwt"
    ) || path
        .strip_prefix("/api/users/")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

impl crate::surfaces::Surface for DoubtfireSurface {
    fn name(&self) -> &'static str {
        SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "doubtfire",
            "The Doubtfire surface (`/api/auth`, `/api/auth/method`, `/api/auth/signout_url`, \
             `/api/auth/jwt`, `/api/users/{id}`; `Auth-Token` and `Username` headers; 419 for \
             authentication; errors `{\"error\": \"…\"}`)",
        )
    }

    fn owns(&self, path: &str) -> bool {
        is_ours(route_of(path))
    }

    fn routes(&self, _app: &App) -> OpenApiRouter<App> {
        let mut routes = OpenApiRouter::new()
            .routes(routes!(auth::sign_in, auth::extend, auth::sign_out))
            .routes(routes!(auth::method))
            .routes(routes!(auth::signout_url))
            .routes(routes!(auth::saml_response))
            .routes(routes!(users::get_user));
        doc::security_schemes(routes.get_openapi_mut());
        routes
    }

    /// `.json` and a trailing slash route as the bare path (Grape's).
    fn rewrite(&self, request: &mut Request) {
        let path = request.uri().path();
        let routed = route_of(path);
        if routed.len() == path.len() {
            return;
        }
        let target = match request.uri().query() {
            Some(query) => format!("{routed}?{query}"),
            None => routed.to_string(),
        };
        if let Ok(uri) = target.parse() {
            *request.uri_mut() = uri;
        }
    }

    fn not_found(&self) -> Response {
        Doubtfire::render(&Error::NotFound)
    }

    fn method_not_allowed<'a>(
        &'a self,
        _app: &'a App,
        _request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        Box::pin(async move { error(StatusCode::METHOD_NOT_ALLOWED, "405 Not Allowed") })
    }

    fn panicked(&self) -> Response {
        Doubtfire::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn credential_headers(&self) -> &'static [&'static str] {
        &["auth-token", "auth_token", "username"]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl ErrorShape for Doubtfire {
    fn render(error: &Error) -> Response {
        match error {
            Error::InvalidCredentials => {
                self::error(StatusCode::UNAUTHORIZED, "Invalid email or password.")
            }
            // Doubtfire never answers 401 for authentication: 419.
            Error::Unauthenticated => self::error(
                StatusCode::from_u16(419).unwrap_or(StatusCode::UNAUTHORIZED),
                NO_AUTHENTICATION,
            ),
            Error::NotFound => self::error(StatusCode::NOT_FOUND, "404 Not Found"),
            // Grape's validation errors go out as `text/error` (its clients
            // parse the JSON body all the same).
            Error::Invalid { message, .. } => {
                let mut response = self::error(StatusCode::BAD_REQUEST, message);
                response.headers_mut().insert(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("text/error"),
                );
                response
            }
            Error::Internal(_) => self::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sorry... something went wrong with your request.",
            ),
            other => self::error(other.status(), &other.public_message()),
        }
    }
}
