//! Communities: created by administrators, joined by users, shown on the
//! profile.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{admin_token, ild_error, spawn_app, Backend, TestApp};

async fn create(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/admin/communities"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn join(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/user/community/join/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

on_both_backends!(a_user_joins_a_community_once_and_sees_it_on_the_profile);
async fn a_user_joins_a_community_once_and_sees_it_on_the_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let created = create(
        &app,
        &admin,
        &json!({ "name": "Makers", "description": "We build" }),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let community: Value = created.json().await.expect("json");
    let id = community["id"].as_str().expect("id").to_string();

    let login = app.signed_in("member@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    for _ in 0..2 {
        assert_eq!(join(&app, token, &id).await.status(), StatusCode::OK);
    }
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    let communities = profile["communities"].as_array().expect("communities");
    assert_eq!(communities.len(), 1, "{profile}");
    assert_eq!(communities[0]["id"], id.as_str());
    assert_eq!(communities[0]["name"], "Makers");
    assert_eq!(communities[0]["members"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'CommunityJoined'")
            .await,
        1,
        "joining again wrote an event"
    );
    crate::helpers::assert_recorded_with_metadata(&app, "CommunityJoined", "user:").await;
    // Recorded with who did it.
    let metadata = app
        .strings(
            "SELECT CAST(metadata AS text) FROM events WHERE event_type = 'OrganizationCreated'",
        )
        .await;
    let metadata: Value = serde_json::from_str(&metadata[0]).expect("json");
    assert!(
        metadata["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "{metadata}"
    );

    // Unknown and malformed communities.
    let unknown = join(&app, token, &uuid::Uuid::now_v7().to_string()).await;
    let body = ild_error(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(
        body,
        json!({ "error": "Not Found", "message": "Resource not found" })
    );
    ild_error(join(&app, token, "nope").await, StatusCode::BAD_REQUEST).await;
    // A user is not a community.
    let user_id = profile["id"].as_str().expect("id");
    ild_error(join(&app, token, user_id).await, StatusCode::NOT_FOUND).await;
}

on_both_backends!(only_administrators_create_communities);
async fn only_administrators_create_communities(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("user@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let before = app.event_count().await;
    let refused = create(&app, token, &json!({ "name": "Mine" })).await;
    let body = ild_error(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(
        body,
        json!({ "error": "Forbidden", "message": "Insufficient permissions" })
    );
    let anonymous = app
        .client
        .post(app.url("/admin/communities"))
        .json(&json!({ "name": "Mine" }))
        .send()
        .await
        .expect("request");
    let body = ild_error(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        body,
        json!({ "error": "Unauthorized", "message": "Authentication required" })
    );
    assert_eq!(app.event_count().await, before);

    let admin = admin_token(&app).await;
    for bad in [
        json!({}),
        json!({ "name": "  " }),
        json!({ "name": "x".repeat(101) }),
    ] {
        ild_error(create(&app, &admin, &bad).await, StatusCode::BAD_REQUEST).await;
    }
}
