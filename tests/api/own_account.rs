//! The caller's own account: tutorial and sessions (list, end one, sign out
//! everywhere else); and the read models' version upgrade at start.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ild_error, send, spawn_app, spawn_app_on, Backend, TestApp};

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get_auth("/user/sessions", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn current(list: &[Value]) -> String {
    list.iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("the current session is listed")
        .to_string()
}

on_both_backends!(the_tutorial_is_marked_done_once);
async fn the_tutorial_is_marked_done_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("tut@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["tutorialCompleted"], false);
    for _ in 0..2 {
        let done = send(&app, reqwest::Method::PUT, "/user/tutorial", token).await;
        assert_eq!(done.status(), StatusCode::OK);
    }
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["tutorialCompleted"], true);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'TutorialCompleted'")
            .await,
        1
    );
    crate::helpers::assert_recorded_with_metadata(&app, "TutorialCompleted", "user:").await;
    let anonymous = app
        .client
        .put(app.url("/user/tutorial"))
        .send()
        .await
        .expect("request");
    ild_error(anonymous, StatusCode::UNAUTHORIZED).await;
}

on_both_backends!(a_user_lists_their_sessions_ends_one_and_signs_out_everywhere_else);
async fn a_user_lists_their_sessions_ends_one_and_signs_out_everywhere_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.signed_in("many@example.com", "correct horse").await;
    let a = first["token"].as_str().expect("token").to_string();
    let mut others = Vec::new();
    for device in ["phone-app/2.1", "laptop-browser/9"] {
        let login: Value = app
            .client
            .post(app.url("/sign/login"))
            .header("user-agent", device)
            .json(&serde_json::json!({ "email": "many@example.com", "password": "correct horse" }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        others.push(login["token"].as_str().expect("token").to_string());
    }
    let (b, c) = (others[0].clone(), others[1].clone());
    let listed = sessions(&app, &a).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed
        .iter()
        .all(|s| s["startedAt"].is_string() && s["lastSeenAt"].is_string()));
    // Device (user agent) and IP as they logged in.
    for device in ["phone-app/2.1", "laptop-browser/9"] {
        assert!(
            listed.iter().any(|s| s["userAgent"] == device),
            "{device} not listed: {listed:?}"
        );
    }
    assert!(listed.iter().all(|s| s["ip"] == "127.0.0.1"), "{listed:?}");
    let a_id = current(&listed);
    let b_id = current(&sessions(&app, &b).await);
    assert_ne!(a_id, b_id);

    // Someone else's session is not yours to end.
    let stranger = app.signed_in("stranger@example.com", "correct horse").await;
    let stranger = stranger["token"].as_str().expect("token");
    let refused = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/user/sessions/{b_id}"),
        stranger,
    )
    .await;
    ild_error(refused, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.get_auth("/sign/check", &b).await.status(),
        StatusCode::OK
    );
    let malformed = send(
        &app,
        reqwest::Method::DELETE,
        "/user/sessions/not-a-uuid",
        &a,
    )
    .await;
    ild_error(malformed, StatusCode::BAD_REQUEST).await;

    let ended = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/user/sessions/{b_id}"),
        &a,
    )
    .await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(
        app.get_auth("/sign/check", &b).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sessions(&app, &a).await.len(), 2);

    let others_out = send(&app, reqwest::Method::DELETE, "/user/sessions", &a).await;
    assert_eq!(others_out.status(), StatusCode::OK);
    assert_eq!(
        app.get_auth("/sign/check", &c).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_auth("/sign/check", &a).await.status(),
        StatusCode::OK
    );
    let left = sessions(&app, &a).await;
    assert_eq!(left.len(), 1);
    assert_eq!(current(&left), a_id);
    crate::helpers::assert_recorded_with_metadata(&app, "SessionEnded", "user:").await;
    crate::helpers::assert_recorded_with_metadata(&app, "SessionsRevoked", "user:").await;
}

on_both_backends!(a_start_with_older_read_models_rebuilds_them_from_the_log);
async fn a_start_with_older_read_models_rebuilds_them_from_the_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("old@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    assert_eq!(
        send(&app, reqwest::Method::PUT, "/user/tutorial", &token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.count("SELECT CAST(max(version) AS BIGINT) FROM read_model_schema")
            .await,
        i64::from(projections::schema::VERSION)
    );
    let db = app.stop().await;
    // As if an older build had left them: another version, rows gone.
    let db = {
        let app = spawn_app_on(db, |_| {}).await;
        match app.app.store.db() {
            projections::Db::Postgres(pool) => {
                sqlx::query("UPDATE read_model_schema SET version = 1")
                    .execute(pool)
                    .await
                    .expect("downgrade");
                sqlx::query("DELETE FROM users")
                    .execute(pool)
                    .await
                    .expect("delete");
            }
            projections::Db::Sqlite { writer, .. } => {
                sqlx::query("UPDATE read_model_schema SET version = 1")
                    .execute(writer)
                    .await
                    .expect("downgrade");
                sqlx::query("DELETE FROM users")
                    .execute(writer)
                    .await
                    .expect("delete");
            }
        }
        app.stop().await
    };
    let app = spawn_app_on(db, |_| {}).await;
    assert_eq!(
        app.count("SELECT CAST(max(version) AS BIGINT) FROM read_model_schema")
            .await,
        i64::from(projections::schema::VERSION)
    );
    let profile: Value = app
        .get_auth("/user/profile", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["email"], "old@example.com", "{profile}");
    assert_eq!(profile["tutorialCompleted"], true);
}
