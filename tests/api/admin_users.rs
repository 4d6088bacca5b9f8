//! The administrators' user list and user lookup.

use std::collections::HashSet;

use eventauth::ops::synthetic;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{admin_token, ild_error, send, spawn_app, Backend, TestApp};

/// Waits until the read model holds `n` users.
async fn users_projected(app: &TestApp, n: i64) {
    for _ in 0..1_200 {
        if app.count("SELECT count(*) FROM users").await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the read model never held {n} users");
}

on_both_backends!(an_admin_pages_through_ten_thousand_users_without_duplicates_or_gaps);
async fn an_admin_pages_through_ten_thousand_users_without_duplicates_or_gaps(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let seeded = synthetic::append(app.app.store.db(), 44_500)
        .await
        .expect("seed");
    assert!(seeded.len() >= 10_000, "{} users", seeded.len());
    let expected = seeded.len() as i64 + 1;
    users_projected(&app, expected).await;

    let mut seen = HashSet::new();
    let mut page = 1;
    loop {
        let response = app
            .get_auth(&format!("/user?page={page}&pageSize=100"), &admin)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let total: i64 = response.headers()["x-total-count"]
            .to_str()
            .expect("header")
            .parse()
            .expect("number");
        assert_eq!(total, expected);
        let users: Vec<Value> = response.json().await.expect("json");
        if users.is_empty() {
            break;
        }
        assert!(users.len() <= 100);
        for user in &users {
            assert!(user["email"].is_string() && user.get("passwordHash").is_none());
            let id = user["id"].as_str().expect("id").to_string();
            assert!(seen.insert(id), "a user on two pages");
        }
        page += 1;
    }
    assert_eq!(seen.len() as i64, expected, "users missing from the pages");
    for id in &seeded {
        assert!(seen.contains(&id.to_string()));
    }

    // Search and sort.
    let found: Vec<Value> = app
        .get_auth("/user?search=SEED123@", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["email"], "seed123@example.com");
    let none: Vec<Value> = app
        .get_auth("/user?search=%25", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert!(none.is_empty(), "% is matched literally");
    let by_email: Vec<Value> = app
        .get_auth("/user?sort=-email&pageSize=3", &admin)
        .await
        .json()
        .await
        .expect("json");
    let emails: Vec<&str> = by_email
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    let mut sorted = emails.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(emails, sorted);
    assert_eq!(emails[0], "seed9@example.com");

    // One user.
    let one = app.get_auth(&format!("/user/{}", seeded[5]), &admin).await;
    assert_eq!(one.status(), StatusCode::OK);
    let one: Value = one.json().await.expect("json");
    assert_eq!(one["email"], "seed5@example.com");
    let missing = app
        .get_auth(&format!("/user/{}", uuid::Uuid::now_v7()), &admin)
        .await;
    ild_error(missing, StatusCode::NOT_FOUND).await;
    ild_error(
        app.get_auth("/user/not-a-uuid", &admin).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    for bad in [
        "page=0",
        "pageSize=101",
        "pageSize=abc",
        "sort=passwordHash",
        "sort=-",
    ] {
        ild_error(
            app.get_auth(&format!("/user?{bad}"), &admin).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

/// An account id for the account endpoints (none need exist: the refusal
/// comes first).
const ACCOUNT: &str = "0193a000-0000-7000-8000-00000000acc7";

on_both_backends!(a_non_admin_gets_403_and_no_token_401_on_every_admin_endpoint);
async fn a_non_admin_gets_403_and_no_token_401_on_every_admin_endpoint(backend: Backend) {
    use reqwest::Method;
    let app = spawn_app(backend).await;
    let login = app.signed_in("plain@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let id = login["user"]["id"].as_str().expect("id");
    let events = app.event_count().await;
    let endpoints = [
        (Method::GET, "/user".to_string()),
        (Method::GET, format!("/user/{id}")),
        (Method::PATCH, format!("/user/{id}/index")),
        (Method::PUT, format!("/user/{id}/recalculate-subscription")),
        (Method::POST, "/admin/communities".to_string()),
        (Method::POST, format!("/admin/users/{id}/disable")),
        (Method::DELETE, format!("/admin/users/{id}")),
        (Method::POST, format!("/admin/users/{id}/enable")),
        (Method::POST, format!("/admin/users/{id}/end-sessions")),
        (Method::POST, format!("/admin/users/{id}/reset-password")),
        // An action nobody offers tells a non-admin nothing either.
        (Method::POST, format!("/admin/users/{id}/explode")),
        (Method::PUT, format!("/admin/users/{id}/roles/admin")),
        (Method::DELETE, format!("/admin/users/{id}/roles/admin")),
        (Method::PUT, format!("/admin/users/{id}/subscription")),
        (Method::PATCH, format!("/admin/users/{id}/subscription")),
        (Method::DELETE, format!("/admin/users/{id}/subscription")),
        (Method::POST, "/admin/accounts".to_string()),
        (
            Method::PUT,
            format!("/admin/accounts/{ACCOUNT}/members/{id}"),
        ),
        (
            Method::DELETE,
            format!("/admin/accounts/{ACCOUNT}/members/{id}"),
        ),
    ];
    let body = json!({ "name": "x", "plan": "pro", "validUntil": "2099-01-01T00:00:00Z" });
    for (method, path) in &endpoints {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let error = ild_error(response, StatusCode::FORBIDDEN).await;
        assert_eq!(
            error["message"], "Insufficient permissions",
            "{method} {path}"
        );
        let anonymous = app
            .client
            .request(method.clone(), app.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        ild_error(anonymous, StatusCode::UNAUTHORIZED).await;
    }
    // The admin paths of the OpenAPI document are all in the list above.
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let tested: Vec<String> = endpoints
        .iter()
        .map(|(m, p)| {
            format!(
                "{} {}",
                m.as_str().to_lowercase(),
                p.replace(id, "{userId}").replace(ACCOUNT, "{accountId}")
            )
        })
        .collect();
    let mut documented = 0;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let responses = &operation["responses"];
            if responses
                .get("403")
                .is_some_and(|r| r["description"] == "Not an administrator")
            {
                documented += 1;
                let path = path
                    .replace("{action}", "disable")
                    .replace("{role}", "admin");
                assert!(
                    tested.contains(&format!("{method} {path}")),
                    "untested admin endpoint {method} {path}"
                );
            }
        }
    }
    // The four actions share one documented path: 18 calls, 15 operations.
    // (Were the description to change, nothing would match: this fails.)
    assert_eq!(documented, 15, "admin operations found in the document");
    assert_eq!(
        app.event_count().await,
        events,
        "a refused admin call wrote an event"
    );
}

/// A fresh access token of the target user.
async fn logged_in_again(app: &TestApp) -> String {
    let login: Value = app
        .login("target@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    login["token"].as_str().expect("token").to_string()
}

on_both_backends!(an_admin_disables_enables_ends_sessions_forces_a_reset_and_manages_roles);
async fn an_admin_disables_enables_ends_sessions_forces_a_reset_and_manages_roles(
    backend: Backend,
) {
    use reqwest::Method;
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let login = app.signed_in("target@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let id = login["user"]["id"].as_str().expect("id").to_string();
    let post = |action: &str| format!("/admin/users/{id}/{action}");

    // A non-admin can do none of it.
    for path in [post("disable"), format!("/admin/users/{id}/roles/admin")] {
        let method = if path.contains("roles") {
            Method::PUT
        } else {
            Method::POST
        };
        ild_error(
            send(&app, method, &path, &token).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }

    // Disable: tokens die at once, logins are refused, the admin sees it.
    let done = send(&app, Method::POST, &post("disable"), &admin).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(
        app.get_auth("/sign/check", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refused = ild_error(
        app.login("target@example.com", "correct horse").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(refused["message"], "This account is disabled");
    let seen: Value = app
        .get_auth(&format!("/user/{id}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(seen["disabled"], true);
    // A wrong password still says nothing more than a wrong password.
    assert_eq!(
        app.login("target@example.com", "wrong password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Enable, then end every session.
    assert_eq!(
        send(&app, Method::POST, &post("enable"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    let token = logged_in_again(&app).await;
    assert_eq!(
        send(&app, Method::POST, &post("end-sessions"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_auth("/sign/check", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Force a reset: a link is mailed, sessions end.
    let token = logged_in_again(&app).await;
    assert_eq!(
        send(&app, Method::POST, &post("reset-password"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_auth("/sign/check", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        crate::helpers::mails(&app, "target@example.com", "reset_password").await,
        1
    );
    // The mailed link works.
    let link = crate::helpers::mailed_token(&app, "target@example.com", "reset_password").await;
    let reset = app
        .post_json(
            &format!("/sign/reset/{link}"),
            &json!({ "password": "a new correct horse" }),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(
        app.login("target@example.com", "a new correct horse")
            .await
            .status(),
        StatusCode::OK
    );

    // Roles reach the next token.
    let role = |r: &str| format!("/admin/users/{id}/roles/{r}");
    assert_eq!(
        send(&app, Method::PUT, &role("editor"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    let with_role: Value = app
        .login("target@example.com", "a new correct horse")
        .await
        .json()
        .await
        .expect("json");
    assert!(with_role["user"]["roles"]
        .as_array()
        .expect("roles")
        .contains(&Value::from("editor")));
    assert_eq!(
        send(&app, Method::DELETE, &role("editor"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    let seen: Value = app
        .get_auth(&format!("/user/{id}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert!(!seen["roles"]
        .as_array()
        .expect("roles")
        .contains(&Value::from("editor")));
    ild_error(
        send(&app, Method::PUT, &role("Not%20A%20Role"), &admin).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    ild_error(
        send(&app, Method::POST, &post("explode"), &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let nobody = format!("/admin/users/{}/disable", uuid::Uuid::now_v7());
    ild_error(
        send(&app, Method::POST, &nobody, &admin).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Every action is an event with exactly this administrator as actor.
    let admin_check: Value = app
        .get_auth("/sign/check", &admin)
        .await
        .json()
        .await
        .expect("json");
    let admin_actor = format!("user:{}", admin_check["user"]["id"].as_str().expect("id"));
    for event in [
        "UserDisabled",
        "UserEnabled",
        "RoleGranted",
        "RoleRevoked",
        "SessionsRevoked",
        "PasswordResetIssued",
    ] {
        crate::helpers::assert_recorded_with_metadata(&app, event, &admin_actor).await;
    }
}

on_both_backends!(a_granted_or_revoked_admin_role_takes_effect_on_the_next_request);
/// Permissions follow the user's live state, not the roles baked into an
/// access token: a grant works without a new login, a revocation stops the
/// very next request.
async fn a_granted_or_revoked_admin_role_takes_effect_on_the_next_request(backend: Backend) {
    use reqwest::Method;
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let login = app.signed_in("helper@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let id = login["user"]["id"].as_str().expect("id").to_string();
    let role = format!("/admin/users/{id}/roles/admin");
    assert_eq!(
        app.get_auth("/user", &token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, Method::PUT, &role, &admin).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get_auth("/user", &token).await.status(), StatusCode::OK);
    assert_eq!(
        send(&app, Method::DELETE, &role, &admin).await.status(),
        StatusCode::OK
    );
    let error = ild_error(app.get_auth("/user", &token).await, StatusCode::FORBIDDEN).await;
    assert_eq!(error["message"], "Insufficient permissions");
}
