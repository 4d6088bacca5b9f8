//! The master key: generated for the embedded default, refused when wrong
//! or missing, rotated while instances serve (docs/personal-data.md).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    eventauth_command, spawn_app_on, temp_dir, Backend, ChildServer, TestDb, MASTER_KEY,
};

/// Runs `serve` on `data_dir` with `key` (none: unset) and returns what it
/// said, or panics when it keeps running (it started).
fn serve_expecting_refusal(data_dir: &std::path::Path, key: Option<&str>) -> String {
    let mut command = eventauth_command();
    command
        .env_remove("DATABASE_URL")
        .env_remove("EVENTAUTH_MASTER_KEY")
        .env("EVENTAUTH_DATA_DIR", data_dir)
        .env("EVENTAUTH_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(key) = key {
        command.env("EVENTAUTH_MASTER_KEY", key);
    }
    let mut child = command.spawn().expect("start");
    for _ in 0..400 {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "a refused start exits with an error");
            let mut said = String::new();
            for stream in [
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read>,
                Box::new(child.stderr.take().expect("stderr")),
            ] {
                let mut stream = stream;
                stream.read_to_string(&mut said).expect("read");
            }
            return said;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the service started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_generates_its_key_and_never_starts_with_a_wrong_or_missing_one() {
    let data_dir = temp_dir();
    let mut command = eventauth_command();
    command
        .env_remove("DATABASE_URL")
        .env_remove("EVENTAUTH_MASTER_KEY")
        .env("EVENTAUTH_DATA_DIR", data_dir.path());
    let mut server = ChildServer::spawn(command);
    let registered = reqwest::Client::new()
        .post(server.url("/sign/register"))
        .json(&json!({ "email": "keyed@example.com", "password": "correct horse", "firstName": "Ada", "lastName": "Lovelace" }))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let key_file = data_dir.path().join("master.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file)
            .expect("the key was generated")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "readable by the service's user only");
    assert!(
        server.log_text().contains("GENERATED A NEW MASTER KEY"),
        "a loud log line"
    );
    let stopped = server.terminate(Duration::from_secs(10));
    assert!(stopped, "{}", server.log_text());
    drop(server);

    // Missing: the file gone, no key set.
    let saved = std::fs::read_to_string(&key_file).expect("key");
    std::fs::remove_file(&key_file).expect("remove");
    let refused = serve_expecting_refusal(data_dir.path(), None);
    assert!(refused.contains("no master key"), "{refused}");
    assert!(!key_file.exists(), "no new key made over existing data");
    // Wrong: another key.
    let refused = serve_expecting_refusal(data_dir.path(), Some(MASTER_KEY));
    assert!(refused.contains("wrong master key"), "{refused}");
    // Right again: it serves, the person's data reads.
    std::fs::write(&key_file, saved).expect("restore");
    let mut command = eventauth_command();
    command
        .env_remove("DATABASE_URL")
        .env_remove("EVENTAUTH_MASTER_KEY")
        .env("EVENTAUTH_DATA_DIR", data_dir.path());
    let server = ChildServer::spawn(command);
    let login = reqwest::Client::new()
        .post(server.url("/sign/login"))
        .json(&json!({ "email": "keyed@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    assert_eq!(login["user"]["firstName"], "Ada");
}

on_both_backends!(the_master_key_rotates_while_requests_are_served_and_old_data_still_reads);
async fn the_master_key_rotates_while_requests_are_served_and_old_data_still_reads(
    backend: Backend,
) {
    const NEW_KEY: &str = "bmV3LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZy0tLS0=";
    let db = Arc::new(TestDb::create(backend).await);
    // Data written under the old key.
    let old = spawn_app_on(db.clone(), |_| {}).await;
    for n in 0..5 {
        old.signed_in(&format!("old{n}@example.com"), "correct horse")
            .await;
    }
    let db = old.stop().await;
    // Every instance restarts with the new key, the old one accepted.
    let app = spawn_app_on(db.clone(), |c| {
        c.master_key = Some(NEW_KEY.to_string().into());
        c.master_key_previous = Some(MASTER_KEY.to_string().into());
        // The workers register for as long as the rotation takes: no
        // per-address limit may refuse them meanwhile.
        c.registrations_per_ip = 0;
    })
    .await;
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (app, stop, served) = (app.clone(), stop.clone(), served.clone());
        load.push(tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = format!("old{}@example.com", (worker + round) % 5);
                let login = app.login(&email, "correct horse").await;
                assert_eq!(
                    login.status(),
                    StatusCode::OK,
                    "a login during the rotation"
                );
                let login: Value = login.json().await.expect("json");
                let profile = app
                    .get_auth("/user/profile", login["token"].as_str().expect("token"))
                    .await;
                assert_eq!(profile.status(), StatusCode::OK);
                let profile: Value = profile.json().await.expect("json");
                assert_eq!(profile["email"], email.as_str());
                let fresh = app
                    .register(&format!("new{worker}-{round}@example.com"), "correct horse")
                    .await;
                assert_eq!(fresh.status(), StatusCode::CREATED, "a registration");
                served.fetch_add(3, Ordering::Relaxed);
                round += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rotate = eventauth_command();
    rotate
        .arg("rotate-master-key")
        .env("DATABASE_URL", &db.url)
        .env("EVENTAUTH_MASTER_KEY", NEW_KEY)
        .env("EVENTAUTH_MASTER_KEY_PREVIOUS", MASTER_KEY)
        .env("EVENTAUTH_DB_MAX_CONNECTIONS", "2");
    let rotated = crate::helpers::output(rotate).await;
    let said = String::from_utf8_lossy(&rotated.stdout).to_string();
    assert!(
        rotated.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(said.contains("re-wrapped"), "{said}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in load {
        worker.await.expect("no request failed");
    }
    assert!(served.load(Ordering::Relaxed) >= 9);
    let app = Arc::into_inner(app).expect("one owner");
    let db = app.stop().await;

    // Every key is wrapped by the new master now: the old key alone is
    // refused, the new one alone reads everything written before.
    assert!(
        eventauth::startup::Application::build({
            let mut c = crate::helpers::test_config(&db);
            c.master_key = Some(MASTER_KEY.to_string().into());
            c
        })
        .await
        .is_err(),
        "the old key after the rotation"
    );
    let app = spawn_app_on(db, |c| c.master_key = Some(NEW_KEY.to_string().into())).await;
    let login: Value = app
        .login("old0@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(login["user"]["firstName"], "Ada");
    let vault = app.app.store.vault().clone();
    let (same, report) = eventauth::ops::rebuild::verify(app.app.store.db(), vault)
        .await
        .expect("verify");
    assert!(same, "{report}");
}
