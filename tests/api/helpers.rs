//! Test plumbing: a fresh database per test on either backend, the real
//! application on a free port (in-process or as a child process), typed
//! request helpers, backend-agnostic store inspection, and the macros that
//! run one test once per backend.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventauth::startup::Application;
use eventauth::{App, Config};
use projections::Db;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection, FromRow, PgConnection, PgPool, SqlitePool};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Defines one test per backend: `mod $test { postgres(), sqlite() }`, each
/// running the async fn `$test(backend)` of the enclosing module, so a
/// failure names its backend (`sign_flow::some_test::sqlite`).
/// `threads = N` runs them on a multi-threaded runtime.
macro_rules! on_both_backends {
    ($test:ident $(, threads = $n:literal)?) => {
        mod $test {
            backend_test!($test, postgres, Postgres $(, $n)?);
            backend_test!($test, sqlite, Sqlite $(, $n)?);
        }
    };
}

/// Like [`on_both_backends`], for tests about several instances sharing
/// one database: PostgreSQL only (SQLite is the single-instance default).
macro_rules! on_postgres_only {
    ($test:ident $(, threads = $n:literal)?) => {
        mod $test {
            backend_test!($test, postgres, Postgres $(, $n)?);
        }
    };
}

/// One `#[tokio::test]` running `super::$test(Backend::$backend)`.
macro_rules! backend_test {
    ($test:ident, $name:ident, $backend:ident) => {
        #[tokio::test]
        async fn $name() {
            super::$test($crate::helpers::Backend::$backend).await;
        }
    };
    ($test:ident, $name:ident, $backend:ident, $n:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = $n)]
        async fn $name() {
            super::$test($crate::helpers::Backend::$backend).await;
        }
    };
}

/// The storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database on the test PostgreSQL server.
    Postgres,
    /// A fresh SQLite file in a temporary directory of its own.
    Sqlite,
}

/// The PostgreSQL server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("EVENTAUTH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

pub use tempfile::TempDir;

/// A fresh temporary directory, removed when dropped: in the system's
/// temporary directory, named `eventauth-test-…` so that one left behind
/// (a killed run) shows whose it is.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("eventauth-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A database of one test's own, dropped when the test ends: a PostgreSQL
/// database, or a SQLite file in a temporary directory.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// What `DATABASE_URL` is set to.
    pub url: String,
    /// The PostgreSQL database's name.
    name: Option<String>,
    /// The test's own directory: the SQLite file, the blobs.
    dir: TempDir,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let name = format!("eventauth_test_{}", Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .expect("PostgreSQL is reachable (start it: see README)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                Self {
                    backend,
                    url: format!("{}/{name}", server_url()),
                    name: Some(name),
                    dir: temp_dir(),
                }
            }
            Backend::Sqlite => {
                let dir = temp_dir();
                Self {
                    backend,
                    url: format!("sqlite://{}", dir.path().join("eventauth.db").display()),
                    name: None,
                    dir,
                }
            }
        }
    }

    /// A connection of the test's own, to look into the store (the store
    /// must exist: on SQLite the file is not created).
    pub async fn inspect(&self) -> Result<Inspect, sqlx::Error> {
        match self.backend {
            Backend::Postgres => Ok(Inspect::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&self.url)
                    .await?,
            )),
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(&self.url)?
                    .create_if_missing(false)
                    .busy_timeout(Duration::from_secs(10));
                Ok(Inspect::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(2)
                        .connect_with(options)
                        .await?,
                ))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // SQLite: the directory goes with `dir`.
        let Some(name) = self.name.clone() else {
            return;
        };
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

/// A value bound to a `$N` placeholder of an inspection query.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
    /// `uuid` on PostgreSQL, a 16-byte BLOB on SQLite (as the read models
    /// store ids; the events table keeps ids as text on both).
    Uuid(Uuid),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<Uuid> for Arg {
    fn from(value: Uuid) -> Self {
        Self::Uuid(value)
    }
}

