//! What the read models show, beyond what the HTTP answers already cover.

use aggregates::{Personal, Session, SessionCommand};
use chrono::Utc;
use eventauth::auth::tokens::hash_token;
use eventauth::service::RequestContext;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{spawn_app, Backend};

on_both_backends!(a_login_that_raced_a_password_change_shows_as_revoked_in_the_sessions_read_model);
async fn a_login_that_raced_a_password_change_shows_as_revoked_in_the_sessions_read_model(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("racer@example.com", "correct horse").await;
    let user_id: Uuid = login["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let authenticated_before_the_change = Utc::now();

    let changed = app
        .client
        .put(app.url("/user/changepassword"))
        .bearer_auth(login["token"].as_str().expect("token"))
        .json(&serde_json::json!({ "currentPassword": "correct horse", "newPassword": "battery staple" }))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status(), StatusCode::OK);

    // The racing login commits after the change, with the earlier auth time.
    let session_id = Uuid::now_v7();
    app.app
        .store
        .create::<Session>(
            &session_id.to_string(),
            SessionCommand::Start {
                session_id,
                user_id,
                surface: "ild".into(),
                transport: aggregates::Transport::Bearer,
                active: true,
                account: None,
                remember_me: false,
                refresh_token_hash: hash_token("irrelevant"),
                auth_time: authenticated_before_the_change,
                expires_at: Utc::now() + chrono::Duration::hours(1),
                client_ip: Personal::new(None),
                user_agent: Personal::new(None),
            },
            &RequestContext::system().metadata(),
        )
        .await
        .expect("session started");

    let rows = projections::sessions::of_user(app.app.read_models().await, user_id)
        .await
        .expect("query");
    let raced = rows
        .iter()
        .find(|row| row.session_id == session_id)
        .expect("projected");
    assert_eq!(raced.end_reason.as_deref(), Some("revoked"), "{raced:?}");
    // The session the password was changed from stays active.
    assert_eq!(rows.iter().filter(|row| row.ended_at.is_none()).count(), 1);
}

