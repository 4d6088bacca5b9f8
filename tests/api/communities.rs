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

/// `PUT /user/profile` with a nickname on `app` as `token`: the answer.
async fn update_profile(app: &TestApp, token: &str, nickname: &str) -> Value {
    let response = crate::helpers::call(
        app,
        reqwest::Method::PUT,
        "/user/profile",
        token,
        Some(json!({ "nickname": nickname })),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

/// The member counts of the communities in a profile answer, in order.
fn counts(profile: &Value) -> Vec<(String, i64)> {
    profile["communities"]
        .as_array()
        .expect("communities")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("name").to_string();
            (name, c["members"].as_i64().expect("members"))
        })
        .collect()
}

on_both_backends!(profile_answers_show_member_counts_as_people_join_and_are_erased);
/// A profile answer shows the user's communities in joining order with
/// their member counts: another member joining or being erased shows in
/// the next answer, though the communities are held in memory between
/// answers.
async fn profile_answers_show_member_counts_as_people_join_and_are_erased(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let mut ids = Vec::new();
    for name in ["Makers", "Readers"] {
        let created: Value = create(&app, &admin, &json!({ "name": name }))
            .await
            .json()
            .await
            .expect("json");
        ids.push(created["id"].as_str().expect("id").to_string());
    }
    let ada = app.signed_in("ada@example.com", "correct horse").await;
    let ada = ada["token"].as_str().expect("token").to_string();
    // Joined in this order: Readers first.
    for id in [&ids[1], &ids[0]] {
        assert_eq!(join(&app, &ada, id).await.status(), StatusCode::OK);
    }
    let first = update_profile(&app, &ada, "a1").await;
    assert_eq!(
        counts(&first),
        [("Readers".to_string(), 1), ("Makers".to_string(), 1)]
    );

    let grace = app.signed_in("grace@example.com", "correct horse").await;
    let grace_id = grace["user"]["id"].as_str().expect("id").to_string();
    let grace = grace["token"].as_str().expect("token").to_string();
    assert_eq!(join(&app, &grace, &ids[0]).await.status(), StatusCode::OK);
    let after_join = update_profile(&app, &ada, "a2").await;
    assert_eq!(
        counts(&after_join),
        [("Readers".to_string(), 1), ("Makers".to_string(), 2)],
        "a join by someone else"
    );
    // The same on reading the profile.
    let read: Value = app
        .get_auth("/user/profile", &ada)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(counts(&read), counts(&after_join));

    let erased = crate::helpers::send(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/users/{grace_id}"),
        &admin,
    )
    .await;
    assert_eq!(erased.status(), StatusCode::OK);
    let after_erasure = update_profile(&app, &ada, "a3").await;
    assert_eq!(
        counts(&after_erasure),
        [("Readers".to_string(), 1), ("Makers".to_string(), 1)],
        "an erased member counts no more"
    );
}

// Several instances share only a PostgreSQL store (the embedded one runs one).
on_postgres_only!(
    a_join_on_another_instance_shows_in_member_counts_here,
    threads = 2
);
/// An instance holding a community's view in memory hears of a join made
/// on another instance through its feed: its next answers count it.
async fn a_join_on_another_instance_shows_in_member_counts_here(backend: Backend) {
    let first = spawn_app(backend).await;
    let admin = admin_token(&first).await;
    let created: Value = create(&first, &admin, &json!({ "name": "Makers" }))
        .await
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let ada = first.signed_in("ada@example.com", "correct horse").await;
    let ada = ada["token"].as_str().expect("token").to_string();
    assert_eq!(join(&first, &ada, &id).await.status(), StatusCode::OK);
    let held = update_profile(&first, &ada, "a1").await;
    assert_eq!(counts(&held), [("Makers".to_string(), 1)]);

    let second = crate::helpers::spawn_app_on(first.db.clone(), |_| {}).await;
    let grace = second.signed_in("grace@example.com", "correct horse").await;
    let grace = grace["token"].as_str().expect("token").to_string();
    assert_eq!(join(&second, &grace, &id).await.status(), StatusCode::OK);
    // The first instance's feed reads the join within its poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut round = 0;
    loop {
        round += 1;
        let answer = update_profile(&first, &ada, &format!("b{round}")).await;
        if counts(&answer) == [("Makers".to_string(), 2)] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the join on the other instance never counted here: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