/// Read access to a store, whichever the backend. Queries are written once,
/// with PostgreSQL's `$N` placeholders (rewritten for SQLite), in SQL both
/// understand (`->` and `->>` work on SQLite's JSON text as well).
#[derive(Debug, Clone)]
pub enum Inspect {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Inspect {
    /// Inspection through an instance's own pools.
    pub fn of(db: &Db) -> Self {
        match db {
            Db::Postgres(pool) => Self::Postgres(pool.clone()),
            Db::Sqlite { reader, .. } => Self::Sqlite(reader.clone()),
        }
    }

    /// Every row's single column.
    pub async fn try_scalars<T>(&self, sql: &str, args: &[Arg]) -> Result<Vec<T>, sqlx::Error>
    where
        T: Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        match self {
            Self::Postgres(pool) => {
                let mut query = sqlx::query_scalar::<_, T>(sql);
                for arg in args {
                    query = match arg.clone() {
                        Arg::Text(v) => query.bind(v),
                        Arg::Int(v) => query.bind(v),
                        Arg::Uuid(v) => query.bind(v),
                    };
                }
                query.fetch_all(pool).await
            }
            Self::Sqlite(pool) => {
                let sql = projections::db::sqlite_sql(sql);
                let mut query = sqlx::query_scalar::<_, T>(&sql);
                for arg in args {
                    query = match arg.clone() {
                        Arg::Text(v) => query.bind(v),
                        Arg::Int(v) => query.bind(v),
                        Arg::Uuid(v) => query.bind(v),
                    };
                }
                query.fetch_all(pool).await
            }
        }
    }

    /// Every row's single column; panics on errors.
    pub async fn scalars<T>(&self, sql: &str, args: &[Arg]) -> Vec<T>
    where
        T: Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        self.try_scalars(sql, args)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// The single column of the one row `sql` returns.
    pub async fn scalar<T>(&self, sql: &str, args: &[Arg]) -> T
    where
        T: Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        let mut rows = self.scalars(sql, args).await;
        assert_eq!(rows.len(), 1, "{sql}: expected one row");
        rows.remove(0)
    }

    /// `SELECT count(*) …`.
    pub async fn count(&self, sql: &str) -> i64 {
        self.scalar(sql, &[]).await
    }

    /// `SELECT count(*) …` with arguments.
    pub async fn count_with(&self, sql: &str, args: &[Arg]) -> i64 {
        self.scalar(sql, args).await
    }

    /// A text column.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        self.scalars(sql, &[]).await
    }

    /// A text column, with arguments.
    pub async fn strings_with(&self, sql: &str, args: &[Arg]) -> Vec<String> {
        self.scalars(sql, args).await
    }

    /// The names of the tables.
    pub async fn tables(&self) -> Vec<String> {
        let sql = match self {
            Self::Postgres(_) => {
                "SELECT table_name::text FROM information_schema.tables
                  WHERE table_schema = 'public' ORDER BY 1"
            }
            Self::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1",
        };
        self.strings(sql).await
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

impl TestDb {
    /// Where this test's instances keep blobs (profile pictures).
    pub fn blob_dir(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }
}

/// The configuration tests run with: real parameters, small pools.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::defaults();
    config.data_dir = db.dir.path().to_path_buf();
    config.blob_dir = Some(db.blob_dir());
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.database_url = Some(db.url.clone().into());
    config.db_max_connections = 5;
    config.metrics_token = Some(METRICS_TOKEN.to_string().into());
    config.master_key = Some(MASTER_KEY.to_string().into());
    // cookie_secure stays `auto`: these requests are plain HTTP.
    config
}

/// The master key every test instance and command runs with (32 bytes,
/// base64), so instances and CLI runs on one store agree.
pub const MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmctLS0=";

