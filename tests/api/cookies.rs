//! `Secure` on the cookies every surface sets: by default only when the
//! request came over HTTPS (directly, or as a trusted proxy says), so a
//! browser on a plain-HTTP LAN keeps them; `EVENTAUTH_COOKIE_SECURE`
//! forces it either way.

use eventauth::config::CookieSecure;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app_with, Backend, TestApp};

/// The `Set-Cookie` lines of a response that set `name`.
fn set_cookies(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .collect()
}

fn is_secure(line: &str) -> bool {
    line.split(';')
        .any(|part| part.trim().eq_ignore_ascii_case("secure"))
}

/// An ILD login's refresh cookie, with `X-Forwarded-Proto` when given.
async fn ild_cookie(app: &TestApp, email: &str, forwarded_proto: Option<&str>) -> String {
    let mut request = app
        .client
        .post(app.url("/sign/login"))
        .json(&json!({ "email": email, "password": "correct horse" }));
    if let Some(proto) = forwarded_proto {
        request = request.header("x-forwarded-proto", proto);
    }
    let response = request.send().await.expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let lines = set_cookies(&response, "refreshToken");
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

/// A Kolibri login's session cookie, with `X-Forwarded-Proto` when given.
async fn kolibri_cookie(app: &TestApp, forwarded_proto: Option<&str>) -> String {
    // A new facility each time: the same username is free in it.
    let username = "ada";
    let facility = crate::helpers::facility_with_user(app, username, Some("correct horse")).await;
    let mut request = app.client.post(app.url("/api/auth/session/")).json(&json!({
        "username": username, "password": "correct horse", "facility": facility.simple().to_string()
    }));
    if let Some(proto) = forwarded_proto {
        request = request.header("x-forwarded-proto", proto);
    }
    let response = request.send().await.expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let lines = set_cookies(&response, "kolibri");
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

on_both_backends!(cookies_are_secure_over_https_only_unless_the_setting_forces_it);
async fn cookies_are_secure_over_https_only_unless_the_setting_forces_it(backend: Backend) {
    // Behind a trusted proxy (this test's client is one): its
    // X-Forwarded-Proto says how the browser came.
    let app = spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    app.signed_in("ada@example.com", "correct horse").await;
    assert!(!is_secure(&ild_cookie(&app, "ada@example.com", None).await));
    assert!(!is_secure(
        &ild_cookie(&app, "ada@example.com", Some("http")).await
    ));
    assert!(is_secure(
        &ild_cookie(&app, "ada@example.com", Some("https")).await
    ));
    assert!(!is_secure(&kolibri_cookie(&app, None).await));
    assert!(is_secure(&kolibri_cookie(&app, Some("https")).await));

    // From a peer that is no trusted proxy the header proves nothing.
    let untrusting = spawn_app_with(backend, |_| {}).await;
    untrusting
        .signed_in("bob@example.com", "correct horse")
        .await;
    assert!(!is_secure(
        &ild_cookie(&untrusting, "bob@example.com", Some("https")).await
    ));
    assert!(!is_secure(
        &kolibri_cookie(&untrusting, Some("https")).await
    ));

    // Forced either way.
    let always = spawn_app_with(backend, |c| c.cookie_secure = CookieSecure::True).await;
    always.signed_in("cy@example.com", "correct horse").await;
    assert!(is_secure(
        &ild_cookie(&always, "cy@example.com", None).await
    ));
    assert!(is_secure(&kolibri_cookie(&always, None).await));
    let never = spawn_app_with(backend, |c| {
        c.cookie_secure = CookieSecure::False;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    never.signed_in("di@example.com", "correct horse").await;
    assert!(!is_secure(
        &ild_cookie(&never, "di@example.com", Some("https")).await
    ));
    assert!(!is_secure(&kolibri_cookie(&never, Some("https")).await));
}
