//! The sign-in page's "set your password" step: a user created without a
//! password (where a facility let learners in without one) gets one with
//! `POST /api/auth/setnonspecifiedpassword`, as in Kolibri 0.19.5.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::kolibri_world::{hex, world, Browser};

on_both_backends!(a_user_without_a_password_sets_one_once_and_signs_in_with_it);
async fn a_user_without_a_password_sets_one_once_and_signs_in_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let home = hex(w.home);
    let visitor = Browser::new(&app);
    let set = |body: Value| {
        visitor.send(
            Method::POST,
            "/api/auth/setnonspecifiedpassword",
            Some(body),
            false,
        )
    };

    // `nopass` has none: the login says so.
    let before = visitor.login("nopass", "secret1", None).await;
    assert_eq!(before.error_ids(), ["PASSWORD_NOT_SPECIFIED"]);

    let events = app.event_count().await;
    let missing = set(json!({"username": "nopass", "facility": home})).await;
    assert_eq!(
        (missing.status, missing.body),
        (
            StatusCode::BAD_REQUEST,
            json!("Must specify username, password, and facility")
        )
    );
    for body in [
        json!({"username": "ada", "password": "secret1", "facility": home}),
        json!({"username": "ghost", "password": "secret1", "facility": home}),
        json!({"username": "nopass", "password": "secret1", "facility": "nope"}),
        json!({"username": "nopass", "password": "secret1", "facility": hex(w.school)}),
    ] {
        let refused = set(body.clone()).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(refused.error_ids(), ["NOT_FOUND"]);
        assert_eq!(
            refused.body[0]["metadata"]["view"],
            "Set Non Specified Password"
        );
    }
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    let done = set(json!({"username": "nopass", "password": "secret1", "facility": home})).await;
    assert_eq!((done.status, done.body), (StatusCode::OK, Value::Null));
    // Only once: now it has one.
    let again = set(json!({"username": "nopass", "password": "stolen", "facility": home})).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let wrong = Browser::new(&app).login("nopass", "stolen", None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let signed_in = Browser::new(&app);
    let ok = signed_in.login("nopass", "secret1", None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(signed_in.signed_in_as().await, "nopass");
}
