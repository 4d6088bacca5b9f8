//! The real binary as separate processes: several instances on one
//! database, a crash and restart, and what reaches clients and logs.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{ild_error, Backend, ChildServer, TestDb};

/// A client for child processes (no cookie store: every token is explicit).
fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Starts `count` processes at once on `db` (concurrent first starts must
/// agree on one key).
fn start_together(db: &TestDb, count: usize, envs: &[(&str, &str)]) -> Vec<ChildServer> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| ChildServer::start(db, envs)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("server start"))
            .collect()
    })
}

async fn register(client: &Client, server: &ChildServer, email: &str, password: &str) -> Value {
    let response = client
        .post(server.url("/sign/register"))
        .json(&json!({ "email": email, "password": password, "firstName": "Ada", "lastName": "Lovelace" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("json")
}

async fn login(client: &Client, server: &ChildServer, email: &str, password: &str) -> Response {
    client
        .post(server.url("/sign/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("request")
}

async fn logged_in(client: &Client, server: &ChildServer, email: &str, password: &str) -> Value {
    let response = login(client, server, email, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn get_auth(client: &Client, server: &ChildServer, path: &str, token: &str) -> Response {
    client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

async fn jwks_text(client: &Client, server: &ChildServer) -> String {
    let response = client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("jwks")
}

fn token_of(body: &Value) -> String {
    body["token"].as_str().expect("token").to_string()
}

// Two live processes on one database: PostgreSQL only.
on_postgres_only!(
    two_processes_on_one_database_share_their_keys_and_accept_each_others_tokens,
    threads = 2
);
async fn two_processes_on_one_database_share_their_keys_and_accept_each_others_tokens(
    backend: Backend,
) {
    let db = TestDb::create(backend).await;
    let servers = start_together(&db, 2, &[]);
    let (one, two) = (&servers[0], &servers[1]);
    let client = client();

    let jwks_one = jwks_text(&client, one).await;
    let jwks_two = jwks_text(&client, two).await;
    assert_eq!(
        jwks_one, jwks_two,
        "the two processes publish different keys"
    );
    let jwks: JwkSet = serde_json::from_str(&jwks_one).expect("a JWK Set");
    assert_eq!(jwks.keys.len(), 1);

    let user = register(&client, one, "twins@example.com", "correct horse").await;
    let login = logged_in(&client, one, "twins@example.com", "correct horse").await;
    let token = token_of(&login);
    let check = get_auth(&client, two, "/sign/check", &token).await;
    assert_eq!(check.status(), StatusCode::OK);
    let check: Value = check.json().await.expect("json");
    assert_eq!(check["user"]["id"], user["id"]);
    // And the other way round.
    let login_two = logged_in(&client, two, "twins@example.com", "correct horse").await;
    assert_eq!(
        get_auth(&client, one, "/sign/check", &token_of(&login_two))
            .await
            .status(),
        StatusCode::OK
    );

    // A standard JWT library verifies the token against the published JWKS.
    let header = jsonwebtoken::decode_header(&token).expect("JWT header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("the token names its key");
    let jwk = jwks.find(&kid).expect("the token's key is published");
    let key = DecodingKey::from_jwk(jwk).expect("usable key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["eventauth"]);
    validation.set_issuer(&["eventauth"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("token verifies");
    assert_eq!(data.claims["sub"], user["id"]);

    // The check is real: a token with another audience does not verify.
    let mut other_audience = Validation::new(Algorithm::EdDSA);
    other_audience.set_audience(&["someone-else"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &other_audience).is_err());
}

on_both_backends!(
    after_a_crash_and_restart_sessions_keys_and_profiles_survive_and_logouts_stay_final,
    threads = 2
);
async fn after_a_crash_and_restart_sessions_keys_and_profiles_survive_and_logouts_stay_final(
    backend: Backend,
) {
    let db = TestDb::create(backend).await;
    let client = client();
    let mut first = ChildServer::start(&db, &[]);
    let user = register(&client, &first, "phoenix@example.com", "correct horse").await;
    let kept = logged_in(&client, &first, "phoenix@example.com", "correct horse").await;
    let ended = logged_in(&client, &first, "phoenix@example.com", "correct horse").await;
    let logout = get_auth(&client, &first, "/sign/logout", &token_of(&ended)).await;
    assert_eq!(logout.status(), StatusCode::OK);
    let jwks_before = jwks_text(&client, &first).await;

    first.kill();
    assert!(
        client.get(first.url("/health")).send().await.is_err(),
        "the first process still answers"
    );

    let second = ChildServer::start(&db, &[]);
    assert_eq!(jwks_text(&client, &second).await, jwks_before);

    let relogin = logged_in(&client, &second, "phoenix@example.com", "correct horse").await;
    assert_eq!(relogin["user"]["id"], user["id"]);

    let check = get_auth(&client, &second, "/sign/check", &token_of(&kept)).await;
    assert_eq!(check.status(), StatusCode::OK, "the old access token");

    let profile = get_auth(&client, &second, "/user/profile", &token_of(&kept)).await;
    assert_eq!(profile.status(), StatusCode::OK);
    let profile: Value = profile.json().await.expect("json");
    assert_eq!(profile["id"], user["id"]);
    assert_eq!(profile["email"], "phoenix@example.com");
    assert_eq!(profile["firstName"], "Ada");
    assert_eq!(profile["lastName"], "Lovelace");

    ild_error(
        get_auth(&client, &second, "/sign/check", &token_of(&ended)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let refresh_ended = client
        .get(second.url("/sign/refresh"))
        .header(
            "x-refresh-token",
            ended["refreshToken"].as_str().expect("r"),
        )
        .send()
        .await
        .expect("request");
    ild_error(refresh_ended, StatusCode::UNAUTHORIZED).await;
    let refresh_kept = client
        .get(second.url("/sign/refresh"))
        .header("x-refresh-token", kept["refreshToken"].as_str().expect("r"))
        .send()
        .await
        .expect("request");
    assert_eq!(refresh_kept.status(), StatusCode::OK);
}

/// Every status line, header value and body a client saw.
#[derive(Default)]
struct Seen {
    responses: Vec<String>,
}

impl Seen {
    /// Records the response and returns its body as JSON (null if none).
    async fn record(&mut self, response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let mut text = format!("{status}\n");
        for (name, value) in response.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.text().await.expect("body");
        text.push_str(&body);
        self.responses.push(text);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The secret parts of a refresh token (`<session>.<secret>`) and of a JWT
/// (its signature), besides the whole tokens.
fn token_fragments(token: &str) -> Vec<String> {
    let mut fragments = vec![token.to_string()];
    if let Some(last) = token.rsplit('.').next() {
        fragments.push(last.to_string());
    }
    fragments
}

on_both_backends!(
    no_password_hash_token_or_token_hash_reaches_a_response_or_a_log_line,
    threads = 2
);
async fn no_password_hash_token_or_token_hash_reaches_a_response_or_a_log_line(backend: Backend) {
    let db = TestDb::create(backend).await;
    let server = ChildServer::start(&db, &[("RUST_LOG", "debug")]);
    let client = client();
    let mut seen = Seen::default();
    let password = "Plaintext-Alpha-7c1e";
    let new_password = "Plaintext-Bravo-93fd";
    let wrong_password = "Plaintext-Wrong-5b20";
    let mut tokens: Vec<String> = Vec::new();

    let (status, _) = seen
        .record(
            client
                .post(server.url("/sign/register"))
                .json(&json!({ "email": "leak@example.com", "password": password, "firstName": "Ada", "lastName": "Lovelace" }))
                .send()
                .await
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, login_body) = seen
        .record(login(&client, &server, "leak@example.com", password).await)
        .await;
    assert_eq!(status, StatusCode::OK);
    let access = token_of(&login_body);
    let refresh = login_body["refreshToken"]
        .as_str()
        .expect("refreshToken")
        .to_string();
    tokens.extend([access.clone(), refresh.clone()]);

    let (status, _) = seen
        .record(get_auth(&client, &server, "/sign/check", &access).await)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, refreshed) = seen
        .record(
            client
                .get(server.url("/sign/refresh"))
                .header("x-refresh-token", &refresh)
                .send()
                .await
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let access = token_of(&refreshed);
    tokens.extend([
        access.clone(),
        refreshed["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_string(),
    ]);

    let (status, _) = seen
        .record(
            client
                .put(server.url("/user/changepassword"))
                .bearer_auth(&access)
                .json(&json!({ "currentPassword": password, "newPassword": new_password }))
                .send()
                .await
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = seen
        .record(get_auth(&client, &server, "/user/profile", &access).await)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = seen
        .record(get_auth(&client, &server, "/sign/logout", &access).await)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = seen
        .record(login(&client, &server, "leak@example.com", wrong_password).await)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A reset token travels in the path: it is masked in the request log.
    let reset_token = format!(
        "{}.{}{}",
        uuid::Uuid::now_v7().simple(),
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let (status, _) = seen
        .record(
            client
                .post(server.url(&format!("/sign/reset/{reset_token}")))
                .json(&json!({ "password": "short" }))
                .send()
                .await
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    tokens.push(reset_token);

    // The revoked token, presented again, is refused (and maybe logged).
    let (status, _) = seen
        .record(get_auth(&client, &server, "/sign/check", &access).await)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // What the store holds that must never leave it.
    // `->` and `->>` mean the same on jsonb and on SQLite's JSON text.
    let store = db.inspect().await.expect("the store exists");
    let password_hashes = store
        .strings(
            "SELECT h FROM (
             SELECT payload->'UserRegistered'->>'password_hash' AS h FROM events
             UNION ALL
             SELECT payload->'PasswordChanged'->>'password_hash' FROM events
             UNION ALL
             SELECT payload->'PasswordRehashed'->>'password_hash' FROM events
         ) hashes WHERE h IS NOT NULL",
        )
        .await;
    let token_hashes = store
        .strings(
            "SELECT h FROM (
             SELECT payload->'SessionStarted'->>'refresh_token_hash' AS h FROM events
             UNION ALL
             SELECT payload->'RefreshTokenRotated'->>'refresh_token_hash' FROM events
             UNION ALL
             SELECT payload->'RefreshTokenRotated'->>'previous_hash' FROM events
         ) hashes WHERE h IS NOT NULL",
        )
        .await;
    store.close().await;
    assert_eq!(password_hashes.len(), 2, "registration and change");
    assert!(password_hashes.iter().all(|h| h.starts_with("$argon2id$")));
    assert_eq!(token_hashes.len(), 3, "one start, one rotation");

    // An argon2 PHC string's last segment is the digest itself.
    let mut hashes: Vec<String> = Vec::new();
    for hash in &password_hashes {
        hashes.push(hash.clone());
        hashes.push(hash.rsplit('$').next().expect("digest").to_string());
    }
    hashes.extend(token_hashes.iter().cloned());
    let passwords = [password, new_password, wrong_password].map(str::to_string);

    for response in &seen.responses {
        for secret in hashes.iter().chain(&passwords) {
            assert!(
                !response.contains(secret.as_str()),
                "a response carries a hash or password: {response}"
            );
        }
    }

    // Let the last request log lines arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = server.log_text();
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "RUST_LOG=debug did not take effect"
    );
    assert!(
        logs.contains("/user/changepassword"),
        "the requests were not logged at all"
    );
    assert!(
        logs.contains("/sign/reset/{token}"),
        "the reset request was not logged (masked)"
    );
    let token_secrets: Vec<String> = tokens.iter().flat_map(|t| token_fragments(t)).collect();
    for line in logs.lines() {
        for secret in hashes.iter().chain(&passwords).chain(&token_secrets) {
            assert!(
                !line.contains(secret.as_str()),
                "a log line carries a secret ({secret}): {line}"
            );
        }
    }
}

// Two live processes on one database: PostgreSQL only.
on_postgres_only!(
    concurrent_setups_on_two_processes_make_one_administrator,
    threads = 2
);
async fn concurrent_setups_on_two_processes_make_one_administrator(backend: Backend) {
    let db = TestDb::create(backend).await;
    let servers = start_together(&db, 2, &[("EVENTAUTH_OPENARCHIVER_JWT_SECRET", "shared")]);
    let client = client();
    let attempts = (0..50).map(|i| {
        let server = &servers[i % 2];
        let request = client.post(server.url("/v1/auth/setup")).json(&json!({
            "email": format!("admin{i}@example.com"),
            "password": "correct horse battery",
            "first_name": "Ada",
            "last_name": "Admin",
        }));
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(
            (*status, body.clone()),
            (
                StatusCode::FORBIDDEN,
                json!({"message": "Setup has already been completed."})
            )
        );
    }
    let pool = sqlx::PgPool::connect(&db.url).await.expect("database");
    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(registered, 1, "one administrator");
    // Either process accepts the winner's token (one shared secret).
    let token = created[0].1["accessToken"].as_str().expect("token");
    for server in &servers {
        let profile = client
            .get(server.url("/v1/users/profile"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(profile.status(), StatusCode::OK);
    }
}

// Two live processes writing to the same streams: PostgreSQL only.
on_postgres_only!(
    two_processes_writing_to_the_same_users_lose_and_double_no_command,
    threads = 2
);
/// Each process caches the users it writes and appends after the cached
/// sequence; the other process's writes make that stale. Every command
/// acknowledged must be in the log exactly once, none lost to a conflict
/// and none written twice by a retry, and the read models must agree with
/// the log.
async fn two_processes_writing_to_the_same_users_lose_and_double_no_command(backend: Backend) {
    const USERS: usize = 10;
    const COMMANDS: usize = 1000;
    const WORKERS: usize = 8;
    let db = TestDb::create(backend).await;
    let servers = start_together(&db, 2, &[]);
    let client = client();
    let mut tokens = Vec::new();
    for i in 0..USERS {
        let email = format!("shared{i}@example.com");
        register(&client, &servers[0], &email, "correct horse").await;
        tokens.push(token_of(
            &logged_in(&client, &servers[i % 2], &email, "correct horse").await,
        ));
    }

    // Both processes at once, each with its workers; command i of process
    // p changes user i % USERS's nickname to a value of its own.
    let work = (0..2).flat_map(|process| {
        let (client, servers, tokens) = (&client, &servers, &tokens);
        (0..WORKERS).map(move |worker| async move {
            let mut failed = Vec::new();
            for i in (worker..COMMANDS).step_by(WORKERS) {
                let response = client
                    .put(servers[process].url("/user/profile"))
                    .bearer_auth(&tokens[i % USERS])
                    .json(&json!({ "nickname": format!("p{process}c{i}") }))
                    .send()
                    .await
                    .expect("request");
                if response.status() != StatusCode::OK {
                    failed.push((process, i, response.status()));
                }
            }
            failed
        })
    });
    let failed: Vec<_> = futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(failed.is_empty(), "commands not acknowledged: {failed:?}");
    drop(servers);

    let output = crate::helpers::eventauth_command()
        .arg("export")
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("export");
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for line in log.lines() {
        let event: Value = serde_json::from_str(line).expect("a JSON line");
        if event["eventType"] == "ProfileUpdated" {
            for nickname in strings(&event["payload"]) {
                *seen.entry(nickname).or_default() += 1;
            }
        }
    }
    for process in 0..2 {
        for i in 0..COMMANDS {
            let nickname = format!("p{process}c{i}");
            assert_eq!(
                seen.get(&nickname).copied().unwrap_or_default(),
                1,
                "{nickname} is not in the log exactly once"
            );
        }
    }
    // Besides the nicknames, the events hold only their times.
    let nicknames = seen.keys().filter(|text| text.starts_with('p')).count();
    assert_eq!(nicknames, 2 * COMMANDS, "events no command asked for");

    let verify = crate::helpers::eventauth_command()
        .arg("verify")
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("verify");
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// The text values in `value`, however deep.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(fields) => fields.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}
