//! Test plumbing: a fresh database per test, the real application on a free
//! port (in-process or as a child process), and typed request helpers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventauth::startup::Application;
use eventauth::{App, Config};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;

/// The PostgreSQL server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("EVENTAUTH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database of one test's own, dropped when the test ends.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("eventauth_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
            .await
            .expect("PostgreSQL is reachable (start it: see README)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        Self {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run outside any runtime (or inside one that is ending).
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) =
                    PgConnection::connect(&format!("{}/postgres", server_url())).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The configuration tests run with: real parameters, small pools.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::defaults();
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.database_url = Some(db.url.clone().into());
    config.db_max_connections = 5;
    config.cookie_secure = false;
    config
}

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app: App,
    pub db: Arc<TestDb>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let db = Arc::new(TestDb::create().await);
    spawn_app_on(db, configure).await
}

/// Another instance on an existing database (restarts, several instances).
pub async fn spawn_app_on(db: Arc<TestDb>, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&db);
    configure(&mut config);
    let application = Application::build(config)
        .await
        .expect("application builds");
    let address = format!("http://{}", application.local_addr());
    let app = application.app().clone();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        app,
        db,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Graceful shutdown, waiting for it to finish.
    pub async fn stop(mut self) -> Arc<TestDb> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
        self.db.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The PostgreSQL pool, for tests that look into the store.
    pub fn pg(&self) -> &sqlx::PgPool {
        self.app.store.db().postgres().expect("this test runs on PostgreSQL")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/sign/register",
            &json!({ "email": email, "password": password, "firstName": "Ada", "lastName": "Lovelace" }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/sign/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers and logs in; returns the login body.
    pub async fn signed_in(&self, email: &str, password: &str) -> Value {
        assert_eq!(
            self.register(email, password).await.status(),
            StatusCode::CREATED
        );
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("login body")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.client
            .get(self.url("/sign/refresh"))
            .header("X-Refresh-Token", refresh_token)
            .send()
            .await
            .expect("request")
    }

    /// Counts events in the store.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.pg())
            .await
            .expect("count events")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the ILD error shape and returns the body.
pub async fn ild_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(body["error"].is_string(), "no `error` in {body}");
    assert!(body["message"].is_string(), "no `message` in {body}");
    body
}

/// The service as a child process, its log lines captured.
pub struct ChildServer {
    pub address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl ChildServer {
    pub fn start(db: &TestDb, envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventauth"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("EVENTAUTH_ADDR", "127.0.0.1:0")
            .env("EVENTAUTH_DB_MAX_CONNECTIONS", "5")
            .env("EVENTAUTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug,sqlx=warn,hyper=info,h2=info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the eventauth binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(tx) = &tx {
                        if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                            if let Some(url) = entry["fields"]["url"].as_str() {
                                let _ = tx.send(url.to_string());
                            }
                        }
                    }
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        let address = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "server did not start; logs: {:?}",
                    logs.lock().map(|l| l.clone())
                )
            });
        Self {
            address,
            logs,
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything logged so far, one string.
    pub fn log_text(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// SIGTERM: asks for a graceful shutdown; returns whether the process
    /// then exited successfully within `wait`.
    pub fn terminate(&mut self, wait: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGKILL: a crash, no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
