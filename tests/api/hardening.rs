//! Response hardening on every surface: no sniffing, no framing, no
//! referrer, nothing cached; HSTS and `Secure` cookies exactly when the
//! request came over HTTPS.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app_with, Backend, TestApp};

/// One request per surface (answers and errors alike), plus the API docs.
async fn one_of_each(app: &TestApp, https: bool) -> Vec<(String, Response)> {
    let requests: [(Method, &str, Option<serde_json::Value>); 7] = [
        (
            Method::POST,
            "/sign/login",
            Some(json!({"email": "nobody@example.com", "password": "wrong horse"})),
        ),
        (Method::GET, "/api/auth/session/current?active=false", None),
        (
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "nobody@example.com", "password": "x"})),
        ),
        (
            Method::POST,
            "/api/auth",
            Some(json!({"username": "nobody@example.com", "password": "x"})),
        ),
        (Method::GET, "/v1/auth/session", None),
        (Method::GET, "/docs/", None),
        (Method::GET, "/no/such/path", None),
    ];
    let mut answers = Vec::new();
    for (method, path, body) in requests {
        let mut request = app.client.request(method.clone(), app.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        let response = request.send().await.expect("request");
        answers.push((format!("{method} {path}"), response));
    }
    answers
}

on_both_backends!(every_answer_carries_the_hardening_headers);
async fn every_answer_carries_the_hardening_headers(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    for https in [false, true] {
        for (request, response) in one_of_each(&app, https).await {
            assert!(
                response.status() != StatusCode::INTERNAL_SERVER_ERROR,
                "{request}"
            );
            let headers = response.headers();
            assert_eq!(headers["x-content-type-options"], "nosniff", "{request}");
            assert_eq!(headers["x-frame-options"], "DENY", "{request}");
            assert_eq!(headers["referrer-policy"], "no-referrer", "{request}");
            let csp = headers["content-security-policy"].to_str().expect("csp");
            assert!(csp.contains("frame-ancestors 'none'"), "{request}: {csp}");
            assert_eq!(headers["cache-control"], "no-store", "{request}");
            assert_eq!(
                headers.contains_key("strict-transport-security"),
                https,
                "{request}: HSTS exactly over HTTPS"
            );
            // Every cookie follows the one `Secure` rule (Kolibri's CSRF
            // and visitor cookies included) and says its SameSite.
            for cookie in headers.get_all("set-cookie") {
                let cookie = cookie.to_str().expect("cookie");
                assert_eq!(cookie.contains("; Secure"), https, "{request}: {cookie}");
                if !cookie.contains("Max-Age=0") {
                    assert!(cookie.contains("SameSite="), "{request}: {cookie}");
                }
            }
        }
    }
    // The public key set stays cacheable.
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks");
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
}

on_both_backends!(an_untrusted_peer_cannot_claim_https);
async fn an_untrusted_peer_cannot_claim_https(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    for (request, response) in one_of_each(&app, true).await {
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{request}"
        );
        for cookie in response.headers().get_all("set-cookie") {
            let cookie = cookie.to_str().expect("cookie");
            assert!(!cookie.contains("; Secure"), "{request}: {cookie}");
        }
    }
}
