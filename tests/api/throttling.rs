//! Login throttling: identical answers for known and unknown identifiers, a
//! lock after the maximum number of failures that even the right password
//! cannot pass, and no event per failed attempt.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{ild_error, spawn_app, spawn_app_on, spawn_app_with, Backend, TestApp};

const MAX_FAILURES: u32 = 3;
const LOCKOUT_SECS: u64 = 2;

async fn throttled_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.login_max_failures = MAX_FAILURES;
        c.login_lockout = LOCKOUT_SECS;
    })
    .await
}

/// Asserts a 429 in the ILD shape with a sensible `Retry-After`; returns the
/// body.
async fn assert_throttled(response: Response) -> Value {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("429 carries Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(
        (1..=LOCKOUT_SECS).contains(&retry_after),
        "Retry-After {retry_after} outside 1..={LOCKOUT_SECS}"
    );
    ild_error(response, StatusCode::TOO_MANY_REQUESTS).await
}

/// Fails `times` logins for `email`, each a plain 401.
async fn fail_logins(app: &TestApp, email: &str, times: u32) {
    for attempt in 1..=times {
        let response = app.login(email, "wrong password").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "failed attempt {attempt} of {email}"
        );
    }
}

async fn user_events(app: &TestApp, user_id: &str) -> Vec<String> {
    app.strings_with(
        "SELECT event_type FROM events
          WHERE aggregate_type = 'user' AND aggregate_id = $1 ORDER BY sequence",
        &[user_id.into()],
    )
    .await
}

async fn register_id(app: &TestApp, email: &str) -> String {
    let response = app.register(email, "correct horse").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("json");
    user["id"].as_str().expect("id").to_string()
}

on_both_backends!(a_wrong_password_and_an_unknown_email_get_the_same_status_and_the_same_body);
async fn a_wrong_password_and_an_unknown_email_get_the_same_status_and_the_same_body(
    backend: Backend,
) {
    let app = throttled_app(backend).await;
    register_id(&app, "known@example.com").await;

    let wrong_password = app.login("known@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", "correct horse").await;

    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.headers().get("content-type"),
        unknown_email.headers().get("content-type")
    );
    let wrong_password = ild_error(wrong_password, StatusCode::UNAUTHORIZED).await;
    let unknown_email = ild_error(unknown_email, StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong_password, unknown_email);
}

on_both_backends!(
    after_the_maximum_failures_even_the_correct_password_is_refused_until_the_lock_ends
);
async fn after_the_maximum_failures_even_the_correct_password_is_refused_until_the_lock_ends(
    backend: Backend,
) {
    let app = throttled_app(backend).await;
    register_id(&app, "locked@example.com").await;

    fail_logins(&app, "locked@example.com", MAX_FAILURES).await;

    assert_throttled(app.login("locked@example.com", "wrong password").await).await;
    assert_throttled(app.login("locked@example.com", "correct horse").await).await;
    // Another identifier is not affected.
    register_id(&app, "bystander@example.com").await;
    assert_eq!(
        app.login("bystander@example.com", "correct horse")
            .await
            .status(),
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_secs(LOCKOUT_SECS) + Duration::from_millis(500)).await;

    let response = app.login("locked@example.com", "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK, "the lock has ended");
    let login: Value = response.json().await.expect("json");
    assert_eq!(login["user"]["email"], "locked@example.com");
}

on_both_backends!(failed_attempts_never_grow_the_user_stream_but_a_lockout_is_recorded_as_an_event);
async fn failed_attempts_never_grow_the_user_stream_but_a_lockout_is_recorded_as_an_event(
    backend: Backend,
) {
    let app = throttled_app(backend).await;
    let id = register_id(&app, "audit@example.com").await;
    let before = user_events(&app, &id).await;
    assert_eq!(
        before,
        vec![
            "UserRegistered".to_string(),
            "EmailVerificationIssued".to_string()
        ]
    );

    fail_logins(&app, "audit@example.com", MAX_FAILURES - 1).await;
    assert_eq!(
        user_events(&app, &id).await,
        before,
        "a failed login wrote to the user's stream"
    );

    fail_logins(&app, "audit@example.com", 1).await;
    assert_eq!(
        user_events(&app, &id).await,
        vec![
            "UserRegistered".to_string(),
            "EmailVerificationIssued".to_string(),
            "UserLockedOut".to_string()
        ]
    );

    // Attempts refused while locked write nothing either.
    assert_throttled(app.login("audit@example.com", "correct horse").await).await;
    assert_throttled(app.login("audit@example.com", "wrong password").await).await;
    assert_eq!(user_events(&app, &id).await.len(), 3);
}

// A second live instance on the same database: PostgreSQL only.
on_postgres_only!(a_lockout_holds_on_another_instance_sharing_the_database);
async fn a_lockout_holds_on_another_instance_sharing_the_database(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.login_max_failures = MAX_FAILURES;
        c.login_lockout = 30;
    })
    .await;
    register_id(&app, "everywhere@example.com").await;
    fail_logins(&app, "everywhere@example.com", MAX_FAILURES).await;
    fail_logins(&app, "nowhere@example.com", MAX_FAILURES).await;

    // A second instance counted none of these failures itself: the locks
    // reach it through the log, for the known and the unknown identifier
    // alike, so neither its answers nor their timing tell them apart.
    let other = spawn_app_on(app.db.clone(), |c| c.login_max_failures = MAX_FAILURES).await;
    let known = other.login("everywhere@example.com", "correct horse").await;
    assert!(known.headers().contains_key("retry-after"));
    let known = ild_error(known, StatusCode::TOO_MANY_REQUESTS).await;
    let unknown = other.login("nowhere@example.com", "correct horse").await;
    assert!(unknown.headers().contains_key("retry-after"));
    let unknown = ild_error(unknown, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(known, unknown);
}

