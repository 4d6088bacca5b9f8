//! The operator commands of the binary: `migrate`, `admin create`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{eventauth, spawn_app_on, Backend, TestDb};

on_both_backends!(migrate_creates_the_event_store_and_read_models);
async fn migrate_creates_the_event_store_and_read_models(backend: Backend) {
    let db = TestDb::create(backend).await;
    let output = eventauth(&db, &["migrate"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let store = db.inspect().await.expect("the store exists");
    let tables = store.tables().await;
    store.close().await;
    for table in ["checkpoints", "events", "sessions", "signing_keys", "users"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
    // Running it again is harmless.
    assert!(eventauth(&db, &["migrate"]).await.status.success());
}

on_both_backends!(admin_create_makes_an_administrator_who_can_log_in);
async fn admin_create_makes_an_administrator_who_can_log_in(backend: Backend) {
    let db = std::sync::Arc::new(TestDb::create(backend).await);
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
    )
    .await;
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
    )
    .await;
    assert!(!again.status.success());
}

on_both_backends!(admin_create_refuses_a_weak_password_and_writes_nothing);
async fn admin_create_refuses_a_weak_password_and_writes_nothing(backend: Backend) {
    let db = TestDb::create(backend).await;
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
    )
    .await;
    assert!(!output.status.success());
    // The store may not even exist yet (no schema; on SQLite no file): no
    // events either way.
    let events: Option<i64> = match db.inspect().await {
        Ok(store) => store
            .try_scalars("SELECT count(*) FROM events", &[])
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next()),
        Err(_) => None,
    };
    assert!(events.unwrap_or(0) == 0);
}

