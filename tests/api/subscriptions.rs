//! Subscriptions (granted, extended, canceled by administrators,
//! recalculated) and category indexing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{admin_token, call, events_of, ild_error, spawn_app, Backend};

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

on_both_backends!(an_admin_grants_extends_cancels_and_recalculates_a_subscription);
async fn an_admin_grants_extends_cancels_and_recalculates_a_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let login = app.signed_in("member@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let id = login["user"]["id"].as_str().expect("id").to_string();
    let subscription = format!("/admin/users/{id}/subscription");
    let recalculate = format!("/user/{id}/recalculate-subscription");

    let fresh: Value = app
        .get_auth("/user/profile", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(fresh["subscription"]["status"], "none");

    // Bad grants write nothing.
    for bad in [
        json!({ "plan": "Pro Plan!", "validUntil": in_days(30) }),
        json!({ "plan": "pro", "validUntil": in_days(-1) }),
        json!({ "plan": "pro", "validUntil": "next tuesday" }),
        json!({ "plan": "pro" }),
    ] {
        ild_error(
            call(&app, Method::PUT, &subscription, &admin, Some(bad)).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    ild_error(
        call(
            &app,
            Method::PATCH,
            &subscription,
            &admin,
            Some(json!({ "validUntil": in_days(60) })),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type LIKE 'Subscription%'")
            .await,
        0
    );

    let granted = ok(call(
        &app,
        Method::PUT,
        &subscription,
        &admin,
        Some(json!({ "plan": "pro", "validUntil": in_days(30) })),
    )
    .await)
    .await;
    assert_eq!(granted["subscription"]["plan"], "pro");
    assert_eq!(granted["subscription"]["status"], "active");
    // The user sees it on their own profile.
    let own: Value = app
        .get_auth("/user/profile", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["subscription"]["status"], "active");

    // An extension must move the end later.
    ild_error(
        call(
            &app,
            Method::PATCH,
            &subscription,
            &admin,
            Some(json!({ "validUntil": in_days(10) })),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let extended = ok(call(
        &app,
        Method::PATCH,
        &subscription,
        &admin,
        Some(json!({ "validUntil": in_days(60) })),
    )
    .await)
    .await;
    assert_eq!(extended["subscription"]["status"], "active");

    // Canceled: usable until its end; twice is once.
    for _ in 0..2 {
        let canceled = ok(call(&app, Method::DELETE, &subscription, &admin, None).await).await;
        assert_eq!(canceled["subscription"]["status"], "canceled");
    }
    assert_eq!(events_of(&app, "SubscriptionCanceled").await, 1);
    // Nothing changed with time yet: a recalculation records nothing.
    let same = ok(call(&app, Method::PUT, &recalculate, &admin, None).await).await;
    assert_eq!(same["subscription"]["status"], "canceled");
    assert_eq!(events_of(&app, "SubscriptionRecalculated").await, 0);
    // Immediately: over now.
    let ended = ok(call(
        &app,
        Method::DELETE,
        &format!("{subscription}?immediately=true"),
        &admin,
        None,
    )
    .await)
    .await;
    assert_eq!(ended["subscription"]["status"], "expired");

    // A plan that runs out: the recalculation records the expiry, once.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    ok(call(
        &app,
        Method::PUT,
        &subscription,
        &admin,
        Some(json!({ "plan": "trial", "validUntil": soon })),
    )
    .await)
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let before: Value = app
        .get_auth("/user/profile", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        before["subscription"]["status"], "active",
        "nothing recorded the expiry yet"
    );
    for _ in 0..2 {
        let recalculated = ok(call(&app, Method::PUT, &recalculate, &admin, None).await).await;
        assert_eq!(recalculated["subscription"]["status"], "expired");
        assert_eq!(recalculated["subscription"]["plan"], "trial");
    }
    assert_eq!(events_of(&app, "SubscriptionRecalculated").await, 1);
    for event in [
        "SubscriptionGranted",
        "SubscriptionExtended",
        "SubscriptionCanceled",
        "SubscriptionRecalculated",
    ] {
        crate::helpers::assert_recorded_with_metadata(&app, event, "user:").await;
    }

    // Unknown users.
    let nobody = uuid::Uuid::now_v7();
    ild_error(
        call(
            &app,
            Method::PUT,
            &format!("/user/{nobody}/recalculate-subscription"),
            &admin,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

on_both_backends!(an_index_derives_categories_from_communities_profile_and_plan);
async fn an_index_derives_categories_from_communities_profile_and_plan(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let login = app.signed_in("member@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let id = login["user"]["id"].as_str().expect("id").to_string();
    let index = format!("/user/{id}/index");

    let created = call(
        &app,
        Method::POST,
        "/admin/communities",
        &admin,
        Some(json!({ "name": "Rust Berlin" })),
    )
    .await;
    let community: Value = created.json().await.expect("json");
    let community_id = community["id"].as_str().expect("id");
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &format!("/user/community/join/{community_id}"),
            &token,
            None
        )
        .await
        .status(),
        StatusCode::OK
    );
    ok(call(
        &app,
        Method::PUT,
        "/user/profile",
        &token,
        Some(json!({ "language": "de-CH", "location": "Berlin" })),
    )
    .await)
    .await;
    ok(call(
        &app,
        Method::PUT,
        &format!("/admin/users/{id}/subscription"),
        &admin,
        Some(json!({ "plan": "pro", "validUntil": in_days(30) })),
    )
    .await)
    .await;

    let indexed = ok(call(&app, Method::PATCH, &index, &admin, None).await).await;
    assert_eq!(
        indexed["categories"],
        json!([
            "community:rust-berlin",
            "language:de",
            "profile:incomplete",
            "subscriber:pro"
        ]),
        "{indexed}"
    );
    // Unchanged: no new event; changed: a new one.
    ok(call(&app, Method::PATCH, &index, &admin, None).await).await;
    assert_eq!(events_of(&app, "CategoriesIndexed").await, 1);
    app.client
        .put(app.url("/user/tutorial"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    let again = ok(call(&app, Method::PATCH, &index, &admin, None).await).await;
    assert!(
        again["categories"]
            .as_array()
            .expect("array")
            .contains(&json!("tutorial:completed")),
        "{again}"
    );
    assert_eq!(events_of(&app, "CategoriesIndexed").await, 2);
    crate::helpers::assert_recorded_with_metadata(&app, "CategoriesIndexed", "user:").await;
    // Location is personal: it never becomes a category.
    let categories = again["categories"].as_array().expect("array");
    assert!(
        !categories.iter().any(|c| c
            .as_str()
            .is_some_and(|c| c.contains("location") || c.contains(":berlin"))),
        "{again}"
    );
    let nobody = uuid::Uuid::now_v7();
    ild_error(
        call(
            &app,
            Method::PATCH,
            &format!("/user/{nobody}/index"),
            &admin,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