on_both_backends!(
    an_unknown_email_is_throttled_after_the_same_number_of_failures_with_the_same_answer
);
async fn an_unknown_email_is_throttled_after_the_same_number_of_failures_with_the_same_answer(
    backend: Backend,
) {
    let app = throttled_app(backend).await;
    register_id(&app, "real@example.com").await;
    let events_before = app.event_count().await;

    fail_logins(&app, "real@example.com", MAX_FAILURES).await;
    let existing = assert_throttled(app.login("real@example.com", "correct horse").await).await;

    let ghost = format!("ghost-{}@example.com", Uuid::new_v4().simple());
    // Locks are per identifier: the unknown email starts unlocked.
    fail_logins(&app, &ghost, MAX_FAILURES).await;
    let unknown = assert_throttled(app.login(&ghost, "correct horse").await).await;

    assert_eq!(existing, unknown, "the 429s tell the two apart");
    // Only the existing user's lock was recorded.
    let locked = app
        .count("SELECT count(*) FROM events WHERE event_type = 'UserLockedOut'")
        .await;
    assert_eq!(locked, 1);
    // Besides that lock, only the audit trail of failures grew: one
    // `LoginFailed` per verified failure (none while locked).
    let audited = app
        .count("SELECT count(*) FROM events WHERE event_type = 'LoginFailed'")
        .await;
    assert_eq!(audited, 2 * i64::from(MAX_FAILURES));
    // And one lock per identifier on its own stream, known or not.
    let identifier_locks = app
        .count("SELECT count(*) FROM events WHERE event_type = 'LoginLockedOut'")
        .await;
    assert_eq!(identifier_locks, 2);
    assert_eq!(
        app.event_count().await,
        events_before + 1 + audited + identifier_locks
    );
}

