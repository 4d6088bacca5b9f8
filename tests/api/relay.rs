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
    messages_on(NATS, stream, at_least, Duration::from_secs(10)).await
}

/// The stream's messages once it holds `at_least` (or `wait` has passed).
async fn messages_on(url: &str, stream: &str, at_least: usize, wait: Duration) -> Vec<Value> {
    let client = async_nats::connect(url).await.expect("NATS is reachable");
    messages_of(client, stream, at_least, wait).await
}

async fn messages_of(
    client: async_nats::Client,
    stream: &str,
    at_least: usize,
    wait: Duration,
) -> Vec<Value> {
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.expect("stream exists");
    let mut count = 0;
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        count = handle.info().await.map_or(0, |info| info.state.messages);
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

/// The event ids of published messages, in stream order.
fn ids_of(published: &[Value]) -> Vec<String> {
    published
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect()
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
    let published_ids = ids_of(&published);
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
               ('UserRegistered', 'SessionStarted', 'RefreshTokenRotated',
                'EmailVerificationIssued', 'PasswordResetIssued', 'PasswordReset')",
        )
        .await;
    assert!(!secrets.is_empty());
    for payload in secrets {
        let payload: Value = serde_json::from_str(&payload).expect("payload");
        let event = payload
            .as_object()
            .and_then(|o| o.values().next())
            .expect("event");
        for field in [
            "password_hash",
            "refresh_token_hash",
            "previous_hash",
            "token_hash",
        ] {
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
    let published_ids = ids_of(&published);
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
    let published_ids = ids_of(&published);
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

/// Refresh-token rotations (no password hashing, so many events quickly)
/// from `clients` concurrent clients, `rounds` each.
fn background_traffic(
    app: std::sync::Arc<TestApp>,
    clients: usize,
    rounds: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let clients = (0..clients).map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                let email = format!("bg{n}-{}@example.com", uuid::Uuid::new_v4().simple());
                let login = app.signed_in(&email, "correct horse").await;
                let mut token = login["refreshToken"].as_str().expect("refresh").to_string();
                for _ in 0..rounds {
                    let response = app.refresh(&token).await;
                    assert_eq!(response.status(), StatusCode::OK);
                    let refreshed: Value = response.json().await.expect("json");
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
    })
}

/// Waits until `condition` holds (polling), or panics with `what`.
async fn eventually(what: &str, wait: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + wait;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages in the stream right now.
async fn stream_len(stream: &str) -> u64 {
    let Ok(client) = async_nats::connect(NATS).await else {
        return 0;
    };
    let js = async_nats::jetstream::new(client);
    match js.get_stream(stream).await {
        Ok(mut handle) => handle.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

const ACTIVE: &str = "this instance is the active relay";

on_postgres_only!(
    two_instances_one_active_relay_killed_mid_stream_and_replaced_without_loss_or_duplicates,
    threads = 4
);
/// Two `eventauth serve` processes on one PostgreSQL and one NATS: one
/// relays; kill -9 it while it publishes, the other takes over within
/// seconds; the killed one restarts as the standby and takes over in turn
/// when the second is killed. The stream ends up with every event exactly
/// once, in global order.
async fn two_instances_one_active_relay_killed_mid_stream_and_replaced_without_loss_or_duplicates(
    backend: Backend,
) {
    use crate::helpers::ChildServer;
    let (stream, prefix) = stream_names();
    let envs = [
        ("NATS_URL", NATS),
        ("EVENTAUTH_NATS_STREAM", stream.as_str()),
        ("EVENTAUTH_NATS_SUBJECT_PREFIX", prefix.as_str()),
    ];
    // Commands come through an instance without a relay, so killing the
    // relaying processes never interrupts the clients.
    let writer = std::sync::Arc::new(spawn_app_with(backend, |_| {}).await);
    let mut first = ChildServer::start(&writer.db, &envs);
    eventually("the first instance leads", Duration::from_secs(20), || {
        first.log_text().contains(ACTIVE)
    })
    .await;
    let mut second = ChildServer::start(&writer.db, &envs);
    let traffic = background_traffic(writer.clone(), 10, 60);
    // Mid-stream: some events published, more being written.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stream_len(&stream).await < 40 {
        assert!(std::time::Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !second.log_text().contains(ACTIVE),
        "two relays active at once"
    );
    first.kill();
    eventually("the standby takes over", Duration::from_secs(10), || {
        second.log_text().contains(ACTIVE)
    })
    .await;
    // The killed instance comes back as the standby, then the second dies.
    let restarted = ChildServer::start(&writer.db, &envs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!restarted.log_text().contains(ACTIVE));
    second.kill();
    eventually(
        "the restarted one takes over",
        Duration::from_secs(10),
        || restarted.log_text().contains(ACTIVE),
    )
    .await;
    traffic.await.expect("traffic");

    let ids = event_ids(&writer).await;
    assert!(ids.len() > 600, "{} events", ids.len());
    let published = messages(&stream, ids.len()).await;
    assert_eq!(
        ids_of(&published),
        ids,
        "after two crashes: every event exactly once, in global order"
    );
    delete_stream(&stream).await;
}

/// A NATS server of the test's own (so it can be stopped), on a free port
/// with its storage in a temporary directory.
struct PrivateNats {
    url: String,
    port: u16,
    dir: crate::helpers::TempDir,
    args: Vec<String>,
    child: std::process::Child,
}

impl PrivateNats {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra server arguments (e.g. `--user`, `--pass`).
    fn start_with(args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = crate::helpers::temp_dir();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = Self::spawn(port, &dir, &args);
        Self {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            dir,
            args,
            child,
        }
    }

    fn spawn(port: u16, dir: &crate::helpers::TempDir, args: &[String]) -> std::process::Child {
        let binary = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.port, &self.dir, &self.args);
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

on_both_backends!(with_nats_stopped_commands_succeed_and_the_relay_catches_up_when_it_returns);
async fn with_nats_stopped_commands_succeed_and_the_relay_catches_up_when_it_returns(
    backend: Backend,
) {
    let mut nats = PrivateNats::start();
    let (stream, prefix) = stream_names();
    let url = nats.url.clone();
    let app = spawn_app_with(backend, |c| {
        relay_to(c, &stream, &prefix);
        c.nats_url = Some(url.clone().into());
    })
    .await;
    some_traffic(&app, 1).await;
    let before = event_ids(&app).await;
    let published = messages_on(&nats.url, &stream, before.len(), Duration::from_secs(10)).await;
    assert_eq!(ids_of(&published), before);

    nats.stop();
    // Every command still succeeds (asserted inside) while NATS is gone.
    some_traffic(&app, 3).await;
    let ids = event_ids(&app).await;
    assert!(ids.len() > before.len());

    nats.restart();
    // The relay retries with a backoff of at most 10 s.
    let published = messages_on(&nats.url, &stream, ids.len(), Duration::from_secs(30)).await;
    assert_eq!(
        ids_of(&published),
        ids,
        "the relay caught up: every event exactly once, in order"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("eventauth_relay_lag_events"), "{metrics}");
}

on_postgres_only!(with_nats_down_the_relay_backs_off_on_one_database_session);
async fn with_nats_down_the_relay_backs_off_on_one_database_session(backend: Backend) {
    // Nothing listens on port 1: every connection attempt fails at once.
    let app = spawn_app_with(backend, |c| {
        c.nats_url = Some("nats://127.0.0.1:1".into());
    })
    .await;
    let sessions = || async {
        app.count("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            .await
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sessions().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = sessions().await;
    // Retrying every 200 ms on a new session each time opened ~30 in 6 s;
    // backing off (0.4, 0.8, 1.6, 3.2 s …) on the leadership's one session
    // opens none (the checks' own connection aside).
    assert!(
        after - before <= 3,
        "{} new database sessions in 6 s with NATS down",
        after - before
    );
    // Commands still succeed meanwhile.
    let response = app.register("offline@example.com", "long enough 1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

on_both_backends!(
    the_relay_authenticates_to_nats_never_logs_the_password_and_ready_says_when_refused
);
async fn the_relay_authenticates_to_nats_never_logs_the_password_and_ready_says_when_refused(
    backend: Backend,
) {
    const PASSWORD: &str = "pw-Zq7-relay-secret";
    let nats = PrivateNats::start_with(&["--user", "relay", "--pass", PASSWORD]);
    let (stream, prefix) = stream_names();
    let db = crate::helpers::TestDb::create(backend).await;
    let with = |password: &str| format!("nats://relay:{password}@127.0.0.1:{}", nats.port);
    let envs = |url: &str| {
        vec![
            ("NATS_URL", url.to_string()),
            ("EVENTAUTH_NATS_STREAM", stream.clone()),
            ("EVENTAUTH_NATS_SUBJECT_PREFIX", prefix.clone()),
            ("RUST_LOG", "debug".to_string()),
        ]
    };
    let ready = |server: &crate::helpers::ChildServer| {
        let url = server.url("/ready");
        async move {
            reqwest::get(url)
                .await
                .expect("ready")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let right = envs(&with(PASSWORD));
    let server = crate::helpers::ChildServer::start(
        &db,
        &right
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let registered = reqwest::Client::new()
        .post(server.url("/sign/register"))
        .json(&serde_json::json!({"email": "relayed@example.com", "password": "correct horse", "firstName": "Re", "lastName": "Layed"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let client =
        async_nats::ConnectOptions::with_user_and_password("relay".into(), PASSWORD.into())
            .connect(&nats.url)
            .await
            .expect("NATS with credentials");
    let published = messages_of(client, &stream, 1, Duration::from_secs(20)).await;
    assert!(
        !published.is_empty(),
        "nothing published with credentials in NATS_URL"
    );
    assert_eq!(ready(&server).await["relay"], "publishing");
    assert!(
        !server.log_text().contains(PASSWORD),
        "the NATS password is in the log"
    );

    let mut server = server;
    server.kill();
    // Refused credentials: said by /ready and at ERROR, the password still
    // nowhere.
    const WRONG: &str = "not-the-Zq7-password";
    let wrong = envs(&with(WRONG));
    let refused = crate::helpers::ChildServer::start(
        &db,
        &wrong
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let answer = ready(&refused).await;
        if answer["relay"] == "failing" || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answer["relay"], "failing", "{answer}");
    let why = answer["relayError"]
        .as_str()
        .expect("relayError")
        .to_lowercase();
    assert!(why.contains("authorization"), "{why}");
    let log = refused.log_text();
    assert!(
        log.contains("NATS refused the relay's credentials"),
        "no ERROR line"
    );
    assert!(
        !log.contains(WRONG) && !log.contains(PASSWORD),
        "a NATS password is in the log"
    );
}

on_both_backends!(the_relay_authenticates_to_nats_with_a_token);
async fn the_relay_authenticates_to_nats_with_a_token(backend: Backend) {
    const TOKEN: &str = "tok-Zq7-relay";
    let nats = PrivateNats::start_with(&["--auth", TOKEN]);
    let (stream, prefix) = stream_names();
    let url = format!("nats://{TOKEN}@127.0.0.1:{}", nats.port);
    let app = spawn_app_with(backend, |c| {
        relay_to(c, &stream, &prefix);
        c.nats_url = Some(url.clone().into());
    })
    .await;
    some_traffic(&app, 1).await;
    let client = async_nats::ConnectOptions::with_token(TOKEN.into())
        .connect(&nats.url)
        .await
        .expect("NATS with the token");
    let published = messages_of(client, &stream, 1, Duration::from_secs(20)).await;
    assert!(
        !published.is_empty(),
        "nothing published with a token in NATS_URL"
    );
}

on_both_backends!(an_erasure_reaches_subscribers_as_user_erased);
/// Subscribers keep copies of what they derived about a user; `UserErased`
/// tells them to delete them (docs/nats.md).
async fn an_erasure_reaches_subscribers_as_user_erased(backend: Backend) {
    let (stream, prefix) = stream_names();
    let app = relaying_app(backend, &stream, &prefix).await;
    let admin = crate::helpers::admin_token(&app).await;
    let login = app
        .signed_in("forget.me@example.com", "correct horse")
        .await;
    let id = login["user"]["id"].as_str().expect("id");
    let erased = crate::erasure::erase(&app, &admin, id).await;
    assert_eq!(erased.status(), StatusCode::OK);
    let published = messages(&stream, app.event_count().await as usize).await;
    let message = published
        .iter()
        .find(|m| m["type"] == "eventauth.user.UserErased.v1")
        .expect("UserErased published");
    assert_eq!(message["subject"], id);
    assert_eq!(message["data"]["userId"], id);
    assert!(message["data"]["sessionsValidAfter"].is_string());
    assert!(!serde_json::to_string(&published)
        .expect("json")
        .contains("forget.me"));
    delete_stream(&stream).await;
}
