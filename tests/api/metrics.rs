//! Prometheus `/metrics`.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, Backend, METRICS_TOKEN};

on_both_backends!(metrics_count_requests_by_route_and_commands_by_type_and_show_lag);
async fn metrics_count_requests_by_route_and_commands_by_type_and_show_lag(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("metered@example.com", "correct horse").await;
    let user_id = login["user"]["id"].as_str().expect("id").to_string();
    let _ = app
        .client
        .get(app.url(&format!("/user/profile/{user_id}")))
        .send()
        .await
        .expect("request");
    let text = app.metrics().await;
    // By route template, never by raw path (ids would explode the labels).
    assert!(text.contains(r#"route="/user/profile/{userId}""#), "{text}");
    assert!(!text.contains(&user_id), "a raw id became a label");
    assert!(text.contains("eventauth_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"command="Register""#) && text.contains(r#"outcome="ok""#));
    assert!(text.contains(r#"aggregate="session""#) && text.contains(r#"command="Start""#));
    for gauge in [
        "eventauth_password_hash_free_places",
        "eventauth_projector_lag_events",
        "eventauth_projector_lag_seconds",
    ] {
        assert!(text.contains(gauge), "{gauge} missing");
    }
}

on_both_backends!(metrics_are_not_public);
async fn metrics_are_not_public(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = |token: Option<&'static str>| {
        let request = app.client.get(app.url("/metrics"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.expect("request") }
    };
    let anonymous = get(None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        get(Some("another")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(Some(METRICS_TOKEN)).await.status(), StatusCode::OK);

    // Without a token configured they are not served on the service's
    // address at all; a separate address serves them to the scraper alone.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let unconfigured = spawn_app_with(backend, |config| {
        config.metrics_token = None;
        config.metrics_addr = Some(format!("127.0.0.1:{port}").parse().expect("addr"));
    })
    .await;
    let response = unconfigured
        .client
        .get(unconfigured.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let scraped = unconfigured
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.expect("text");
    assert!(
        text.contains("eventauth_password_hash_free_places"),
        "{text}"
    );
}
