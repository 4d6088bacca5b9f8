//! Many requests at once for the same user or the same email, and a crash
//! half-way through a registration.

use std::collections::HashSet;
use std::time::Duration;

use eventauth::input::Email;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{ild_error, spawn_app, spawn_app_with, Backend};

on_both_backends!(
    twenty_concurrent_correct_logins_of_one_user_all_succeed_with_their_own_sessions,
    threads = 4
);
async fn twenty_concurrent_correct_logins_of_one_user_all_succeed_with_their_own_sessions(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let registered: Value = app
        .register("crowd@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");

    let responses =
        join_all((0..20).map(|_| app.login("crowd@example.com", "correct horse"))).await;

    let mut sessions = HashSet::new();
    for response in responses {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "a concurrent login failed"
        );
        let login: Value = response.json().await.expect("json");
        assert_eq!(login["user"]["id"], registered["id"]);
        let token = login["token"].as_str().expect("token");
        let check = app.get_auth("/sign/check", token).await;
        assert_eq!(check.status(), StatusCode::OK);
        let check: Value = check.json().await.expect("json");
        sessions.insert(check["sessionId"].as_str().expect("sessionId").to_string());
    }
    assert_eq!(sessions.len(), 20, "each login starts its own session");
    let started = app
        .count("SELECT count(*) FROM events WHERE event_type = 'SessionStarted'")
        .await;
    assert_eq!(started, 20);
}

on_both_backends!(
    fifty_concurrent_registrations_of_one_email_create_exactly_one_user,
    threads = 4
);
async fn fifty_concurrent_registrations_of_one_email_create_exactly_one_user(backend: Backend) {
    let app = spawn_app(backend).await;

    let responses =
        join_all((0..50).map(|_| app.register("race@example.com", "correct horse"))).await;

    let mut created = Vec::new();
    for response in responses {
        if response.status() == StatusCode::CREATED {
            created.push(response.json::<Value>().await.expect("json"));
        } else {
            ild_error(response, StatusCode::BAD_REQUEST).await;
        }
    }
    assert_eq!(created.len(), 1, "exactly one registration wins");
    let id: Uuid = created[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");

    let registered = app
        .count("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
        .await;
    assert_eq!(registered, 1, "one UserRegistered event in the store");
    let rows: Vec<Uuid> = app
        .store()
        .await
        .scalars(
            "SELECT user_id FROM users WHERE lower(email) = 'race@example.com'",
            &[],
        )
        .await;
    assert_eq!(rows, vec![id], "the read model holds the winner only");

    // The winner can log in: the claim points at the user that was written.
    let login = app.login("race@example.com", "correct horse").await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    assert_eq!(login["user"]["id"], created[0]["id"]);
}

on_both_backends!(a_crash_between_claiming_an_email_and_writing_the_user_blocks_the_email_only_until_the_claim_is_stale);
async fn a_crash_between_claiming_an_email_and_writing_the_user_blocks_the_email_only_until_the_claim_is_stale(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| c.claim_stale_after = 1).await;
    let email = Email::parse("orphan@example.com", "email").expect("valid email");
    let orphan = Uuid::now_v7();
    eventauth::service::accounts::claim_only(&app.app, &email, orphan)
        .await
        .expect("claim without user");

    // A registration still in flight must not be overtaken.
    ild_error(
        app.register("orphan@example.com", "correct horse").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;

    let response = app.register("orphan@example.com", "correct horse").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("json");
    assert_ne!(user["id"], orphan.to_string());

    let login = app.login("orphan@example.com", "correct horse").await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    assert_eq!(login["user"]["id"], user["id"]);

    // The orphaned id never got a user stream.
    let orphan_events = app
        .count_with(
            "SELECT count(*) FROM events WHERE aggregate_type = 'user' AND aggregate_id = $1",
            &[orphan.to_string().into()],
        )
        .await;
    assert_eq!(orphan_events, 0);
}

on_both_backends!(
    concurrent_registrations_slower_than_the_staleness_window_still_create_exactly_one_user,
    threads = 4
);
/// The claim is checked before hashing and written after; when it changed
/// hands meanwhile and is older than `claim_stale_after` by then, the stale
/// check must not let a live, registered owner be taken over as an orphan.
async fn concurrent_registrations_slower_than_the_staleness_window_still_create_exactly_one_user(
    backend: Backend,
) {
    // One hashing thread makes 50 hashes take longer than the 1 s window.
    let app = spawn_app_with(backend, |c| {
        c.claim_stale_after = 1;
        c.hash_workers = Some(1);
    })
    .await;

    let responses =
        join_all((0..50).map(|_| app.register("slow@example.com", "correct horse"))).await;

    let created = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let registered = app
        .count("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
        .await;
    assert_eq!(
        (created, registered),
        (1, 1),
        "one email, several registered users"
    );
}

on_both_backends!(a_duplicate_registration_is_refused_before_any_password_hashing);
async fn a_duplicate_registration_is_refused_before_any_password_hashing(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    assert_eq!(
        app.register("once@example.com", "correct horse")
            .await
            .status(),
        StatusCode::CREATED
    );
    let hashed = app.app.passwords.jobs_run();
    for email in ["once@example.com", "ONCE@example.com"] {
        let response = app.register(email, "another password").await;
        crate::helpers::ild_error(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.app.passwords.jobs_run(),
        hashed,
        "a refused duplicate cost a hash"
    );
}

on_both_backends!(an_unknown_email_costs_a_password_verification_like_a_known_one);
async fn an_unknown_email_costs_a_password_verification_like_a_known_one(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.register("known@example.com", "correct horse").await;
    let before = app.app.passwords.jobs_run();
    assert_eq!(
        app.login("known@example.com", "wrong password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let known_cost = app.app.passwords.jobs_run() - before;
    let before = app.app.passwords.jobs_run();
    assert_eq!(
        app.login("unknown@example.com", "wrong password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown_cost = app.app.passwords.jobs_run() - before;
    // The dummy verification: the same work, so timing tells nothing.
    assert_eq!(known_cost, 1);
    assert_eq!(unknown_cost, known_cost);
}

// Two instances on one database: PostgreSQL only.
on_postgres_only!(
    a_no_op_decided_on_a_stale_cached_state_is_decided_again_on_the_stored_stream,
    threads = 2
);
/// The first instance keeps the user's state in memory after a command;
/// the second changes it. A command that the stale state would call a
/// no-op ("the nickname is already x") must still write, or the user's
/// change is silently lost.
async fn a_no_op_decided_on_a_stale_cached_state_is_decided_again_on_the_stored_stream(
    backend: crate::helpers::Backend,
) {
    let first = crate::helpers::spawn_app(backend).await;
    let login = first.signed_in("stale@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let second = crate::helpers::spawn_app_on(first.db.clone(), |_| {}).await;
    let set = |app: &crate::helpers::TestApp, nickname: &str| {
        app.client
            .put(app.url("/user/profile"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "nickname": nickname }))
            .send()
    };
    assert!(set(&first, "x")
        .await
        .expect("request")
        .status()
        .is_success());
    assert!(set(&second, "y")
        .await
        .expect("request")
        .status()
        .is_success());
    let again = set(&first, "x").await.expect("request");
    assert!(again.status().is_success());
    let profile: serde_json::Value = first
        .get_auth("/user/profile", &token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["nickname"], "x", "{profile}");
}
