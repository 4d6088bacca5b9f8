//! A fresh machine: `cargo run` with nothing configured and no services
//! running serves on the embedded store in the data directory.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eventauth_command, temp_dir, ChildServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_run_on_a_fresh_machine_serves_without_any_database_service() {
    let data_dir = temp_dir();
    let mut command = eventauth_command();
    // No subcommand, as `cargo run`; no DATABASE_URL, even if the
    // environment running the tests has one.
    command
        .env_remove("DATABASE_URL")
        .env("EVENTAUTH_DATA_DIR", data_dir.path());
    let server = ChildServer::spawn(command);
    let client = reqwest::Client::new();

    let registered = client
        .post(server.url("/sign/register"))
        .json(&json!({ "email": "first@example.com", "password": "correct horse", "firstName": "Ada", "lastName": "Lovelace" }))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let user: Value = registered.json().await.expect("json");

    let login = client
        .post(server.url("/sign/login"))
        .json(&json!({ "email": "first@example.com", "password": "correct horse" }))
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    let token = login["token"].as_str().expect("token");

    let check = client
        .get(server.url("/sign/check"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(check.status(), StatusCode::OK);
    let check: Value = check.json().await.expect("json");
    assert_eq!(check["authenticated"], true);
    assert_eq!(check["user"]["id"], user["id"]);

    let file = data_dir.path().join("eventauth.db");
    assert!(file.is_file(), "{} was not created", file.display());
    drop(server);
}
