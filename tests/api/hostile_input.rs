//! Hostile input (issue 19, item 2): NUL and other control characters in
//! text fields are a 400 in the surface's shape, never a 500, write no
//! event, and squat nothing — checked on the fields that gave 500s, and by
//! the store's backstop for free-form JSON.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::kolibri_world::{hex, world, Browser};

on_both_backends!(nul_characters_are_refused_as_bad_input_on_every_surface);
async fn nul_characters_are_refused_as_bad_input_on_every_surface(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let events = app.event_count().await;

    // Kolibri sign-up with a NUL in the id number: 400, and the username
    // stays free (it used to be claimed before the user failed to store).
    let visitor = Browser::new(&app);
    visitor
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    let squat = visitor
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(
                json!({ "username": "zed", "password": "zedpass", "full_name": "Zed",
                         "id_number": "a\u{0}b", "facility": hex(w.home) }),
            ),
            true,
        )
        .await;
    assert_eq!(squat.status, StatusCode::BAD_REQUEST, "{:?}", squat.body);
    for name in ["ze\u{0}d", "ze\u{7}d"] {
        let refused = visitor
            .send(
                Method::POST,
                "/api/auth/signup",
                Some(json!({ "username": name, "password": "zedpass", "facility": hex(w.home) })),
                true,
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{name:?}: {:?}",
            refused.body
        );
    }
    assert_eq!(app.event_count().await, events, "a refusal wrote an event");
    let signed_up = visitor
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(
                json!({ "username": "zed", "password": "zedpass", "full_name": "Zed",
                         "facility": hex(w.home) }),
            ),
            true,
        )
        .await;
    assert_eq!(
        signed_up.status,
        StatusCode::CREATED,
        "the name was squatted: {:?}",
        signed_up.body
    );

    // Kolibri: editing oneself, and searching.
    let ada = Browser::signed_in(&app, "ada", "adapass").await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let events = app.event_count().await;
    let edit = ada
        .send(
            Method::PATCH,
            &format!("/api/auth/facilityuser/{}", hex(w.id("ada"))),
            Some(json!({ "id_number": "x\u{0}" })),
            true,
        )
        .await;
    assert_eq!(edit.status, StatusCode::BAD_REQUEST, "{:?}", edit.body);
    let search = boss.get("/api/auth/facilityuser?search=a%00").await;
    assert_eq!(search.status, StatusCode::BAD_REQUEST, "{:?}", search.body);
    let deleted = boss.get("/api/auth/deletedfacilityuser?search=a%00").await;
    assert_eq!(
        deleted.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        deleted.body
    );
    assert_eq!(app.event_count().await, events, "a refusal wrote an event");

    // ILD: registration and the admin's user search, in ILD's shape.
    let registered = app
        .post_json(
            "/sign/register",
            &json!({ "email": "nul@example.com", "password": "long enough 1",
                     "firstName": "Nu\u{0}l", "lastName": "Char" }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::BAD_REQUEST);
    let root: Value = app
        .register("root@example.com", "root password 1")
        .await
        .json()
        .await
        .expect("json");
    app.app
        .store
        .execute::<aggregates::User>(
            root["id"].as_str().expect("id"),
            aggregates::UserCommand::GrantRole {
                role: "admin".to_string(),
            },
            &eventauth::service::RequestContext::system().metadata(),
        )
        .await
        .expect("admin");
    let login: Value = app
        .login("root@example.com", "root password 1")
        .await
        .json()
        .await
        .expect("json");
    let root_token = login["token"].as_str().expect("token");
    assert_eq!(
        app.get_auth("/user?search=ab", root_token).await.status(),
        StatusCode::OK
    );
    let search = app.get_auth("/user?search=a%00b", root_token).await;
    assert_eq!(search.status(), StatusCode::BAD_REQUEST);

    // Doubtfire and the shared /v1 login: refused, never a 500.
    for (path, body) in [
        (
            "/api/auth",
            json!({ "username": "a\u{0}@example.com", "password": "x" }),
        ),
        (
            "/v1/auth/login",
            json!({ "email": "a\u{0}@example.com", "password": "x" }),
        ),
    ] {
        let response = app.post_json(path, &body).await;
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
    }
}

on_both_backends!(the_store_refuses_a_nul_in_free_form_json_as_bad_input);
async fn the_store_refuses_a_nul_in_free_form_json_as_bad_input(backend: Backend) {
    use crate::openarchiver::{admin, call, post};
    let app = spawn_app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    let events = app.event_count().await;
    // Policy conditions are any JSON: nothing at the edge looks inside.
    let role = json!({"name": "Auditor", "policies": [
        {"action": "read", "subject": "archive", "conditions": {"owner": "a\u{0}b"}}
    ]});
    let (status, body) = call(&app, Method::POST, "/v1/iam/roles", &root, Some(role)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["message"], "Text must not contain NUL characters");
    assert_eq!(app.event_count().await, events, "a refusal wrote an event");
}
