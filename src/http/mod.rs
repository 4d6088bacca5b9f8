//! The HTTP edge: one router merging the registered surfaces
//! ([`crate::surfaces`]), and the plumbing they share (error rendering,
//! extractors, cookies, request ids, logging, limits). It names no
//! surface: 404s and 405s go to the surface that owns the path, anything
//! else to the native (first) one.

pub mod cookies;
pub mod extract;
pub mod harden;
pub mod listen;
pub mod oauth;
pub mod outage;
pub mod wellknown;

use std::sync::Arc;

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

pub use extract::{Acting, ApiError, Auth, Body, Ctx, ErrorShape};

use crate::surfaces::Surface;
use crate::App;

/// Largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request-id header, set when the client sends none.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// CORS: none (same-origin only) unless origins are configured; credentials
/// only for explicitly listed origins, never for `*`. The surfaces'
/// credential headers are allowed besides the common ones.
fn cors(origins: &[String], credential_headers: &[HeaderName]) -> CorsLayer {
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
        .allow_headers(
            [header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID]
                .into_iter()
                .chain(credential_headers.iter().cloned())
                .collect::<Vec<_>>(),
        )
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
        description = "Authentication and users on an append-only event log, \
            serving the auth APIs of several systems at once (one tag each); \
            each answers errors in its own system's shape.",
    ),
    modifiers(&BearerAuth),
    tags(
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
            "metrics",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("EVENTAUTH_METRICS_TOKEN"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token (JWT) from a login or refresh"))
                    .build(),
            ),
        );
    }
}

/// A request path as it may be logged: a token in it (after one of the
/// surfaces' `secret_paths` prefixes) is masked.
pub fn loggable_path<'a>(path: &'a str, secret_paths: &[&str]) -> std::borrow::Cow<'a, str> {
    match secret_paths.iter().find(|prefix| path.starts_with(*prefix)) {
        Some(prefix) => format!("{prefix}{{token}}").into(),
        None => path.into(),
    }
}

/// The surface a path belongs to: its owner, else the native (first) one.
fn surface_of<'a>(surfaces: &'a [Arc<dyn Surface>], path: &str) -> &'a Arc<dyn Surface> {
    surfaces
        .iter()
        .find(|surface| surface.owns(path))
        .unwrap_or(&surfaces[0])
}

/// Answers panics in the native surface's shape (a panic has no request at
/// hand to choose another).
#[derive(Clone)]
struct Panicked(Arc<dyn Surface>);

impl tower_http::catch_panic::ResponseForPanic for Panicked {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(
        &mut self,
        _: Box<dyn std::any::Any + Send + 'static>,
    ) -> axum::http::Response<Self::ResponseBody> {
        tracing::error!("handler panicked");
        self.0.panicked()
    }
}

/// How failed requests are logged. A 500 is a fault: ERROR (its cause was
/// logged where it happened). A 503 is load shed, a request timed out or
/// the store away — expected under overload, and then by the thousand: one
/// WARN per interval saying how many (the counts per status are in
/// `/metrics`), so that a flood does not drown the log or the disk.
fn failures(
) -> impl tower_http::trace::OnFailure<tower_http::classify::ServerErrorsFailureClass> + Clone {
    use tower_http::classify::ServerErrorsFailureClass as Failure;
    let shed = Arc::new(crate::observe::Throttled::new(Duration::from_secs(10)));
    move |failure: Failure, latency: Duration, _: &tracing::Span| match failure {
        Failure::StatusCode(status) if status == axum::http::StatusCode::SERVICE_UNAVAILABLE => {
            if let Some(suppressed) = shed.ready() {
                tracing::warn!(
                    suppressed,
                    "answered 503 (load shed, timeout or store unavailable); more like it in the \
                     next 10 s are only counted"
                );
            }
        }
        // A 500's cause was logged where it happened ([`ApiError`]).
        Failure::StatusCode(status) if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR => {}
        Failure::StatusCode(status) => {
            tracing::error!(%status, latency_ms = latency.as_millis(), "request failed");
        }
        Failure::Error(error) => tracing::error!(%error, "request failed"),
    }
}

/// The whole service as one HTTP service: the surfaces' request hooks
/// (run before routing, so they can change what is routed) around the
/// router.
pub fn service(
    app: App,
    surfaces: &[Arc<dyn Surface>],
) -> impl tower::Service<
    Request<axum::body::Body>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let router = router(app, surfaces);
    let hooks: Arc<[Arc<dyn Surface>]> = surfaces.into();
    tower::Layer::layer(
        &axum::middleware::map_request(move |mut request: Request<axum::body::Body>| {
            let hooks = hooks.clone();
            async move {
                if let Some(surface) = hooks.iter().find(|s| s.owns(request.uri().path())) {
                    surface.rewrite(&mut request);
                }
                request
            }
        }),
        router,
    )
}

/// The whole service's router, from the surfaces given (the first is the
/// native one).
pub fn router(app: App, surfaces: &[Arc<dyn Surface>]) -> Router {
    // Install the recorder before the first request is counted.
    let _ = crate::observe::handle();
    // Headers that carry credentials: never logged, allowed cross-origin.
    let credential_headers: Vec<HeaderName> = surfaces
        .iter()
        .flat_map(|surface| surface.credential_headers())
        .map(|name| HeaderName::from_static(name))
        .collect();
    let sensitive: Vec<HeaderName> = [header::AUTHORIZATION, header::COOKIE, header::SET_COOKIE]
        .into_iter()
        .chain(credential_headers.iter().cloned())
        .collect();
    let mut doc = ApiDoc::openapi();
    let tags = doc.tags.get_or_insert_with(Vec::new);
    for (at, surface) in surfaces.iter().enumerate() {
        let (name, description) = surface.tag();
        tags.insert(
            at,
            utoipa::openapi::tag::TagBuilder::new()
                .name(name)
                .description(Some(description))
                .build(),
        );
    }
    let mut api_router = OpenApiRouter::with_openapi(doc);
    for surface in surfaces {
        api_router = api_router.merge(surface.routes(&app));
    }
    let (routes, api) = api_router
        .merge(wellknown::router())
        .merge(oauth::router())
        .split_for_parts();
    let for_404: Arc<[Arc<dyn Surface>]> = surfaces.into();
    let for_405 = for_404.clone();
    let native = surfaces[0].clone();
    let secret_paths: Vec<&'static str> = surfaces
        .iter()
        .flat_map(|surface| surface.secret_paths())
        .copied()
        .collect();
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .fallback(move |uri: axum::http::Uri| {
            let surfaces = for_404.clone();
            async move { surface_of(&surfaces, uri.path()).not_found() }
        })
        .method_not_allowed_fallback(
            move |axum::extract::State(app): axum::extract::State<App>,
                  request: Request<axum::body::Body>| {
                let surfaces = for_405.clone();
                async move {
                    let (parts, _) = request.into_parts();
                    surface_of(&surfaces, parts.uri.path())
                        .method_not_allowed(&app, &parts)
                        .await
                }
            },
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(outage::retry_safe_requests))
        .layer(axum::middleware::from_fn(crate::observe::track))
        .layer(CatchPanicLayer::custom(Panicked(native)))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(app.config.request_timeout.max(1)),
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            harden::security_headers,
        ))
        .layer(cors(&app.config.cors_origins, &credential_headers))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request<_>| {
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
                        path = %loggable_path(request.uri().path(), &secret_paths),
                        request_id = %request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(failures()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveHeadersLayer::new(sensitive))
        .with_state(app)
}
