//! Prometheus `/metrics`.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};

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
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
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