/// The bearer token `/metrics` answers to in tests.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app: App,
    pub db: Arc<TestDb>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    let db = Arc::new(TestDb::create(backend).await);
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
    assert_eq!(
        matches!(app.store.db(), Db::Sqlite { .. }),
        db.backend == Backend::Sqlite,
        "the instance runs on another backend than the test asked for"
    );
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
    /// The metadata of the first event of type `event_type`, as the store's
    /// codec opens it (its personal entries are sealed in the table).
    pub async fn opened_metadata(&self, event_type: &str) -> serde_json::Value {
        // Read in the global order once the read models hold every command
        // answered (on PostgreSQL the order shows a commit only once no
        // earlier transaction is open).
        let batch = projections::GlobalReader::read_from(
            self.app.read_models().await,
            self.app.store.vault().as_ref(),
            projections::Parts::All,
            projections::Cursor::START,
            100_000,
            Some(&[event_type]),
        )
        .await
        .expect("read the log");
        batch
            .events
            .first()
            .expect("such an event")
            .metadata_value()
    }

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

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// Looks into this instance's store, whichever the backend, once its
    /// read models hold every command answered (as a query would).
    pub async fn store(&self) -> Inspect {
        Inspect::of(self.app.read_models().await)
    }

    /// `SELECT count(*) …` on the store.
    pub async fn count(&self, sql: &str) -> i64 {
        self.store().await.count(sql).await
    }

    /// `SELECT count(*) …` with arguments.
    pub async fn count_with(&self, sql: &str, args: &[Arg]) -> i64 {
        self.store().await.count_with(sql, args).await
    }

    /// A text column of the store.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        self.store().await.strings(sql).await
    }

    /// A text column of the store, with arguments.
    pub async fn strings_with(&self, sql: &str, args: &[Arg]) -> Vec<String> {
        self.store().await.strings_with(sql, args).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("text")
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
        self.count("SELECT count(*) FROM events").await
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

/// The real binary, nothing configured yet.
pub fn eventauth_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventauth"));
    command.env("EVENTAUTH_MASTER_KEY", MASTER_KEY);
    command
}

/// Runs `command` to its end on a blocking thread. Never `output()` in the
/// test itself: an in-process server shares the test's one runtime thread,
/// and blocked mid-transaction it would keep SQLite's write lock for as
/// long as the command runs — a command that writes waited its whole
/// patience (120 s) and failed with "database is locked".
pub async fn output(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the eventauth binary"))
        .await
        .expect("the command's thread")
}

/// `eventauth <args>` on `db` (few connections: it runs beside the test's
/// servers), run to its end as [`output`] runs it.
pub async fn eventauth(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut command = eventauth_command();
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("EVENTAUTH_DB_MAX_CONNECTIONS", "3");
    output(command).await
}

impl ChildServer {
    /// `eventauth serve` on `db`, with `envs` on top of the test settings.
    pub fn start(db: &TestDb, envs: &[(&str, &str)]) -> Self {
        let mut command = eventauth_command();
        command
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .envs(envs.iter().copied());
        Self::spawn(command)
    }

