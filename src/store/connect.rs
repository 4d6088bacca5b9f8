//! Opening the configured backend, and bringing its schema to this build.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use projections::Db;

use crate::vault::Vault;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::PgPool;

/// The shortest wait for SQLite's write lock held by another process.
const SQLITE_BUSY: Duration = Duration::from_secs(10);

/// Connects to the configured store: PostgreSQL for `postgres://…`,
/// SQLite for `sqlite://…`, and without a URL the embedded default, a SQLite
/// file in the data directory.
pub async fn connect(
    url: Option<&SecretString>,
    data_dir: &Path,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<Db> {
    match url.map(|u| u.expose_secret().to_string()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            connect_postgres(&url, max_connections, acquire_timeout)
                .await
                .map(Db::Postgres)
        }
        Some(url) if url.starts_with("sqlite:") => connect_sqlite(&url, acquire_timeout).await,
        Some(_) => anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:"),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            let file = data_dir.join("eventauth.db");
            connect_sqlite(&format!("sqlite://{}", file.display()), acquire_timeout).await
        }
    }
}

/// PostgreSQL. Connections end idle transactions after a minute: a
/// forgotten open transaction would hold back every reader of the global
/// stream, cluster-wide. Waiting for a connection ends after
/// `acquire_timeout` (then the request is answered 503); each connection is
/// tested before it is handed out (the pool's default, kept on purpose), so
/// after a server restart the dead ones are replaced, not used.
async fn connect_postgres(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_URL is not a valid postgres:// URL")?;
    // A first start creates its database (the server's owner role permitting).
    {
        use sqlx::migrate::MigrateDatabase;
        if !sqlx::Postgres::database_exists(url).await.unwrap_or(true) {
            sqlx::Postgres::create_database(url)
                .await
                .context("creating the database")?;
        }
    }
    let options = options.options([("idle_in_transaction_session_timeout", "60s")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// SQLite in WAL mode: readers never block the writer; one writer
/// connection, so writes queue in the pool rather than failing with
/// "database is locked"; a busy timeout for anything else (e.g. a second
/// process running `eventauth admin create`): at least [`SQLITE_BUSY`], or
/// `patience` when longer — an operator's command run beside a busy server
/// gets the write lock only in the gaps between the server's transactions.
async fn connect_sqlite(url: &str, patience: Duration) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid sqlite: URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(patience.max(SQLITE_BUSY))
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await
        .context("opening the SQLite database")?;
    let reader = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options.read_only(true))
        .await
        .context("opening the SQLite database for reading")?;
    Ok(Db::Sqlite { reader, writer })
}

/// Applies the migrations of the backend. Idempotent; safe from several
/// instances at once.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    match db {
        Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        Db::Sqlite { writer, .. } => sqlx::migrate!("./migrations/sqlite").run(writer).await,
    }
    .context("applying migrations")?;
    Ok(())
}

/// Readies a store to serve: its migrations, its vault (the master key
/// checked against it), and read models at this build's version (rebuilt
/// from the log, through the vault, when it changed).
pub async fn prepare(db: &Db, config: &crate::Config) -> anyhow::Result<Arc<Vault>> {
    migrate(db).await?;
    let vault = Vault::open(db, config).await?;
    projections::rebuild::ensure_version(db, vault.for_rebuild())
        .await
        .context("bringing the read models to this version")?;
    Ok(vault)
}
