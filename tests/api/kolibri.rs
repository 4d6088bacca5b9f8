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

on_both_backends!(unserved_auth_paths_get_djangos_page_and_the_root_lists_the_router);
async fn unserved_auth_paths_get_djangos_page_and_the_root_lists_the_router(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/api/auth/nope/",
        "/api/auth/facilityuser/a/b/",
        "/api/auth/remotefacilityuser",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let page = response.text().await.expect("page");
        assert!(page.contains("<h1>Not Found</h1>"), "{path}: {page}");
    }
    // A view's own "no such object" stays Kolibri's JSON.
    let missing = app
        .client
        .get(app.url(&format!("/api/auth/facility/{}/", "5".repeat(32))))
        .send()
        .await
        .expect("request");
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body[0]["id"], "NOT_FOUND");

    let root = app
        .client
        .get(app.url("/api/auth/"))
        .send()
        .await
        .expect("request");
    assert_eq!(root.status(), StatusCode::OK);
    let body: Value = root.json().await.expect("json");
    let host = app.address.trim_start_matches("http://");
    assert_eq!(
        body,
        json!({
            "facilityuser": format!("http://{host}/api/auth/facilityuser/"),
            "deletedfacilityuser": format!("http://{host}/api/auth/deletedfacilityuser/"),
            "membership": format!("http://{host}/api/auth/membership/"),
            "role": format!("http://{host}/api/auth/role/"),
        })
    );
}
