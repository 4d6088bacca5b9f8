//! Surface-independent endpoints: the JWKS and health.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::App;

/// `/.well-known/jwks.json`, `/health`.
pub fn router() -> Router<App> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/health", get(health))
}

/// The public keys access tokens are signed with (RFC 7517).
async fn jwks(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.tokens.jwks().clone()),
    )
}

/// Liveness: the process serves requests.
async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}
