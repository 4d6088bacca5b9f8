//! The operator commands of the binary: `migrate`, `admin create`.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app_on, TestDb};

fn eventauth(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventauth"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("EVENTAUTH_DB_MAX_CONNECTIONS", "3")
        .output()
        .expect("run the eventauth binary")
}

#[tokio::test]
async fn migrate_creates_the_event_store_and_read_models() {
    let db = TestDb::create().await;
    let output = eventauth(&db, &["migrate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let mut conn = db.connect().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    for table in ["checkpoints", "events", "sessions", "signing_keys", "users"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
    // Running it again is harmless.
    assert!(eventauth(&db, &["migrate"]).status.success());
}

#[tokio::test]
async fn admin_create_makes_an_administrator_who_can_log_in() {
    let db = std::sync::Arc::new(TestDb::create().await);
    let output = eventauth(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "correct horse",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The password given on the command line is never logged.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("correct horse"));

    let app = spawn_app_on(db.clone(), |_| {}).await;
    let response = app.login("root@example.com", "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["roles"], serde_json::json!(["admin"]));

    // A second administrator with the same email is refused.
    let again = eventauth(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "ROOT@example.com",
            "--password",
            "other password",
        ],
    );
    assert!(!again.status.success());
}

#[tokio::test]
async fn admin_create_refuses_a_weak_password_and_writes_nothing() {
    let db = TestDb::create().await;
    let output = eventauth(
        &db,
        &[
            "admin",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "short",
        ],
    );
    assert!(!output.status.success());
    let mut conn = db.connect().await;
    // The database may not even exist as a schema yet: no events either way.
    let events: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .ok();
    assert!(events.unwrap_or(0) == 0);
}