on_both_backends!(events_carry_the_request_id_actor_client_and_time_as_metadata);
async fn events_carry_the_request_id_actor_client_and_time_as_metadata(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("meta@example.com", "correct horse").await;
    let response = app
        .client
        .post(app.url("/sign/login"))
        .header("user-agent", "metadata-test/1.0")
        .header("x-request-id", "req-12345")
        .json(&serde_json::json!({ "email": "meta@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-12345");
    let body: serde_json::Value = response.json().await.expect("json");
    let metadata: serde_json::Value = app
        .store()
        .await
        .scalar(
            "SELECT metadata FROM events WHERE event_type = 'SessionStarted'",
            &[],
        )
        .await;
    assert_eq!(metadata["correlation_id"], "req-12345");
    assert_eq!(
        metadata["actor"],
        format!("user:{}", body["user"]["id"].as_str().expect("id"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(metadata["time"].as_str().expect("time")).is_ok());
    // Personal data in metadata is stored sealed under the acting user's
    // key, in the tagged form of payloads; nothing of it readable.
    let user_id = body["user"]["id"].as_str().expect("id");
    for name in ["client_ip", "user_agent"] {
        let tagged: serde_json::Value =
            serde_json::from_str(metadata[name].as_str().expect("a tagged value")).expect("json");
        let sealed = tagged["enc"].as_str().expect("sealed");
        assert!(
            sealed.starts_with(&format!("user:{user_id}|#{name}|")),
            "{sealed}"
        );
    }
    let stored = metadata.to_string();
    assert!(
        !stored.contains("127.0.0.1") && !stored.contains("metadata-test"),
        "{stored}"
    );
    // Read through the store's codec, it opens again.
    let opened = app.opened_metadata("SessionStarted").await;
    assert_eq!(opened["client_ip"], r#"{"plain":"127.0.0.1"}"#);
    assert_eq!(opened["user_agent"], r#"{"plain":"metadata-test/1.0"}"#);
}

on_both_backends!(a_batch_folded_in_memory_gives_the_read_models_of_one_event_at_a_time);
/// The projector folds a batch in memory (rows created in it, changed by
/// later events of it, written together); applying the same log one event
/// per batch runs each change as its own SQL. Every kind of event the read
/// models know, including the cases where the fold hands over to SQL in
/// the middle of a user's life, must give the same rows both ways.
async fn a_batch_folded_in_memory_gives_the_read_models_of_one_event_at_a_time(backend: Backend) {
    use projections::{Projector, ProjectorConfig, Wake};
    let test_db = crate::helpers::TestDb::create(backend).await;
    let dir = crate::helpers::temp_dir();
    let url: secrecy::SecretString = test_db.url.clone().into();
    let db = eventauth::store::connect(
        Some(&url),
        dir.path(),
        3,
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("connect");
    eventauth::store::migrate(&db).await.expect("migrate");
    // Synthetic events are written in the clear, as a store from before
    // encryption holds them: read as stored.
    let codec: std::sync::Arc<dyn projections::Codec> = std::sync::Arc::new(projections::Clear);
    projections::rebuild::ensure_version(&db, codec.clone())
        .await
        .expect("read models");
    // The rebuild's first batch (5,000 events) ends among the varied
    // lives: some are folded whole, some cross into the next batch.
    let before = eventauth::ops::synthetic::append(&db, 4_000)
        .await
        .expect("seed");
    eventauth::ops::synthetic::append_varied(&db, 40)
        .await
        .expect("seed varied");
    let after = eventauth::ops::synthetic::append(&db, 1_000)
        .await
        .expect("seed");

    // The live tables, one event per batch.
    let projector = Projector::new(
        db.clone(),
        codec.clone(),
        ProjectorConfig {
            batch_size: 1,
            horizon_poll: std::time::Duration::from_millis(1),
            idle_poll: std::time::Duration::from_millis(5),
            ..ProjectorConfig::default()
        },
        Wake::new(),
    );
    let mut caught_up = projector.caught_up();
    let progress = projector.progress();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(projector.run(stopped));
    caught_up.wait_for(|done| *done).await.expect("caught up");
    // "Caught up" may mean "nothing readable yet": another test's open
    // transaction holds PostgreSQL's horizon (cluster-wide) back. Wait
    // until every event appended is behind the checkpoint.
    let reader = projections::GlobalReader::new(db.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let cursor = *progress.borrow();
        let (behind, _) = reader.lag(cursor).await.expect("lag");
        if behind == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{behind} events never projected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).expect("stop");
    running.await.expect("projector");

    let inspect = crate::helpers::Inspect::of(&db);
    // Per varied email user: the login that raced the password change, the
    // kept session the disabling ended, the one that authenticated before
    // the disabling; per facility user the one its password change ended;
    // per fifth synthetic user the second session.
    let fifths = |n: usize| (n as i64 + 4) / 5;
    assert_eq!(
        inspect
            .count("SELECT count(*) FROM sessions WHERE end_reason = 'revoked'")
            .await,
        40 * 3 + 40 + fifths(before.len()) + fifths(after.len())
    );
    assert_eq!(
        inspect
            .count(
                "SELECT count(*) FROM users WHERE email LIKE 'varied%' AND first_name LIKE 'Renamed%'
                    AND nickname IS NULL AND bio = 'bio' AND language = 'de'
                    AND timezone = 'Europe/Berlin' AND email_verified AND NOT disabled
                    AND subscription_plan = 'pro' AND subscription_status = 'active'
                    AND roles = '[\"editor\"]' AND tutorial_completed_at IS NOT NULL"
            )
            .await,
        40
    );
    assert_eq!(
        inspect
            .count(
                "SELECT count(*) FROM facility_users WHERE deleted_at IS NULL AND NOT is_superuser
                    AND gender = 'FEMALE' AND birth_year = '2001' AND full_name LIKE '%Renamed'"
            )
            .await,
        20
    );
    assert_eq!(
        inspect
            .count(
                "SELECT n FROM counts
                  WHERE name = 'facility_users:00000000-0000-0000-0000-000000000009'"
            )
            .await,
        20
    );

    // A rebuild in batches of 5,000 folds them: the same rows.
    let (same, report) = eventauth::ops::rebuild::verify(&db, codec)
        .await
        .expect("verify runs");
    assert!(same, "{report}");
    db.close().await;
}

// Several instances share only a PostgreSQL store.
on_postgres_only!(an_instance_s_commits_wake_the_readers_of_the_others);
/// Commits notify nobody from their own transaction (that serialized every
/// commit behind the previous one's WAL flush): an instance announces them
/// after the fact, and another instance's readers wake at once instead of
/// at their next poll (here an hour away).
async fn an_instance_s_commits_wake_the_readers_of_the_others(backend: Backend) {
    use projections::Wake;
    use std::time::Duration;

    let db = crate::helpers::TestDb::create(backend).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (here, there) = (Wake::new(), Wake::new());
    tokio::spawn(here.clone().announce(pool.clone(), stopped.clone()));
    tokio::spawn(there.clone().listen(pool.clone(), stopped.clone()));
    let mut reader = there.subscribe(Duration::ZERO);
    // The listener may still be connecting: commit again until it hears.
    let mut heard = false;
    for _ in 0..15 {
        reader.seen();
        here.committed();
        let woken = reader.wait(Duration::from_secs(3600));
        if tokio::time::timeout(Duration::from_secs(2), woken)
            .await
            .is_ok()
        {
            heard = true;
            break;
        }
    }
    assert!(heard, "the other instance's reader was never woken");
    let _ = stop.send(true);
}
