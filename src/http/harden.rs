//! Response headers every answer carries, whatever surface wrote it:
//! - `X-Content-Type-Options: nosniff`: a JSON error is never run as a
//!   script or rendered as HTML;
//! - `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'` (also for
//!   `/docs/`): no page of ours inside someone else's frame (clickjacking);
//! - `Referrer-Policy: no-referrer`: reset and sign-in links carry tokens
//!   in their URLs, and nothing of ours should leak them onwards;
//! - `Cache-Control: no-store` unless the handler chose otherwise (the
//!   JWKS is public and cacheable): answers carry tokens and personal
//!   data, which no browser or proxy cache should keep;
//! - `Strict-Transport-Security` when the request came over HTTPS (the
//!   same test the cookies' `Secure` uses): over plain HTTP the header
//!   means nothing, and on a school LAN's `http://` it must not be sent.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::App;

/// One year, as the HSTS preload list asks.
const HSTS: &str = "max-age=31536000";

/// Adds the headers (see the module documentation).
pub async fn security_headers(State(app): State<App>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let https = super::cookies::request_over_https(&parts, &app);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let headers = response.headers_mut();
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
