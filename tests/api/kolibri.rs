//! The Kolibri surface (`/api/auth/*`), compared with what Kolibri 0.19.5
//! answers (its source: `kolibri/core/auth/api.py`).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};

async fn school_with_ada(app: &TestApp) -> uuid::Uuid {
    crate::helpers::facility_with_user(app, "ada", None).await
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

on_both_backends!(username_available_answers_as_kolibri_does);
async fn username_available_answers_as_kolibri_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let facility = school_with_ada(&app).await;
    let hex = facility.simple().to_string();
    let path = "/api/auth/usernameavailable";

    let (status, body) = post(&app, path, &json!({ "username": "ADA", "facility": hex })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!([{ "id": "USERNAME_ALREADY_EXISTS",
                 "metadata": { "field": "username", "message": "Username already exists." } }])
    );
    for path in [path, "/api/auth/usernameavailable/"] {
        let (status, body) = post(&app, path, &json!({ "username": "bob", "facility": hex })).await;
        assert_eq!((status, body), (StatusCode::OK, json!(true)), "{path}");
    }
    // What Kolibri's serializer refuses, field by field.
    let (status, body) = post(&app, path, &json!({ "username": "bob" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["id"], "REQUIRED");
    assert_eq!(body[0]["metadata"]["field"], "facility");
    let (status, body) = post(&app, path, &json!({ "username": " ", "facility": "nope" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let ids: Vec<&str> = body
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["BLANK", "INVALID"]);
    for unknown in [uuid::Uuid::now_v7().simple().to_string()] {
        let (status, body) = post(
            &app,
            path,
            &json!({ "username": "bob", "facility": unknown }),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!("Facility not found"))
        );
    }
    // A body that is not JSON: a 400 in Kolibri's error shape.
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("JSON parse error")),
        "Django REST framework's parse error: {body}"
    );
}
