//! Bad input is refused with a 4xx in the ILD shape, never a 5xx, and
//! writes nothing to the event store.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{ild_error, spawn_app, Backend, TestApp};

/// A complete, valid registration body.
fn registration() -> Value {
    json!({
        "email": "valid@example.com",
        "password": "correct horse",
        "firstName": "Ada",
        "lastName": "Lovelace",
    })
}

/// Sends `request` and asserts the ILD error shape with `status`.
async fn refused(request: RequestBuilder, status: StatusCode) -> Value {
    let response = request.send().await.expect("request");
    assert!(
        !response.status().is_server_error(),
        "5xx for bad input: {}",
        response.status()
    );
    ild_error(response, status).await
}

fn raw_json(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body)
}

on_both_backends!(malformed_json_is_refused_on_register_and_login_without_writing_events);
async fn malformed_json_is_refused_on_register_and_login_without_writing_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    for path in ["/sign/register", "/sign/login"] {
        for body in [
            "{\"email\": \"a@example.com\", ",
            "not json at all",
            "",
            "[1, 2",
        ] {
            refused(raw_json(&app, path, body), StatusCode::BAD_REQUEST).await;
        }
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(each_missing_registration_field_is_refused_and_named);
async fn each_missing_registration_field_is_refused_and_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    for field in ["email", "password", "firstName", "lastName"] {
        let mut body = registration();
        body.as_object_mut().expect("object").remove(field);
        let error = refused(
            app.client.post(app.url("/sign/register")).json(&body),
            StatusCode::BAD_REQUEST,
        )
        .await;
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains(field),
            "missing {field}: message {message:?} does not name it"
        );
    }
    for field in ["email", "password"] {
        let mut body = json!({ "email": "valid@example.com", "password": "correct horse" });
        body.as_object_mut().expect("object").remove(field);
        refused(
            app.client.post(app.url("/sign/login")).json(&body),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_one_megabyte_body_is_refused_as_too_large);
async fn a_one_megabyte_body_is_refused_as_too_large(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    let mut body = registration();
    body["firstName"] = Value::String("a".repeat(1024 * 1024));
    let body = serde_json::to_vec(&body).expect("serialize");
    for path in ["/sign/register", "/sign/login"] {
        refused(
            raw_json(&app, path, body.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .await;
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_public_profile_id_that_is_not_a_uuid_is_a_bad_request);
async fn a_public_profile_id_that_is_not_a_uuid_is_a_bad_request(backend: Backend) {
    let app = spawn_app(backend).await;
    refused(
        app.client.get(app.url("/user/profile/not-a-uuid")),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

on_both_backends!(invalid_emails_are_refused_on_register_and_login);
async fn invalid_emails_are_refused_on_register_and_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    let too_long = format!("{}@example.com", "a".repeat(250));
    for email in [
        "not-an-email",
        "a@",
        "@example.com",
        "   ",
        too_long.as_str(),
    ] {
        let mut body = registration();
        body["email"] = json!(email);
        refused(
            app.client.post(app.url("/sign/register")).json(&body),
            StatusCode::BAD_REQUEST,
        )
        .await;
        refused(
            app.client
                .post(app.url("/sign/login"))
                .json(&json!({ "email": email, "password": "correct horse" })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_password_over_1024_bytes_is_refused_on_register_and_login);
async fn a_password_over_1024_bytes_is_refused_on_register_and_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    // 1025 bytes in 513 characters: the limit is on bytes.
    let long = format!("{}x", "é".repeat(512));
    assert_eq!(long.len(), 1025);
    let mut body = registration();
    body["password"] = json!(long);
    refused(
        app.client.post(app.url("/sign/register")).json(&body),
        StatusCode::BAD_REQUEST,
    )
    .await;
    refused(
        app.client
            .post(app.url("/sign/login"))
            .json(&json!({ "email": "valid@example.com", "password": long })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_too_short_new_password_is_refused_on_register_and_on_change);
async fn a_too_short_new_password_is_refused_on_register_and_on_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    let mut body = registration();
    body["password"] = json!("short");
    refused(
        app.client.post(app.url("/sign/register")).json(&body),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.event_count().await, before);

    let login = app.signed_in("short@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let before = app.event_count().await;
    refused(
        app.client
            .put(app.url("/user/changepassword"))
            .bearer_auth(token)
            .json(&json!({ "currentPassword": "correct horse", "newPassword": "1234567" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(app.event_count().await, before);
    // The old password still works.
    assert_eq!(
        app.login("short@example.com", "correct horse")
            .await
            .status(),
        StatusCode::OK
    );
}

on_both_backends!(a_body_without_the_json_content_type_is_refused);
async fn a_body_without_the_json_content_type_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    let body = serde_json::to_string(&registration()).expect("serialize");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .client
            .post(app.url("/sign/register"))
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        assert!(
            status.is_client_error(),
            "content type {content_type:?} answered {status}"
        );
        ild_error(response, status).await;
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(unknown_routes_are_404_and_wrong_methods_405_in_the_ild_shape);
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_ild_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    refused(
        app.client.get(app.url("/no/such/route")),
        StatusCode::NOT_FOUND,
    )
    .await;
    refused(
        app.client
            .post(app.url("/sign/unknown"))
            .json(&registration()),
        StatusCode::NOT_FOUND,
    )
    .await;
    refused(
        app.client.get(app.url("/sign/register")),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    refused(
        app.client.delete(app.url("/user/profile")),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    refused(
        app.client
            .post(app.url("/user/changepassword"))
            .json(&json!({})),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

on_both_backends!(protected_routes_refuse_a_missing_or_garbage_bearer_token);
async fn protected_routes_refuse_a_missing_or_garbage_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    // A real session exists, so a refusal is not just an empty store.
    app.signed_in("guarded@example.com", "correct horse").await;
    let before = app.event_count().await;
    let change = json!({ "currentPassword": "correct horse", "newPassword": "battery staple" });
    let routes = [
        (Method::GET, "/sign/check"),
        (Method::GET, "/user/profile"),
        (Method::GET, "/sign/logout"),
        (Method::PUT, "/user/changepassword"),
    ];
    for (method, path) in routes {
        for authorization in [
            None,
            Some("Bearer garbage"),
            Some("Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
            Some("Bearer "),
            Some("Basic dXNlcjpwYXNz"),
        ] {
            let mut request = app.client.request(method.clone(), app.url(path));
            if method == Method::PUT {
                request = request.json(&change);
            }
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}"
            );
            ild_error(response, StatusCode::UNAUTHORIZED).await;
        }
    }
    assert_eq!(app.event_count().await, before);
    // The password did not change.
    assert_eq!(
        app.login("guarded@example.com", "correct horse")
            .await
            .status(),
        StatusCode::OK
    );
}

on_both_backends!(a_password_of_the_wrong_type_is_refused_without_echoing_its_value);
async fn a_password_of_the_wrong_type_is_refused_without_echoing_its_value(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    let mut register = registration();
    register["password"] = json!(987_654_321_u64);
    let login = json!({ "email": "valid@example.com", "password": 987_654_321_u64 });
    for (path, body) in [("/sign/register", register), ("/sign/login", login)] {
        let response = app.post_json(path, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let text = response.text().await.expect("body");
        let error: Value = serde_json::from_str(&text).expect("error body is JSON");
        assert!(
            error["error"].is_string() && error["message"].is_string(),
            "not the ILD shape: {text}"
        );
        assert!(
            !text.contains("987654321"),
            "{path} echoed the password: {text}"
        );
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_name_with_control_characters_or_over_100_characters_is_refused);
async fn a_name_with_control_characters_or_over_100_characters_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    for (field, value) in [
        ("firstName", "Ada\u{0}".to_string()),
        ("lastName", "L".repeat(101)),
        ("firstName", "   ".to_string()),
    ] {
        let mut body = registration();
        body[field] = json!(value);
        refused(
            app.client.post(app.url("/sign/register")).json(&body),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_eq!(app.event_count().await, before);
}

on_both_backends!(a_client_value_that_looks_like_a_serde_message_is_not_echoed_back);
async fn a_client_value_that_looks_like_a_serde_message_is_not_echoed_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_json(
            "/sign/login",
            &serde_json::json!({
                "email": "ada@example.com",
                "password": "correct horse",
                "rememberMe": "hunter2 missing field secret-xyz"
            }),
        )
        .await;
    let body = ild_error(response, reqwest::StatusCode::BAD_REQUEST).await;
    let message = body["message"].as_str().expect("message");
    assert!(
        !message.contains("secret-xyz") && !message.contains("hunter2"),
        "{message}"
    );
}
