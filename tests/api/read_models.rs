//! What the read models show, beyond what the HTTP answers already cover.

use aggregates::{Personal, Session, SessionCommand};
use chrono::Utc;
use eventauth::auth::tokens::hash_token;
use eventauth::service::RequestContext;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{spawn_app, Backend};

on_both_backends!(a_login_that_raced_a_password_change_shows_as_revoked_in_the_sessions_read_model);
async fn a_login_that_raced_a_password_change_shows_as_revoked_in_the_sessions_read_model(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("racer@example.com", "correct horse").await;
    let user_id: Uuid = login["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let authenticated_before_the_change = Utc::now();

    let changed = app
        .client
        .put(app.url("/user/changepassword"))
        .bearer_auth(login["token"].as_str().expect("token"))
        .json(&serde_json::json!({ "currentPassword": "correct horse", "newPassword": "battery staple" }))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status(), StatusCode::OK);

    // The racing login commits after the change, with the earlier auth time.
    let session_id = Uuid::now_v7();
    let committed = app
        .app
        .store
        .create::<Session>(
            &session_id.to_string(),
            SessionCommand::Start {
                session_id,
                user_id,
                surface: "ild".into(),
                remember_me: false,
                refresh_token_hash: hash_token("irrelevant"),
                auth_time: authenticated_before_the_change,
                expires_at: Utc::now() + chrono::Duration::hours(1),
                client_ip: Personal::new(None),
                user_agent: Personal::new(None),
            },
            &RequestContext::system().metadata(),
        )
        .await
        .expect("session started");
    app.app
        .settle(committed.written.as_ref())
        .await
        .expect("settles");

    let rows = projections::sessions::of_user(app.app.store.db(), user_id)
        .await
        .expect("query");
    let raced = rows
        .iter()
        .find(|row| row.session_id == session_id)
        .expect("projected");
    assert_eq!(raced.end_reason.as_deref(), Some("revoked"), "{raced:?}");
    // The session the password was changed from stays active.
    assert_eq!(rows.iter().filter(|row| row.ended_at.is_none()).count(), 1);
}

on_both_backends!(events_carry_the_request_id_actor_client_and_time_as_metadata);
async fn events_carry_the_request_id_actor_client_and_time_as_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("meta@example.com", "correct horse").await;
    let response = app
        .client
        .post(app.url("/sign/login"))
        .header("user-agent", "metadata-test/1.0")
        .header("x-request-id", "req-12345")
        .json(&serde_json::json!({ "email": "meta@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-12345");
    let body: serde_json::Value = response.json().await.expect("json");
    let metadata: serde_json::Value = app
        .store()
        .scalar(
            "SELECT metadata FROM events WHERE event_type = 'SessionStarted'",
            &[],
        )
        .await;
    assert_eq!(metadata["correlation_id"], "req-12345");
    assert_eq!(
        metadata["actor"],
        format!("user:{}", body["user"]["id"].as_str().expect("id"))
    );
    // Personal data in metadata is stored in the same tagged form as in payloads.
    assert_eq!(metadata["client_ip"], r#"{"plain":"127.0.0.1"}"#);
    assert_eq!(metadata["user_agent"], r#"{"plain":"metadata-test/1.0"}"#);
    assert!(chrono::DateTime::parse_from_rfc3339(metadata["time"].as_str().expect("time")).is_ok());
}
