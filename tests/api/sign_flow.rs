//! The sign-in lifecycle: register → login → check → refresh → logout.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ild_error, spawn_app, spawn_app_with, Backend};

on_both_backends!(register_login_check_refresh_logout_works_and_logout_revokes_at_once);
async fn register_login_check_refresh_logout_works_and_logout_revokes_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.register("ada@example.com", "correct horse").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["firstName"], "Ada");

    let response = app.login("ada@example.com", "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("refresh cookie")
        .to_string();
    let login: Value = response.json().await.expect("json");
    let token = login["token"].as_str().expect("token");
    let refresh_token = login["refreshToken"].as_str().expect("refreshToken");
    assert!(cookie.starts_with(&format!("refreshToken={refresh_token}")));
    assert!(cookie.contains("HttpOnly"));
    assert_eq!(login["user"]["email"], "ada@example.com");

    let check = app.get_auth("/sign/check", token).await;
    assert_eq!(check.status(), StatusCode::OK);
    let check: Value = check.json().await.expect("json");
    assert_eq!(check["authenticated"], true);
    assert_eq!(check["user"]["id"], user["id"]);

    // Refresh through the cookie, as a browser would.
    let refreshed = app
        .client
        .get(app.url("/sign/refresh"))
        .header("cookie", format!("refreshToken={refresh_token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.expect("json");
    let new_token = refreshed["token"].as_str().expect("token");
    let new_refresh = refreshed["refreshToken"].as_str().expect("refreshToken");
    assert_ne!(new_refresh, refresh_token);
    assert_eq!(
        app.get_auth("/sign/check", new_token).await.status(),
        StatusCode::OK
    );

    let logout = app.get_auth("/sign/logout", new_token).await;
    assert_eq!(logout.status(), StatusCode::OK);

    // Every token of the session is dead at once: both access tokens and
    // the refresh token.
    ild_error(
        app.get_auth("/sign/check", token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(
        app.get_auth("/sign/check", new_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(
        app.get_auth("/user/profile", new_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(app.refresh(new_refresh).await, StatusCode::UNAUTHORIZED).await;
}

on_both_backends!(profile_right_after_register_sees_the_new_user);
async fn profile_right_after_register_sees_the_new_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("grace@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let profile = app.get_auth("/user/profile", token).await;
    assert_eq!(profile.status(), StatusCode::OK);
    let profile: Value = profile.json().await.expect("json");
    assert_eq!(profile["email"], "grace@example.com");
    assert_eq!(profile["id"], login["user"]["id"]);
}

on_both_backends!(a_registered_user_is_listed_by_the_read_model_when_register_answers);
async fn a_registered_user_is_listed_by_the_read_model_when_register_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let user: Value = app
        .register("turing@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    let id: uuid::Uuid = user["id"].as_str().expect("id").parse().expect("uuid");
    // No polling: register answered only after the projector passed it.
    let row = projections::users::find(app.app.read_models().await, id)
        .await
        .expect("query");
    assert!(row.is_some_and(|row| row.email == "turing@example.com"));
}

on_both_backends!(the_public_profile_shows_public_fields_only);
async fn the_public_profile_shows_public_fields_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("hopper@example.com", "correct horse").await;
    let id = login["user"]["id"].as_str().expect("id");
    let response = app
        .client
        .get(app.url(&format!("/user/profile/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let public: Value = response.json().await.expect("json");
    assert_eq!(public["id"], id);
    assert_eq!(public["firstName"], "Ada");
    assert!(
        public.get("email").is_none(),
        "public profile leaks the email: {public}"
    );
    assert!(public.get("roles").is_none());

    let unknown = uuid::Uuid::now_v7();
    let missing = app
        .client
        .get(app.url(&format!("/user/profile/{unknown}")))
        .send()
        .await
        .expect("request");
    ild_error(missing, StatusCode::NOT_FOUND).await;
}

on_both_backends!(a_rotated_refresh_token_reused_after_the_grace_period_revokes_the_session);
async fn a_rotated_refresh_token_reused_after_the_grace_period_revokes_the_session(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| c.refresh_reuse_grace = 0).await;
    let login = app.signed_in("mallory@example.com", "correct horse").await;
    let first = login["refreshToken"].as_str().expect("refresh").to_string();
    let rotated: Value = app.refresh(&first).await.json().await.expect("json");
    let second = rotated["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_string();
    let access = rotated["token"].as_str().expect("token").to_string();

    // The thief replays the old token: the whole session dies.
    ild_error(app.refresh(&first).await, StatusCode::UNAUTHORIZED).await;
    ild_error(app.refresh(&second).await, StatusCode::UNAUTHORIZED).await;
    ild_error(
        app.get_auth("/sign/check", &access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(
        app.get_auth("/sign/check", login["token"].as_str().expect("t"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

on_both_backends!(a_rotated_refresh_token_within_the_grace_period_returns_the_same_successor);
async fn a_rotated_refresh_token_within_the_grace_period_returns_the_same_successor(
    backend: Backend,
) {
    let app = spawn_app(backend).await; // default grace: 10 s
    let login = app.signed_in("tabs@example.com", "correct horse").await;
    let first = login["refreshToken"].as_str().expect("refresh").to_string();
    let tab_one: Value = app.refresh(&first).await.json().await.expect("json");
    let tab_two = app.refresh(&first).await;
    assert_eq!(tab_two.status(), StatusCode::OK);
    let tab_two: Value = tab_two.json().await.expect("json");
    assert_eq!(tab_one["refreshToken"], tab_two["refreshToken"]);
    // And the session is alive.
    let access = tab_two["token"].as_str().expect("token");
    assert_eq!(
        app.get_auth("/sign/check", access).await.status(),
        StatusCode::OK
    );
    let next = tab_two["refreshToken"].as_str().expect("refresh");
    assert_eq!(app.refresh(next).await.status(), StatusCode::OK);
}

on_both_backends!(changing_the_password_ends_other_sessions_but_keeps_the_current_one);
async fn changing_the_password_ends_other_sessions_but_keeps_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = app.signed_in("change@example.com", "correct horse").await;
    let laptop: Value = app
        .login("change@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    let laptop_token = laptop["token"].as_str().expect("token");
    let phone_token = phone["token"].as_str().expect("token");

    let wrong = app
        .client
        .put(app.url("/user/changepassword"))
        .bearer_auth(laptop_token)
        .json(&serde_json::json!({ "currentPassword": "not it", "newPassword": "battery staple" }))
        .send()
        .await
        .expect("request");
    ild_error(wrong, StatusCode::BAD_REQUEST).await;

    let changed = app
        .client
        .put(app.url("/user/changepassword"))
        .bearer_auth(laptop_token)
        .json(&serde_json::json!({ "currentPassword": "correct horse", "newPassword": "battery staple" }))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status(), StatusCode::OK);

    assert_eq!(
        app.get_auth("/sign/check", laptop_token).await.status(),
        StatusCode::OK
    );
    ild_error(
        app.get_auth("/sign/check", phone_token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(
        app.refresh(phone["refreshToken"].as_str().expect("r"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.refresh(laptop["refreshToken"].as_str().expect("r"))
            .await
            .status(),
        StatusCode::OK
    );

    ild_error(
        app.login("change@example.com", "correct horse").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login("change@example.com", "battery staple")
            .await
            .status(),
        StatusCode::OK
    );
}

// A second live instance on the same database: PostgreSQL only.
on_postgres_only!(a_new_instance_rejects_a_logged_out_token_from_its_first_request);
async fn a_new_instance_rejects_a_logged_out_token_from_its_first_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("early@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    assert_eq!(
        app.get_auth("/sign/logout", token).await.status(),
        StatusCode::OK
    );

    // The new instance's very first request: no login in between that
    // would have waited for its deny-list.
    let other = crate::helpers::spawn_app_on(app.db.clone(), |_| {}).await;
    ild_error(
        other.get_auth("/sign/check", token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Ready once its read models were seen caught up as well.
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = other
            .client
            .get(other.url("/ready"))
            .send()
            .await
            .expect("request")
            .status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
}
