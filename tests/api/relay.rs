//! The NATS JetStream relay, against the real NATS server.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app_on, spawn_app_with, Backend, TestApp};

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream and subject prefix of the test's own.
fn stream_names() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("EA_{}", id.to_uppercase()), format!("ea{id}"))
}

async fn messages(stream: &str, at_least: usize) -> Vec<Value> {
    let client = async_nats::connect(NATS).await.expect("NATS is reachable");
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.expect("stream exists");
    let mut count = 0;
    for _ in 0..200 {
        count = handle.info().await.expect("info").state.messages;
        if count as usize >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut out = Vec::new();
    for sequence in 1..=count {
        let message = handle.get_raw_message(sequence).await.expect("message");
        out.push(serde_json::from_slice(&message.payload).expect("JSON payload"));
    }
    out
}

async fn delete_stream(stream: &str) {
    if let Ok(client) = async_nats::connect(NATS).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(stream)
            .await;
    }
}

/// Every event id of the store, in global order.
async fn event_ids(app: &TestApp) -> Vec<String> {
    let order = match app.backend() {
        Backend::Postgres => "transaction_id, global_position",
        Backend::Sqlite => "global_position",
    };
    app.strings(&format!(
        "SELECT CAST(event_id AS text) FROM events ORDER BY {order}"
    ))
    .await
}

/// An app relaying to a stream of the test's own.
async fn relaying_app(backend: Backend, stream: &str, prefix: &str) -> TestApp {
    spawn_app_with(backend, |c| relay_to(c, stream, prefix)).await
}

fn relay_to(config: &mut eventauth::Config, stream: &str, prefix: &str) {
    config.nats_url = Some(NATS.into());
    config.nats_stream = stream.to_string();
    config.nats_subject_prefix = prefix.to_string();
}

