//! Surface-independent endpoints: the JWKS and health.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::App;

/// `/.well-known/jwks.json`, `/health`, `/ready`.
pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Prometheus metrics (text exposition format); see `crate::observe` for
/// the names. They tell an outsider how busy the service is and which
/// routes fail, so they are not public: on this address only with
/// `Authorization: Bearer <EVENTAUTH_METRICS_TOKEN>` (404 when no token is
/// set), or without credentials on the separate `EVENTAUTH_METRICS_ADDR`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("metrics" = [])),
    responses(
        (status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "No or another token"),
        (status = 404, description = "No EVENTAUTH_METRICS_TOKEN set: metrics are not served here"),
    ))]
async fn metrics(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let Some(expected) = &app.config.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    }
    exposition(&app).await.into_response()
}

/// The metrics as Prometheus reads them.
async fn exposition(app: &App) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::observe::render(app).await,
    )
}

/// The separate metrics listener's router (`EVENTAUTH_METRICS_ADDR`): only
/// `/metrics`, without credentials (bind it where only the scraper can
/// reach it).
pub fn metrics_only(app: App) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(app): State<App>| async move { exposition(&app).await }),
        )
        .with_state(app)
}

/// A JSON Web Key Set (RFC 7517): Ed25519 public keys (`kty` OKP).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler serves the prepared JSON
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "93be950a41c195e2", "alg": "EdDSA", "use": "sig"}]}))]
pub struct Jwks {
    /// The keys.
    keys: Vec<serde_json::Value>,
}

/// Readiness details.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready` or `not ready`.
    status: &'static str,
    /// The store answers.
    store: bool,
    /// The read models were seen caught up.
    read_models: bool,
    /// This instance's deny-list and locks have caught up.
    security_feed: bool,
    /// The NATS relay: `off` (not configured), `starting`, `standby`
    /// (another instance publishes), `publishing`, or `failing` with
    /// `relayError` saying why. It does not decide
    /// readiness: commands succeed without NATS (the relay catches up), so
    /// a NATS outage must not take every instance out of a balancer.
    relay: &'static str,
    /// Why the relay cannot publish, while it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    relay_error: Option<String>,
}

/// Liveness and its body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
}

/// The public keys access tokens are signed with (RFC 7517). Verify access
/// tokens with them (alg EdDSA; `iss` and `aud` as configured).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The key set", body = Jwks)))]
async fn jwks(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.tokens.jwks().clone()),
    )
}

/// Readiness: the store answers, and the read models and this instance's
/// security feed have caught up (503 until then).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready yet", body = Readiness),
    ))]
async fn ready(State(app): State<App>) -> impl IntoResponse {
    // A store that does not answer within 0.8 s is not ready: a balancer's
    // probe must have its answer within the second, outage or not.
    let store = tokio::time::timeout(std::time::Duration::from_millis(800), app.store.db().ping())
        .await
        .unwrap_or(false);
    use crate::consumers::relay::Health;
    let (relay, relay_error) = match app.relay_health.as_ref().map(|h| h.borrow().clone()) {
        None => ("off", None),
        Some(Health::Starting) => ("starting", None),
        Some(Health::Standby) => ("standby", None),
        Some(Health::Publishing) => ("publishing", None),
        Some(Health::Failing(why)) => ("failing", Some(why)),
    };
    let projected = *app.caught_up.0.borrow();
    let fed = *app.caught_up.1.borrow();
    let status = if store && projected && fed {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if status == StatusCode::OK {
            "ready"
        } else {
            "not ready"
        },
        store,
        read_models: projected,
        security_feed: fed,
        relay,
        relay_error,
    };
    (status, Json(body))
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn health() -> impl IntoResponse {
    Json(Health { status: "ok" })
}
