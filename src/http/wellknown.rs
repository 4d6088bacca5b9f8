//! Surface-independent endpoints: the JWKS and health.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::App;

/// `/.well-known/jwks.json`, `/health`.
pub fn router() -> Router<App> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// The public keys access tokens are signed with (RFC 7517).
async fn jwks(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.tokens.jwks().clone()),
    )
}

/// Readiness: the store answers, and the read models and this instance's
/// security feed have caught up (503 until then).
async fn ready(State(app): State<App>) -> impl IntoResponse {
    let store = sqlx::query("SELECT 1")
        .execute(app.store.pool())
        .await
        .is_ok();
    let projected = *app.caught_up.0.borrow();
    let fed = *app.caught_up.1.borrow();
    let status = if store && projected && fed {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "store": store,
        "readModels": projected,
        "securityFeed": fed,
    });
    (status, Json(body))
}

/// Liveness: the process serves requests.
async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}
