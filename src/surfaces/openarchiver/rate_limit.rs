//! Open Archiver's per-IP request limit (express-rate-limit: 100 requests a
//! minute by default, `RateLimit-*` headers, its 429 body), counted by the
//! service's throttle; `/v1/auth/status` is not counted (the front end asks
//! it on every page load).

use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::extract::Ctx;
use crate::App;

/// Counts the request against its client's window; 429 past the limit.
pub async fn limit(State(app): State<App>, request: Request, next: Next) -> Response {
    let max = app.config.openarchiver_rate_limit;
    if max == 0 || request.uri().path().trim_end_matches('/') == "/v1/auth/status" {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ctx(ctx) = Ctx::from_request_parts(&mut parts, &app)
        .await
        .unwrap_or_else(|never| match never {});
    let request = Request::from_parts(parts, body);
    let Some(ip) = ctx.client_ip else {
        return next.run(request).await;
    };
    let window = Duration::from_secs(app.config.openarchiver_rate_window.max(1));
    let quota = app.throttle.count_request(super::SURFACE, ip, max, window);
    let reset = quota.reset_after.as_secs_f64().ceil() as u64;
    let mut response = if quota.allowed {
        next.run(request).await
    } else {
        let minutes = window.as_secs().div_ceil(60);
        let body = json!({
            "status": 429,
            "message": format!("Too many requests from this IP, please try again after {minutes} minutes"),
        });
        let mut refused = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        refused
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(reset));
        refused
    };
    let headers = response.headers_mut();
    let policy = format!("{max};w={}", window.as_secs());
    for (name, value) in [
        ("ratelimit-policy", policy),
        ("ratelimit-limit", max.to_string()),
        ("ratelimit-remaining", quota.remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}
