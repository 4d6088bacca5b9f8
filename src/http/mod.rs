//! The HTTP edge: one router merging the surfaces, and the plumbing they
//! share (error rendering, extractors, request ids, logging, limits).
//!
//! Each surface module only translates its wire format into the shared use
//! cases (`crate::service`) and back.

pub mod extract;
pub mod ild;
pub mod kolibri;
pub mod oauth;
pub mod wellknown;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use extract::{ApiError, Auth, Body, Ctx, Surface};

use crate::App;

/// Largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request-id header, set when the client sends none.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// CORS: none (same-origin only) unless origins are configured; credentials
/// only for explicitly listed origins, never for `*`.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-refresh-token"),
            HeaderName::from_static("x-csrftoken"),
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
    if origins.contains(&"*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer
        .allow_origin(AllowOrigin::list(list))
        .allow_credentials(true)
}

/// The OpenAPI document's frame; the paths come from the surfaces'
/// annotated handlers, registered through the same calls that route them.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "eventauth",
        description = "Authentication and users on an append-only event log. \
            Surfaces: ILD (`/sign/*`, `/user/*`). Errors of the ILD surface are \
            `{\"error\", \"message\"}`.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ild", description = "The ILD Auth surface"),
        (name = "kolibri", description = "The Kolibri 0.19.5 surface (`/api/auth/*`; also with a trailing slash)"),
        (name = "tokens", description = "Token verification for other services"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme the `security(("bearer" = []))` handlers use.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A client of EVENTAUTH_INTROSPECTION_CLIENTS (id:secret)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /sign/login or /sign/refresh"))
                    .build(),
            ),
        );
    }
}

/// Paths whose last segment is a secret (a mailed single-use token).
const TOKEN_PATHS: &[&str] = &["/sign/reset/"];

/// A request path as it may be logged: a token in it is masked.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match TOKEN_PATHS.iter().find(|prefix| path.starts_with(*prefix)) {
        Some(prefix) => format!("{prefix}{{token}}").into(),
        None => path.into(),
    }
}

/// 405 in the shape of the surface the path belongs to.
async fn method_not_allowed(
    axum::extract::State(app): axum::extract::State<App>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let path = uri.path();
    if path.starts_with("/api/auth/session") {
        // Kolibri's session views set the CSRF cookie on every answer.
        kolibri::with_csrf_cookie(&app, &headers, kolibri::method_not_allowed(&method)).await
    } else if path.starts_with("/api/auth/") {
        kolibri::method_not_allowed(&method)
    } else {
        ild::method_not_allowed().await
    }
}

/// The whole service's router.
pub fn router(app: App) -> Router {
    // Install the recorder before the first request is counted.
    let _ = crate::observe::handle();
    let sensitive = [
        header::AUTHORIZATION,
        header::COOKIE,
        header::SET_COOKIE,
        HeaderName::from_static("x-refresh-token"),
    ];
    let (routes, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ild::router())
        .merge(kolibri::router(app.clone()))
        .merge(wellknown::router())
        .merge(oauth::router())
        .split_for_parts();
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        // The native surface's shape for paths and methods nobody serves.
        .fallback(ild::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::observe::track))
        .layer(CatchPanicLayer::custom(ild::panicked))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(app.config.request_timeout.max(1)),
        ))
        .layer(cors(&app.config.cors_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // The path only (query strings may carry tokens), with
                    // tokens in paths masked.
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %loggable_path(request.uri().path()),
                        request_id = %request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveHeadersLayer::new(sensitive))
        .with_state(app)
}