async fn some_traffic(app: &TestApp, n: usize) {
    for i in 0..n {
        let email = format!("relay{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        let login = app.signed_in(&email, "correct horse").await;
        let refresh = login["refreshToken"].as_str().expect("refresh");
        assert_eq!(app.refresh(refresh).await.status(), StatusCode::OK);
        let token = login["token"].as_str().expect("token");
        assert_eq!(
            app.get_auth("/sign/logout", token).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.login(&email, "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

on_both_backends!(
    every_event_reaches_jetstream_once_in_global_order_as_a_cloudevent_without_secrets
);
async fn every_event_reaches_jetstream_once_in_global_order_as_a_cloudevent_without_secrets(
    backend: Backend,
) {
    let (stream, prefix) = stream_names();
    let app = relaying_app(backend, &stream, &prefix).await;
    some_traffic(&app, 3).await;
    let ids = event_ids(&app).await;
    let published = messages(&stream, ids.len()).await;
    let published_ids: Vec<String> = published
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        published_ids, ids,
        "not every event exactly once, in global order"
    );

    for message in &published {
        assert_eq!(message["specversion"], "1.0");
        assert_eq!(message["source"], "urn:eventauth");
        assert_eq!(message["datacontenttype"], "application/json");
        assert!(message["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("eventauth.") && t.ends_with(".v1")));
        assert!(
            message["time"].is_string()
                && message["subject"].is_string()
                && message["data"].is_object()
        );
        assert!(message["eventauthcursor"].is_string());
    }
    // Cursors grow in delivery order.
    let cursors: Vec<(i64, i64)> = published
        .iter()
        .map(|m| {
            let (tx, pos) = m["eventauthcursor"]
                .as_str()
                .expect("cursor")
                .split_once('.')
                .expect("pair");
            (tx.parse().expect("tx"), pos.parse().expect("pos"))
        })
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");

    // No secret and no personal data leaves: password hashes, token hashes,
    // emails, IPs.
    let everything = serde_json::to_string(&published).expect("json");
    let secrets = app
        .strings(
            "SELECT CAST(payload AS text) FROM events WHERE event_type IN
               ('UserRegistered', 'SessionStarted', 'RefreshTokenRotated')",
        )
        .await;
    assert!(!secrets.is_empty());
    for payload in secrets {
        let payload: Value = serde_json::from_str(&payload).expect("payload");
        let event = payload
            .as_object()
            .and_then(|o| o.values().next())
            .expect("event");
        for field in ["password_hash", "refresh_token_hash", "previous_hash"] {
            if let Some(secret) = event[field].as_str() {
                assert!(!everything.contains(secret), "{field} leaked to NATS");
            }
        }
    }
    assert!(
        !everything.contains("example.com"),
        "an email leaked to NATS"
    );
    assert!(!everything.contains("127.0.0.1"), "an IP leaked to NATS");
    delete_stream(&stream).await;
}

on_postgres_only!(a_restarted_relay_continues_without_losing_or_repeating_events);
async fn a_restarted_relay_continues_without_losing_or_repeating_events(backend: Backend) {
    let (stream, prefix) = stream_names();
    let configure = |c: &mut eventauth::Config| relay_to(c, &stream, &prefix);
    let app = spawn_app_with(backend, configure).await;
    some_traffic(&app, 2).await;
    let first = event_ids(&app).await.len();
    messages(&stream, first).await;
    let db = app.stop().await;

    // Events written while no relay runs (NATS "down" for this service).
    let quiet = spawn_app_on(db.clone(), |_| {}).await;
    some_traffic(&quiet, 2).await;
    let db = quiet.stop().await;

    let app = spawn_app_on(db, configure).await;
    some_traffic(&app, 1).await;
    let ids = event_ids(&app).await;
    let published = messages(&stream, ids.len()).await;
    let published_ids: Vec<String> = published
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(published_ids, ids);
    delete_stream(&stream).await;
}

on_postgres_only!(
    a_thousand_commands_from_twenty_clients_arrive_once_in_order_and_per_aggregate_in_sequence,
    threads = 4
);
async fn a_thousand_commands_from_twenty_clients_arrive_once_in_order_and_per_aggregate_in_sequence(
    backend: Backend,
) {
    let (stream, prefix) = stream_names();
    let app = std::sync::Arc::new(relaying_app(backend, &stream, &prefix).await);
    // 20 clients: register + login each, then refreshes (commands that need
    // no password hashing) up to 50 commands per client.
    let clients = (0..20).map(|n| {
        let app = app.clone();
        tokio::spawn(async move {
            let login = app
                .signed_in(&format!("client{n}@example.com"), "correct horse")
                .await;
            let mut token = login["refreshToken"].as_str().expect("refresh").to_string();
            for _ in 0..48 {
                let refreshed: Value = app.refresh(&token).await.json().await.expect("json");
                token = refreshed["refreshToken"]
                    .as_str()
                    .expect("refresh")
                    .to_string();
            }
        })
    });
    for client in futures::future::join_all(clients).await {
        client.expect("client");
    }
    let ids = event_ids(&app).await;
    assert!(ids.len() >= 1000, "{} events", ids.len());
    let published = messages(&stream, ids.len()).await;
    let published_ids: Vec<String> = published
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        published_ids.len(),
        ids.len(),
        "lost or duplicated messages"
    );
    assert_eq!(published_ids, ids, "not in global order");
    let mut last: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for message in &published {
        let aggregate = message["subject"].as_str().expect("subject").to_string();
        let sequence = message["eventauthsequence"].as_i64().expect("sequence");
        let previous = last.insert(aggregate.clone(), sequence).unwrap_or(0);
        assert_eq!(sequence, previous + 1, "{aggregate} out of sequence");
    }
    delete_stream(&stream).await;
}

on_postgres_only!(a_stock_nats_py_subscriber_receives_and_parses_the_cloudevents);
async fn a_stock_nats_py_subscriber_receives_and_parses_the_cloudevents(backend: Backend) {
    let (stream, prefix) = stream_names();
    let app = relaying_app(backend, &stream, &prefix).await;
    some_traffic(&app, 1).await;
    let ids = event_ids(&app).await;
    messages(&stream, ids.len()).await;

    let python = |args: &[&str]| std::process::Command::new("python3").args(args).output();
    if !python(&["-c", "import nats"]).is_ok_and(|o| o.status.success()) {
        let installed = python(&["-m", "pip", "install", "--quiet", "nats-py"])
            .is_ok_and(|o| o.status.success());
        assert!(installed, "cannot install nats-py (python3 -m pip)");
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/consumer.py");
    let count = ids.len().to_string();
    let subject = format!("{prefix}.>");
    let name = stream.clone();
    let output = tokio::task::spawn_blocking(move || {
        python(&[
            script,
            "--stream",
            &name,
            "--subject",
            &subject,
            "--count",
            &count,
        ])
    })
    .await
    .expect("join")
    .expect("run python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            event["id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(received, ids);
    delete_stream(&stream).await;
}
