//! `eventauth replay` and `eventauth verify` on a store of 100,000 events
//! (PostgreSQL), while the service runs and takes commands.

use std::sync::Arc;
use std::time::Duration;

use eventauth::ops::synthetic;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{eventauth, spawn_app, write, Backend, TestApp};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until the live projector has applied every stored event.
async fn projected(app: &TestApp) {
    let db = app.app.store.db().clone();
    for _ in 0..1_200 {
        let behind = app
            .app
            .reader
            .lag(
                projections::projector::checkpoint(&db, "read_models")
                    .await
                    .expect("checkpoint"),
            )
            .await
            .expect("lag")
            .0;
        if behind == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the projector did not catch up");
}

/// Commands while the replay runs: sign-ups, logins, refreshes, logouts.
fn traffic(
    app: Arc<TestApp>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut done = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let email = format!("live{done}-{}@example.com", Uuid::new_v4().simple());
            let login = app.signed_in(&email, "correct horse").await;
            let refreshed = app
                .refresh(login["refreshToken"].as_str().expect("refresh"))
                .await;
            assert_eq!(refreshed.status(), StatusCode::OK);
            let token = login["token"].as_str().expect("token");
            let profile = app.get_auth("/user/profile", token).await;
            assert_eq!(profile.status(), StatusCode::OK, "profile during replay");
            done += 1;
        }
        done
    })
}

on_both_backends!(replay_while_serving_matches_the_live_read_models_and_verify_finds_tampering);
async fn replay_while_serving_matches_the_live_read_models_and_verify_finds_tampering(
    backend: Backend,
) {
    let app = Arc::new(spawn_app(backend).await);
    let db = app.db.clone();
    // The size on PostgreSQL; the embedded store, single-instance
    // and slower to seed, with a fifth of it.
    let events = match backend {
        Backend::Postgres => 100_000,
        Backend::Sqlite => 20_000,
    };
    let users = synthetic::append(app.app.store.db(), events)
        .await
        .expect("seed the log");
    assert!(app.event_count().await >= events as i64);
    projected(&app).await;
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        users.len() as i64
    );

    // Replay while clients keep signing up, logging in and refreshing.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = traffic(app.clone(), stop.clone());
    let replay = eventauth(&db, &["replay"]).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let signed_up = clients.await.expect("traffic");
    assert!(replay.status.success(), "{}", stdout(&replay));
    assert!(stdout(&replay).contains("replayed"), "{}", stdout(&replay));
    assert!(signed_up > 0);

    // Whatever was written during the replay is in the swapped-in tables.
    projected(&app).await;
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        (users.len() + signed_up) as i64
    );
    let verify = eventauth(&db, &["verify"]).await;
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("users: identical"));
    assert!(stdout(&verify).contains("sessions: identical"));

    // The service keeps working on the new tables.
    let login = app.signed_in("after@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token");
    let profile: Value = app
        .get_auth("/user/profile", token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["email"], "after@example.com", "{profile}");

    // Tamper with a user row and remove a session row: verify names them.
    let victim = users[7];
    let db_handle = app.app.store.db().clone();
    let changed = write(
        &db_handle,
        "UPDATE users SET first_name = 'Mallory' WHERE email = 'seed7@example.com'",
    )
    .await;
    assert_eq!(changed, 1);
    let removed = write(
        &db_handle,
        "DELETE FROM sessions WHERE session_id IN
           (SELECT session_id FROM sessions WHERE client_ip = '192.0.2.7' LIMIT 1)",
    )
    .await;
    assert_eq!(removed, 1);
    let verify = eventauth(&db, &["verify"]).await;
    let report = stdout(&verify);
    assert!(!verify.status.success(), "{report}");
    assert!(report.contains("users: DIFFERENT"), "{report}");
    assert!(report.contains(&victim.to_string()), "{report}");
    assert!(report.contains("sessions: DIFFERENT"), "{report}");
}