on_both_backends!(export_writes_every_event_as_a_json_line_in_order_without_secrets);
async fn export_writes_every_event_as_a_json_line_in_order_without_secrets(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let login = app.signed_in("exported@example.com", "correct horse").await;
    let refresh = login["refreshToken"].as_str().expect("refresh");
    assert_eq!(app.refresh(refresh).await.status(), StatusCode::OK);
    let events = app.event_count().await;
    let db = app.stop().await;

    let output = eventauth(&db, &["export"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len() as i64, events);
    assert!(lines.iter().any(|l| l["eventType"] == "UserRegistered"));
    assert!(!stdout.contains("$argon2"), "a password hash was exported");
    assert!(!stdout.contains(refresh), "a token was exported");

    // Continuing after the second line's cursor gives the rest.
    let cursor = lines[1]["cursor"].as_str().expect("cursor");
    let rest = eventauth(&db, &["export", "--after", cursor]).await;
    assert!(rest.status.success());
    let rest_count = String::from_utf8_lossy(&rest.stdout).lines().count();
    assert_eq!(rest_count, lines.len() - 2);

    // A time range in the future is empty.
    let empty = eventauth(&db, &["export", "--since", "2999-01-01T00:00:00Z"]).await;
    assert!(empty.status.success());
    assert!(empty.stdout.is_empty());
}

on_both_backends!(history_shows_a_users_timeline_with_sessions_and_their_state_at_a_time);
async fn history_shows_a_users_timeline_with_sessions_and_their_state_at_a_time(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let login = app.signed_in("history@example.com", "correct horse").await;
    let user_id = login["user"]["id"].as_str().expect("id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let while_logged_in = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let token = login["token"].as_str().expect("token");
    assert_eq!(
        app.get_auth("/sign/logout", token).await.status(),
        StatusCode::OK
    );
    let db = app.stop().await;

    let text = eventauth(&db, &["history", "history@example.com"]).await;
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    for event in ["UserRegistered", "SessionStarted", "SessionEnded"] {
        assert!(text.contains(event), "{event} missing from:\n{text}");
    }
    assert!(!text.contains("$argon2"), "a password hash in the history");

    let json = eventauth(&db, &["history", &user_id, "--json"]).await;
    assert!(json.status.success());
    let timeline: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let types: Vec<&str> = timeline
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["eventType"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "UserRegistered",
            "EmailVerificationIssued",
            "SessionStarted",
            "SessionEnded"
        ]
    );

    let at = while_logged_in.to_rfc3339();
    let then = eventauth(&db, &["history", &user_id, "--at", &at]).await;
    assert!(
        then.status.success(),
        "{}",
        String::from_utf8_lossy(&then.stderr)
    );
    let then: Value = serde_json::from_slice(&then.stdout).expect("JSON");
    assert_eq!(then["user"]["email"], "history@example.com");
    assert_eq!(then["sessions"][0]["active"], true);
    let now = eventauth(
        &db,
        &[
            "history",
            &user_id,
            "--at",
            &chrono::Utc::now().to_rfc3339(),
        ],
    )
    .await;
    let now: Value = serde_json::from_slice(&now.stdout).expect("JSON");
    assert_eq!(now["sessions"][0]["active"], false);
    assert_eq!(now["sessions"][0]["ended"], "logout");

    let unknown = eventauth(&db, &["history", "nobody@example.com"]).await;
    assert!(!unknown.status.success());
}

on_both_backends!(collection_create_makes_facilities_with_presets_and_classrooms_under_them);
async fn collection_create_makes_facilities_with_presets_and_classrooms_under_them(
    backend: Backend,
) {
    let db = TestDb::create(backend).await;
    let created = async |args: &[&str]| {
        let mut all = vec!["collection", "create"];
        all.extend_from_slice(args);
        let output = eventauth(&db, &all).await;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        (
            output.status.success(),
            stdout,
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, facility, log) = created(&[
        "--kind",
        "facility",
        "--name",
        "Village School",
        "--preset",
        "formal",
    ])
    .await;
    assert!(ok, "{log}");
    uuid::Uuid::parse_str(&facility).expect("prints the new id");
    let (ok, classroom, log) = created(&[
        "--kind",
        "classroom",
        "--name",
        "Class 1",
        "--parent",
        &facility,
    ])
    .await;
    assert!(ok, "{log}");
    let (ok, _, _) = created(&[
        "--kind",
        "learner_group",
        "--name",
        "Group A",
        "--parent",
        &classroom,
    ])
    .await;
    assert!(ok);
    // Wrong parents, no parent, unknown presets and kinds are refused.
    for args in [
        vec!["--kind", "classroom", "--name", "Orphan"],
        vec![
            "--kind",
            "classroom",
            "--name",
            "Nested",
            "--parent",
            &classroom,
        ],
        vec!["--kind", "facility", "--name", "X", "--preset", "anarchic"],
        vec!["--kind", "school", "--name", "X"],
    ] {
        let (ok, _, _) = created(&args).await;
        assert!(!ok, "{args:?} was accepted");
    }
    let store = db.inspect().await.expect("store");
    let kinds = store
        .strings("SELECT kind FROM organizations ORDER BY created_at")
        .await;
    assert_eq!(kinds, ["facility", "classroom", "learner_group"]);
    let settings = store
        .strings("SELECT CAST(settings AS text) FROM organizations WHERE kind = 'facility'")
        .await;
    let settings: Value = serde_json::from_str(&settings[0]).expect("json");
    assert_eq!(settings["learner_can_login_with_no_password"], true);
    assert_eq!(settings["learner_can_sign_up"], false);
    let parents = store
        .count("SELECT count(*) FROM organizations WHERE parent_id IS NOT NULL")
        .await;
    assert_eq!(parents, 2);
    store.close().await;
}

on_both_backends!(collection_settings_change_a_facility_from_a_preset_and_one_by_one);
async fn collection_settings_change_a_facility_from_a_preset_and_one_by_one(backend: Backend) {
    let db = TestDb::create(backend).await;
    let run = async |args: &[&str]| {
        let output = eventauth(&db, args).await;
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, facility, log) =
        run(&["collection", "create", "--kind", "facility", "--name", "F"]).await;
    assert!(ok, "{log}");
    let facility = facility.trim().to_string();
    // nonformal by default: sign-up on, passwordless off.
    let (ok, out, log) = run(&[
        "collection",
        "settings",
        "--facility",
        &facility,
        "--set",
        "learner_can_sign_up=false",
    ])
    .await;
    assert!(ok, "{log}");
    let settings: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(settings["learner_can_sign_up"], false);
    assert_eq!(settings["learner_can_edit_name"], true, "the rest kept");
    let (ok, out, log) = run(&[
        "collection",
        "settings",
        "--facility",
        &facility,
        "--preset",
        "formal",
        "--set",
        "learner_can_sign_up=true",
    ])
    .await;
    assert!(ok, "{log}");
    let settings: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        settings["learner_can_login_with_no_password"], true,
        "formal"
    );
    assert_eq!(settings["learner_can_sign_up"], true, "then the change");
    for bad in [
        "nonsense=true",
        "learner_can_sign_up=maybe",
        "learner_can_sign_up",
    ] {
        let (ok, _, _) = run(&[
            "collection",
            "settings",
            "--facility",
            &facility,
            "--set",
            bad,
        ])
        .await;
        assert!(!ok, "{bad} refused");
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    let (ok, _, _) = run(&["collection", "settings", "--facility", &unknown]).await;
    assert!(!ok, "an unknown facility is refused");
    // Recorded as an event, once per change.
    let store = db.inspect().await.expect("inspect");
    assert_eq!(
        store
            .count("SELECT count(*) FROM events WHERE event_type = 'FacilitySettingsChanged'")
            .await,
        2
    );
}

on_both_backends!(accounts_are_created_and_given_members_from_the_command_line);
async fn accounts_are_created_and_given_members_from_the_command_line(backend: Backend) {
    let db = std::sync::Arc::new(TestDb::create(backend).await);
    let run = async |args: &[&str]| {
        let output = eventauth(&db, args).await;
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, _, log) = run(&[
        "admin",
        "create",
        "--email",
        "member@example.com",
        "--password",
        "member password",
    ])
    .await;
    assert!(ok, "{log}");
    let (ok, account, log) = run(&["account", "create", "--title", "Acme"]).await;
    assert!(ok, "{log}");
    uuid::Uuid::parse_str(&account).expect("prints the new id");
    let (ok, _, log) = run(&[
        "account",
        "add-member",
        "--account",
        &account,
        "--email",
        "member@example.com",
        "--role",
        "owner",
    ])
    .await;
    assert!(ok, "{log}");
    let (ok, _, _) = run(&[
        "account",
        "add-member",
        "--account",
        &account,
        "--email",
        "nobody@example.com",
    ])
    .await;
    assert!(!ok, "an unknown user is an error");

    let app = spawn_app_on(db.clone(), |_| {}).await;
    let login = || async {
        app.post_json(
            "/v1/auth/login",
            &serde_json::json!({"username": "member@example.com", "password": "member password"}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json")
    };
    let session = login().await;
    assert_eq!(session["auth"], true, "{session}");
    assert_eq!(session["account"]["title"], "Acme");
    assert_eq!(session["user"]["roles"], serde_json::json!(["owner"]));

    let (ok, _, log) = run(&[
        "account",
        "remove-member",
        "--account",
        &account,
        "--email",
        "member@example.com",
    ])
    .await;
    assert!(ok, "{log}");
    let session = login().await;
    assert_eq!(session["auth"], false, "{session}");
    assert_eq!(session["account"], Value::Null);
}

on_both_backends!(export_user_then_erase_then_the_log_export_shows_erased_values);
/// The operator's side of a person's rights: `export-user` shows what is
/// held, `erase` destroys it and says so, and the log's export afterwards
/// shows the person's values as "[erased]".
async fn export_user_then_erase_then_the_log_export_shows_erased_values(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    let login = app
        .client
        .post(app.url("/sign/register"))
        .json(&serde_json::json!({ "email": "operator.case@example.com", "password": "correct horse", "firstName": "Orinoco", "lastName": "Case" }))
        .send()
        .await
        .expect("register");
    assert_eq!(login.status(), StatusCode::CREATED);
    let logged_in = app
        .client
        .post(app.url("/sign/login"))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&serde_json::json!({ "email": "operator.case@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("login");
    assert_eq!(logged_in.status(), StatusCode::OK);
    let db = app.stop().await;

    let exported = eventauth(&db, &["export-user", "operator.case@example.com"]).await;
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let exported: Value = serde_json::from_slice(&exported.stdout).expect("JSON");
    assert_eq!(exported["account"]["first_name"], "Orinoco");
    assert_eq!(exported["sessions"][0]["clientIp"], "192.0.2.44");
    let id = exported["userId"].as_str().expect("id").to_string();

    let erased = eventauth(&db, &["erase", "operator.case@example.com"]).await;
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let said = String::from_utf8_lossy(&erased.stdout).to_string();
    assert!(said.starts_with(&format!("erased user {id}")), "{said}");
    assert!(!said.contains("warning"), "nothing clear is left: {said}");
    // Again: nothing more to do, and it says so.
    let again = eventauth(&db, &["erase", &id]).await;
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("already erased"));

    let log = eventauth(&db, &["export"]).await;
    assert!(log.status.success());
    let log = String::from_utf8_lossy(&log.stdout).to_string();
    assert!(log.contains("[erased]"), "{log}");
    for needle in ["operator.case", "Orinoco", "192.0.2.44"] {
        assert!(!log.contains(needle), "{needle} in the export");
    }
    let after = eventauth(&db, &["export-user", &id]).await;
    let after: Value = serde_json::from_slice(&after.stdout).expect("JSON");
    assert_eq!(after["account"]["first_name"], "[erased]");
    assert_eq!(after["account"]["erased"], true);
}
