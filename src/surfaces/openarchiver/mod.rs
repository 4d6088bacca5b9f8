//! The Open Archiver surface (`../shared/seeds/002_*.txt`, Open Archiver's
//! Express backend as the reference): `/v1/auth/setup`, `/v1/auth/status`,
//! (`auth.rs`; `/v1/auth/login` is shared with Backstack:
//! [`super::v1_login`]), `/v1/iam/roles*` (`roles.rs`),
//! `/v1/users*` (`users.rs`). Errors are `{"message": …}` with Open
//! Archiver's texts; signed-in requests carry an HS256 JWT (`tokens.rs`)
//! as `Authorization: Bearer`.
//!
//! Who may do what is asked of the policies of the caller's roles through
//! the one authorization path ([`crate::access::Action::Policy`]): the
//! service administrator holds the predefined Super Admin, anyone else the
//! roles they were given (`roleId`).

pub mod auth;
pub mod doc;
pub mod rate_limit;
mod roles;
pub mod tokens;
mod users;
mod wire;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiError, ErrorShape};
use crate::{App, Error};

/// The name recorded on the sessions this surface starts.
pub const SURFACE: &str = "openarchiver";

/// The Open Archiver error shape.
#[derive(Debug)]
pub struct OpenArchiver;

/// An error rendered the Open Archiver way.
pub type OaError = ApiError<OpenArchiver>;

/// The Open Archiver surface, as registered in [`crate::surfaces::all`].
#[derive(Debug)]
pub struct OpenArchiverSurface;

impl crate::surfaces::Surface for OpenArchiverSurface {
    fn name(&self) -> &'static str {
        SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "openarchiver",
            "The Open Archiver surface (`/v1/auth/*`, `/v1/users/*`; errors `{\"message\"}`)",
        )
    }

    fn owns(&self, path: &str) -> bool {
        path == "/v1" || path.starts_with("/v1/")
    }

    fn routes(&self, app: &App) -> OpenApiRouter<App> {
        let mut routes = OpenApiRouter::new()
            .routes(routes!(auth::setup))
            .routes(routes!(auth::status))
            .routes(routes!(users::profile, users::update_profile))
            .routes(routes!(users::export))
            .routes(routes!(users::change_password))
            .routes(routes!(users::list, users::create))
            .routes(routes!(users::read, users::update, users::delete))
            .routes(routes!(roles::list, roles::create))
            .routes(routes!(roles::read, roles::update, roles::delete))
            .layer(axum::Extension(Arc::new(tokens::Signer::new(app))))
            .layer(axum::middleware::from_fn_with_state(
                app.clone(),
                rate_limit::limit,
            ));
        doc::security_schemes(routes.get_openapi_mut());
        routes
    }

    fn not_found(&self) -> Response {
        OpenArchiver::render(&Error::NotFound)
    }

    fn method_not_allowed<'a>(
        &'a self,
        _app: &'a App,
        _request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        // Express answers a method it has no route for like an unknown path.
        Box::pin(async move { OpenArchiver::render(&Error::NotFound) })
    }

    fn panicked(&self) -> Response {
        OpenArchiver::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl ErrorShape for OpenArchiver {
    fn render(error: &Error) -> Response {
        let (status, message) = match error {
            Error::Invalid { message, .. } => (StatusCode::BAD_REQUEST, message.to_string()),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "Invalid credentials".into()),
            Error::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized: Invalid token".into(),
            ),
            Error::Forbidden | Error::Disabled => (StatusCode::FORBIDDEN, NO_PERMISSION.into()),
            Error::NotFound => (StatusCode::NOT_FOUND, "Not Found".into()),
            Error::TooManyAttempts { .. } => {
                let body = json!({
                    "status": 429,
                    "message": "Too many requests from this IP, please try again after 1 minutes",
                });
                // (`ApiError` adds `Retry-After`.)
                return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            }
            other => (other.status(), other.public_message()),
        };
        (status, Json(json!({ "message": message }))).into_response()
    }
}

/// What a route family's missing record and refusal say in Open Archiver
/// (`iam.roleNotFound`, `user.requiresSuperAdminRole`, …); other errors as
/// [`OpenArchiver::render`] says them.
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    /// 404's message.
    pub not_found: &'static str,
    /// 403's message.
    pub forbidden: &'static str,
}

/// The message the default refusal says (`errors.noPermissionToAction`).
pub const NO_PERMISSION: &str = "You don't have the permission to perform the current action.";

impl Wording {
    /// A use case's result: its answer, or its error in this wording.
    pub fn reply<T: IntoResponse>(self, result: Result<T, Error>) -> Response {
        match result {
            Ok(answer) => answer.into_response(),
            Err(error) => self.answer(error),
        }
    }

    /// `error` answered with this wording.
    pub fn answer(self, error: Error) -> Response {
        let (status, message) = match error {
            Error::NotFound => (StatusCode::NOT_FOUND, self.not_found),
            Error::Forbidden => (StatusCode::FORBIDDEN, self.forbidden),
            other => return OaError::from(other).into_response(),
        };
        (status, Json(json!({ "message": message }))).into_response()
    }
}

/// The caller of a protected route: `Authorization: Bearer <token>`; 401
/// "Unauthorized: No token provided" without one, "Unauthorized: Invalid
/// token" for a bad, expired or ended one.
#[derive(Debug, Clone, Copy)]
pub struct Signed(pub crate::service::sessions::Caller);

impl Signed {
    /// The caller as the authorization module sees them, from live state.
    pub async fn actor(&self, app: &App) -> Result<crate::access::Actor, Error> {
        crate::access::actor(app, self.0.user_id, self.0.session_id).await
    }
}

impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: &str| {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "message": message })),
            )
                .into_response()
        };
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(unauthorized("Unauthorized: No token provided"));
        };
        parts
            .extensions
            .get::<Arc<tokens::Signer>>()
            .and_then(|signer| signer.verify(app, token))
            .map(Signed)
            .ok_or_else(|| unauthorized("Unauthorized: Invalid token"))
    }
}