    /// Runs `command` (the binary, with its arguments and store settings)
    /// listening on a free port with JSON logs; waits until it listens.
    pub fn spawn(mut command: Command) -> Self {
        // The caller's settings win.
        let configured: Vec<_> = command.get_envs().map(|(k, _)| k.to_owned()).collect();
        for (key, value) in [
            ("EVENTAUTH_ADDR", "127.0.0.1:0"),
            ("EVENTAUTH_DB_MAX_CONNECTIONS", "5"),
            ("EVENTAUTH_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug,sqlx=warn,hyper=info,h2=info"),
        ] {
            if !configured.iter().any(|k| k == key) {
                command.env(key, value);
            }
        }
        let mut child = command
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

/// An administrator's access token.
pub async fn admin_token(app: &TestApp) -> String {
    eventauth::service::accounts::register(
        &app.app,
        eventauth::service::accounts::Registration {
            email: eventauth::input::Email::parse("root@example.com", "email").expect("email"),
            password: eventauth::input::Password::new_password(
                "correct horse".to_string(),
                "password",
            )
            .expect("password"),
            first_name: eventauth::input::PersonName::parse("Root", "firstName").expect("name"),
            last_name: eventauth::input::PersonName::parse("Admin", "lastName").expect("name"),
            roles: vec!["admin".to_string()],
        },
        &eventauth::service::RequestContext::system(),
    )
    .await
    .expect("admin registered");
    let login: Value = app
        .login("root@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    login["token"].as_str().expect("token").to_string()
}

/// Asserts every `event_type` event in the store carries request metadata
/// (a correlation id) and an actor starting with `actor` (e.g. `user:`).
pub async fn assert_recorded_with_metadata(app: &TestApp, event_type: &str, actor: &str) {
    let rows = app
        .strings_with(
            "SELECT CAST(metadata AS text) FROM events WHERE event_type = $1",
            &[event_type.into()],
        )
        .await;
    assert!(!rows.is_empty(), "no {event_type} event");
    for row in rows {
        let metadata: Value = serde_json::from_str(&row).expect("metadata is JSON");
        assert!(
            metadata["correlation_id"].is_string(),
            "{event_type} without a correlation id: {metadata}"
        );
        assert!(
            metadata["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with(actor)),
            "{event_type} not recorded as {actor}…: {metadata}"
        );
    }
}

/// The token in the newest mail of `purpose` to `email` (waiting for it:
/// reset mails are issued after the answer).
pub async fn mailed_token(app: &TestApp, email: &str, purpose: &str) -> String {
    for _ in 0..200 {
        let bodies = app
            .strings_with(
                "SELECT body FROM mail_outbox WHERE recipient = $1 AND purpose = $2
                  ORDER BY created_at DESC",
                &[email.into(), purpose.into()],
            )
            .await;
        if let Some(body) = bodies.first() {
            let marker = if purpose == "verify_email" {
                "token="
            } else {
                "/reset/"
            };
            let start = body.find(marker).expect("a link in the mail") + marker.len();
            return body[start..]
                .split_whitespace()
                .next()
                .expect("token")
                .to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {purpose} mail to {email}");
}

pub async fn mails(app: &TestApp, email: &str, purpose: &str) -> i64 {
    app.count_with(
        "SELECT count(*) FROM mail_outbox WHERE recipient = $1 AND purpose = $2",
        &[email.into(), purpose.into()],
    )
    .await
}

/// A request with a bearer token and, maybe, a JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// A request with a bearer token and no body.
pub async fn send(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> Response {
    call(app, method, path, token, None).await
}

/// How many events of `event_type` the store holds.
pub async fn events_of(app: &TestApp, event_type: &str) -> i64 {
    app.count_with(
        "SELECT count(*) FROM events WHERE event_type = $1",
        &[event_type.into()],
    )
    .await
}

/// Runs one statement against the live store (as an intruder would).
pub async fn write(db: &Db, sql: &str) -> u64 {
    match db {
        Db::Postgres(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()),
        Db::Sqlite { writer, .. } => sqlx::query(sql)
            .execute(writer)
            .await
            .map(|d| d.rows_affected()),
    }
    .expect("tamper")
}

/// A new facility (default settings) with one user `username`, with
/// `password` or none; the facility's id.
pub async fn facility_with_user(
    app: &TestApp,
    username: &str,
    password: Option<&str>,
) -> uuid::Uuid {
    use eventauth::service::facility_users::{register, FacilityRegistration};
    let ctx = eventauth::service::RequestContext::system();
    let facility = eventauth::service::facilities::create(
        &app.app,
        aggregates::OrganizationKind::Facility,
        "School",
        None,
        None,
        &ctx,
    )
    .await
    .expect("facility");
    let password = password.map(|p| {
        eventauth::service::accounts::Credential::Plain(
            eventauth::input::Password::new_password(p.to_string(), "password").expect("valid"),
        )
    });
    register(
        &app.app,
        FacilityRegistration {
            facility,
            username: eventauth::input::Username::parse(username, "username").expect("valid"),
            full_name: "Ada Lovelace".to_string(),
            password,
            demographics: aggregates::Demographics::default(),
        },
        &ctx,
    )
    .await
    .expect("registered");
    facility
}
