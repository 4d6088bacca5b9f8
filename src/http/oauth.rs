//! Token introspection (RFC 7662) and revocation (RFC 7009) for downstream
//! services, answered from the same deny-list, cutoffs and Session
//! aggregates as the service's own checks.
//!
//! Clients authenticate with HTTP Basic against
//! `EVENTAUTH_INTROSPECTION_CLIENTS` (`id:secret` pairs). Errors follow
//! RFC 6749: `{"error": "invalid_client" | "invalid_request"}`.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Ctx;
use crate::service::sessions::{self, Introspected};
use crate::App;

/// `/oauth/introspect`, `/oauth/revoke`.
pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(introspect))
        .routes(routes!(revoke))
}

/// The token to introspect or revoke (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The token (access JWT or refresh token); missing: 400
    /// `invalid_request` (RFC 7662 §2.1, RFC 7009 §2.1). Any other value,
    /// the empty one included, is a token: introspection says it is not
    /// active, revocation answers 200.
    #[schema(required, nullable = false)]
    token: Option<String>,
    /// `access_token` or `refresh_token` (a hint only).
    token_type_hint: Option<String>,
}

/// RFC 7662 response. Inactive tokens get `{"active": false}` only.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is live.
    active: bool,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// The session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// Expiry (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    /// Issued at (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// Issuer (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// Audience (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    /// Token id (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// Roles (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
}

/// The OAuth error shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_client` or `invalid_request`.
    error: &'static str,
}

fn invalid_client() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"eventauth\"")],
        Json(OAuthError {
            error: "invalid_client",
        }),
    )
        .into_response()
}

fn invalid_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(OAuthError {
            error: "invalid_request",
        }),
    )
        .into_response()
}

/// Whether the request carries the credentials of a configured client.
/// Compared as SHA-256 digests, so timing does not depend on where the
/// strings differ.
fn client_authenticated(app: &App, headers: &HeaderMap) -> bool {
    let Some(presented) = basic_credentials(headers) else {
        return false;
    };
    let presented = Sha256::digest(&presented);
    app.config
        .introspection_clients
        .iter()
        .any(|client| Sha256::digest(client.expose_secret().as_bytes()) == presented)
}

/// The decoded `id:secret` of an `Authorization: Basic` header.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
}

/// Token introspection (RFC 7662).
#[utoipa::path(post, path = "/oauth/introspect", tag = "tokens",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client" = [])),
    responses(
        (status = 200, description = "`active` and, when active, the token's claims", body = IntrospectionResponse),
        (status = 400, description = "No token", body = OAuthError),
        (status = 401, description = "Client not authenticated", body = OAuthError),
    ))]
async fn introspect(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    if !client_authenticated(&app, &headers) {
        return invalid_client();
    }
    let Ok(Form(TokenRequest {
        token: Some(token),
        token_type_hint,
    })) = form
    else {
        return invalid_request();
    };
    let body = match sessions::introspect(&app, &token, token_type_hint.as_deref()).await {
        Ok(Some(Introspected::Access(claims))) => IntrospectionResponse {
            active: true,
            token_type: Some("access_token"),
            sub: Some(claims.sub.clone()),
            sid: Some(claims.sid.clone()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            iss: Some(claims.iss.clone()),
            aud: Some(claims.aud.clone()),
            jti: Some(claims.jti.clone()),
            roles: Some(claims.roles.clone()),
        },
        Ok(Some(Introspected::Refresh {
            user_id,
            session_id,
            expires_at,
        })) => IntrospectionResponse {
            active: true,
            token_type: Some("refresh_token"),
            sub: Some(user_id.to_string()),
            sid: Some(session_id.to_string()),
            exp: Some(expires_at.timestamp()),
            ..Default::default()
        },
        Ok(Some(Introspected::Cookie(live))) => IntrospectionResponse {
            active: true,
            token_type: Some("session_cookie"),
            sub: Some(live.user_id.to_string()),
            sid: Some(live.session_id.to_string()),
            exp: Some(live.expires_at.timestamp()),
            ..Default::default()
        },
        Ok(None) => IntrospectionResponse::default(),
        Err(error) => {
            tracing::error!(%error, "introspection failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    Json(body).into_response()
}

/// Token revocation (RFC 7009): ends the token's session, so every token of
/// it stops working at once. Answers 200 for unknown tokens too.
#[utoipa::path(post, path = "/oauth/revoke", tag = "tokens",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client" = [])),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, description = "No token", body = OAuthError),
        (status = 401, description = "Client not authenticated", body = OAuthError),
    ))]
async fn revoke(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    if !client_authenticated(&app, &headers) {
        return invalid_client();
    }
    let Ok(Form(TokenRequest {
        token: Some(token), ..
    })) = form
    else {
        return invalid_request();
    };
    match sessions::revoke(&app, &token, &ctx).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => {
            tracing::error!(%error, "revocation failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
