//! Operations: client IPs behind proxies, CORS, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app_with, Backend, ChildServer, TestDb};

async fn recorded_client_ip(app: &crate::helpers::TestApp) -> Value {
    app.opened_metadata("SessionStarted").await["client_ip"].clone()
}

on_both_backends!(forwarded_for_from_a_trusted_proxy_names_the_client);
async fn forwarded_for_from_a_trusted_proxy_names_the_client(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    app.register("proxied@example.com", "correct horse").await;
    let response = app
        .client
        .post(app.url("/sign/login"))
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.5")
        .json(&serde_json::json!({ "email": "proxied@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorded_client_ip(&app).await, r#"{"plain":"203.0.113.5"}"#);
}

on_both_backends!(forwarded_for_from_anyone_else_is_ignored);
async fn forwarded_for_from_anyone_else_is_ignored(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.register("direct@example.com", "correct horse").await;
    let response = app
        .client
        .post(app.url("/sign/login"))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&serde_json::json!({ "email": "direct@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorded_client_ip(&app).await, r#"{"plain":"127.0.0.1"}"#);
}

on_both_backends!(cors_allows_credentials_only_for_configured_origins);
async fn cors_allows_credentials_only_for_configured_origins(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.cors_origins = vec!["https://app.example.com".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/sign/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.expect("request");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = preflight("https://evil.example.net")
        .await
        .expect("request");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

on_both_backends!(without_configured_origins_no_cross_origin_access_is_granted);
async fn without_configured_origins_no_cross_origin_access_is_granted(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

on_both_backends!(
    sigterm_during_a_burst_finishes_what_started_and_loses_nothing,
    threads = 4
);
async fn sigterm_during_a_burst_finishes_what_started_and_loses_nothing(backend: Backend) {
    let db = TestDb::create(backend).await;
    let mut server = ChildServer::start(&db, &[]);
    let client = reqwest::Client::new();
    let base = server.url("");
    // SIGTERM goes once the first registration is acknowledged, with the
    // rest of the burst still in flight (waiting on a clock instead made
    // the test depend on how fast this machine was that moment).
    let acknowledged = Arc::new(tokio::sync::Notify::new());
    let burst: Vec<_> = (0..30)
        .map(|n| {
            let (client, acknowledged) = (client.clone(), acknowledged.clone());
            let url = format!("{base}/sign/register");
            tokio::spawn(async move {
                let status = client
                    .post(url)
                    .json(&serde_json::json!({
                        "email": format!("burst{n}@example.com"), "password": "correct horse",
                        "firstName": "Burst", "lastName": "Test"
                    }))
                    .send()
                    .await
                    .map(|r| r.status());
                if matches!(status, Ok(StatusCode::CREATED)) {
                    acknowledged.notify_one();
                }
                status
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), acknowledged.notified())
        .await
        .expect("no registration of the burst was acknowledged within a minute");
    let exited_cleanly = tokio::task::spawn_blocking(move || {
        let clean = server.terminate(Duration::from_secs(30));
        (clean, server)
    })
    .await
    .expect("join");
    assert!(
        exited_cleanly.0,
        "eventauth did not exit cleanly on SIGTERM; its last log lines:\n{}",
        exited_cleanly
            .1
            .log_text()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );

    let mut created = 0;
    for outcome in futures::future::join_all(burst).await {
        match outcome.expect("task") {
            // Started and finished: acknowledged.
            Ok(status) if status == StatusCode::CREATED => created += 1,
            // Refused cleanly (e.g. 503 while shutting down) is allowed; a
            // 5xx other than 503 is not.
            Ok(status) => assert!(
                status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status}"
            ),
            // Not started: the connection was refused or closed before.
            Err(_) => {}
        }
    }

    assert!(created > 0, "the burst never got going: nothing to check");

    // Restart: everything acknowledged is there, in the log and the read models.
    let restarted = ChildServer::start(&db, &[]);
    let store = db.inspect().await.expect("the store exists");
    let registered = store
        .count("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
        .await;
    assert!(
        registered >= created,
        "{registered} events for {created} acknowledged registrations"
    );
    let mut users = 0;
    for _ in 0..100 {
        users = store.count("SELECT count(*) FROM users").await;
        if users == registered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        users, registered,
        "read model differs from the log after restart"
    );
    store.close().await;
    drop(restarted);
}

on_both_backends!(
    shed_load_is_a_few_warnings_not_an_error_per_request,
    threads = 2
);
async fn shed_load_is_a_few_warnings_not_an_error_per_request(backend: Backend) {
    // One hashing thread and the smallest queue: a burst of logins is
    // mostly shed with 503.
    let db = crate::helpers::TestDb::create(backend).await;
    let server = crate::helpers::ChildServer::start(
        &db,
        &[
            ("EVENTAUTH_HASH_WORKERS", "1"),
            ("EVENTAUTH_HASH_QUEUE", "64"),
            ("RUST_LOG", "info"),
        ],
    );
    let client = reqwest::Client::new();
    let burst = (0..400).map(|n| {
        client
            .post(server.url("/sign/login"))
            .json(&serde_json::json!({"email": format!("shed{n}@example.com"), "password": "wrong horse"}))
            .send()
    });
    let answers = futures::future::join_all(burst).await;
    let shed = answers
        .iter()
        .filter(|a| {
            a.as_ref()
                .is_ok_and(|a| a.status() == StatusCode::SERVICE_UNAVAILABLE)
        })
        .count();
    assert!(shed >= 100, "only {shed} of 400 were shed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log_text();
    let errors = log
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .count();
    let warnings = log.lines().filter(|l| l.contains("answered 503")).count();
    assert_eq!(errors, 0, "shed load logged as errors");
    assert!(
        (1..=3).contains(&warnings),
        "{warnings} warning lines for {shed} shed requests"
    );
}