on_both_backends!(failed_logins_are_kept_for_audit_per_hashed_identifier_never_on_the_user);
async fn failed_logins_are_kept_for_audit_per_hashed_identifier_never_on_the_user(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.register("audited@example.com", "correct horse").await;
    for email in ["audited@example.com", "nobody@example.com"] {
        let response = app.login(email, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let streams = app
        .strings(
            "SELECT DISTINCT aggregate_id FROM events
              WHERE aggregate_type = 'login_failures' AND event_type = 'LoginFailed'",
        )
        .await;
    // One stream per identifier (existing or not), named by a keyed hash.
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert!(streams.iter().all(|id| !id.contains("example.com")));
    let on_users = app
        .count(
            "SELECT count(*) FROM events WHERE aggregate_type = 'user'
                AND event_type NOT IN ('UserRegistered', 'EmailVerificationIssued')",
        )
        .await;
    assert_eq!(on_users, 0);
}

on_both_backends!(wrong_current_passwords_on_change_are_throttled_like_logins);
async fn wrong_current_passwords_on_change_are_throttled_like_logins(backend: Backend) {
    let app = throttled_app(backend).await;
    let login = app.signed_in("guessed@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let change = |current: &'static str| {
        app.client
            .put(app.url("/user/changepassword"))
            .bearer_auth(token)
            .json(
                &serde_json::json!({ "currentPassword": current, "newPassword": "battery staple" }),
            )
            .send()
    };
    for _ in 0..MAX_FAILURES {
        ild_error(
            change("a guess").await.expect("request"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // Locked: even the right current password is refused for now.
    let response = change("correct horse").await.expect("request");
    assert!(response.headers().contains_key("retry-after"));
    ild_error(response, StatusCode::TOO_MANY_REQUESTS).await;
}

/// A Kolibri facility with `count` learners `learner0…`, each with the
/// password `correct horse`; the facility's id (hex).
async fn classroom(app: &TestApp, count: usize) -> String {
    let facility = crate::helpers::facility_with_user(app, "teacher", Some("correct horse")).await;
    let ctx = eventauth::service::RequestContext::system();
    for n in 0..count {
        eventauth::service::facility_users::register(
            &app.app,
            eventauth::service::facility_users::FacilityRegistration {
                facility,
                username: eventauth::input::Username::parse(&format!("learner{n}"), "username")
                    .expect("valid"),
                full_name: format!("Learner {n}"),
                password: Some(eventauth::service::accounts::Credential::Plain(
                    eventauth::input::Password::new_password("correct horse".into(), "password")
                        .expect("valid"),
                )),
                demographics: aggregates::Demographics::default(),
            },
            &ctx,
        )
        .await
        .expect("registered");
    }
    facility.simple().to_string()
}

/// A Kolibri login attempt: its status and Kolibri error id, if any.
async fn kolibri_login(
    app: &TestApp,
    facility: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Option<String>) {
    let response = app
        .client
        .post(app.url("/api/auth/session/"))
        .json(&serde_json::json!({ "username": username, "password": password, "facility": facility }))
        .send()
        .await
        .expect("login");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let id = body[0]["id"].as_str().map(str::to_string);
    (status, id)
}

on_both_backends!(the_next_step_without_a_password_is_neither_a_failure_nor_audited);
/// Kolibri's sign-in page asks first with the username alone ("Next"):
/// that checks no password, so it counts for nothing.
async fn the_next_step_without_a_password_is_neither_a_failure_nor_audited(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.login_max_failures = MAX_FAILURES).await;
    let facility = classroom(&app, 1).await;
    for _ in 0..(MAX_FAILURES * 3) {
        let (status, id) = kolibri_login(&app, &facility, "learner0", "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(id.as_deref(), Some("MISSING_PASSWORD"));
    }
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'LoginFailed'")
            .await,
        0
    );
    let (status, _) = kolibri_login(&app, &facility, "learner0", "correct horse").await;
    assert_eq!(status, StatusCode::OK);
}

on_both_backends!(forty_learners_behind_one_address_each_mistyping_all_get_in_and_none_is_locked);
/// A classroom: forty learners behind the school's one address, each with
/// the "Next" step and one or two typos before the right password, under
/// the default policy.
async fn forty_learners_behind_one_address_each_mistyping_all_get_in_and_none_is_locked(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let facility = classroom(&app, 40).await;
    // Nobody meets a wait or a lock (every answer below is checked), so
    // the class gets in as fast as the passwords verify.
    for n in 0..40 {
        let learner = format!("learner{n}");
        let (status, id) = kolibri_login(&app, &facility, &learner, "").await;
        assert_eq!(
            (status, id.as_deref()),
            (StatusCode::BAD_REQUEST, Some("MISSING_PASSWORD"))
        );
        for typo in 0..(1 + n % 2) {
            let (status, id) =
                kolibri_login(&app, &facility, &learner, &format!("correct hors{typo}")).await;
            assert_eq!(
                (status, id.as_deref()),
                (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
                "{learner}'s typo {typo}"
            );
        }
        let (status, id) = kolibri_login(&app, &facility, &learner, "correct horse").await;
        assert_eq!((status, id), (StatusCode::OK, None), "{learner} gets in");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'LoginLockedOut'")
            .await,
        0
    );
}

on_both_backends!(
    a_thousand_wrong_passwords_meet_growing_waits_then_a_lock_and_the_owner_gets_in_after_it
);
/// NIST SP 800-63B: growing waits after a few free failures, a lock after
/// at most 100 consecutive ones; the owner gets in once it ends. (Times
/// scaled down: waits from 20 ms to 200 ms, a lock after 10 failures.)
async fn a_thousand_wrong_passwords_meet_growing_waits_then_a_lock_and_the_owner_gets_in_after_it(
    backend: Backend,
) {
    const FREE: u32 = 3;
    const LOCK_AFTER: u32 = 10;
    // Long enough for the remaining cheap attempts to all meet it.
    const LOCKOUT: u64 = 20;
    let app = spawn_app_with(backend, |c| {
        c.login_free_failures = FREE;
        c.login_delay_ms = 20;
        c.login_max_delay = 1;
        c.login_max_failures = LOCK_AFTER;
        c.login_lockout = LOCKOUT;
    })
    .await;
    register_id(&app, "owner@example.com").await;
    let mut failures = Vec::new();
    let mut throttled = 0;
    let mut attempts = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    // A thousand guesses, and on until the lock is met (the waits before it
    // add up to about 1.3 s, which a thousand refused requests may not).
    while attempts < 1000 || (failures.len() as u32) < LOCK_AFTER {
        assert!(std::time::Instant::now() < deadline, "no lock met");
        attempts += 1;
        let response = app.login("owner@example.com", "a wrong guess").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => failures.push(std::time::Instant::now()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                throttled += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        failures.len() as u32,
        LOCK_AFTER,
        "only the failures before the lock were checked"
    );
    assert_eq!(throttled, attempts - LOCK_AFTER);
    // After the free failures, each wait is at least twice the one before
    // (20, 40, 80, 160, 320, 640 ms): the gaps between checked guesses grow.
    for (nth, pair) in failures.windows(2).enumerate().skip(FREE as usize) {
        // `pair[0]` is failure `nth + 1`, the `nth + 1 - FREE`th past the
        // free ones.
        let wait = Duration::from_millis(20 << (nth - FREE as usize)).min(Duration::from_secs(1));
        assert!(
            pair[1] - pair[0] >= wait,
            "gap after failure {} under {wait:?}",
            nth + 1
        );
    }
    assert!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'UserLockedOut'")
            .await
            >= 1
    );
    // The right password too waits for the lock to end, then gets in.
    assert_eq!(
        app.login("owner@example.com", "correct horse")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let locked_at = *failures.last().expect("failures");
    let ends = locked_at + Duration::from_secs(LOCKOUT + 1);
    tokio::time::sleep(ends.saturating_duration_since(std::time::Instant::now())).await;
    assert_eq!(
        app.login("owner@example.com", "correct horse")
            .await
            .status(),
        StatusCode::OK
    );
}

on_both_backends!(one_address_cannot_mass_register_or_mass_mail_and_refusals_write_nothing);
async fn one_address_cannot_mass_register_or_mass_mail_and_refusals_write_nothing(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.registrations_per_ip = 3;
        c.reset_requests_per_ip = 2;
        c.token_redemptions_per_ip = 2;
    })
    .await;
    // Open Archiver's one-time setup (an empty installation) makes an
    // administrator, used at the end.
    let (_, setup) =
        crate::openarchiver::post(&app, "/v1/auth/setup", crate::openarchiver::admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    for n in 0..3 {
        let response = app
            .register(&format!("member{n}@example.com"), "correct horse")
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let events = app.event_count().await;
    let refused = app.register("member3@example.com", "correct horse").await;
    assert!(refused.headers().contains_key("retry-after"));
    ild_error(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.event_count().await,
        events,
        "a refused sign-up wrote events"
    );

    // Reset mails: two, then 429 (known and unknown addresses alike).
    for email in ["member0@example.com", "nobody@example.com"] {
        let response = app
            .post_json("/sign/reset", &serde_json::json!({ "email": email }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = app
        .post_json(
            "/sign/reset",
            &serde_json::json!({ "email": "member1@example.com" }),
        )
        .await;
    ild_error(refused, StatusCode::TOO_MANY_REQUESTS).await;

    // Guessing mailed tokens: two tries, then 429.
    for _ in 0..2 {
        let response = app
            .post_json(
                "/sign/verify",
                &serde_json::json!({ "token": Uuid::new_v4().to_string() }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let refused = app
        .post_json(
            "/sign/verify",
            &serde_json::json!({ "token": Uuid::new_v4().to_string() }),
        )
        .await;
    ild_error(refused, StatusCode::TOO_MANY_REQUESTS).await;

    // An administrator creating accounts for others is not counted (Open
    // Archiver's user administration, from the same address).
    let (_, roles) =
        crate::openarchiver::call(&app, reqwest::Method::GET, "/v1/iam/roles", &root, None).await;
    let role = crate::openarchiver::slugs_id(&roles, "predefined_end_user");
    for n in 0..4 {
        let (status, body) = crate::openarchiver::call(
            &app,
            reqwest::Method::POST,
            "/v1/users",
            &root,
            Some(serde_json::json!({"email": format!("made{n}@example.com"), "password": "correct horse",
                                    "first_name": "Made", "last_name": "ByAdmin", "roleId": role})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}
