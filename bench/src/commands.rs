//! Commands that hash nothing, against bare single-row `INSERT`s into the
//! same database; and commands on a stream of 100,000 events against
//! commands on a new one.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use eventauth::App;
use projections::Db;
use serde_json::json;

use crate::Latencies;

/// What the `commands` scenario measured.
#[derive(Debug)]
pub struct CommandRun {
    /// Commands answered with success per second.
    pub per_s: f64,
    /// Their latencies.
    pub latencies: Latencies,
    /// Events the run wrote (joins of a community already joined write
    /// none).
    pub events: i64,
    /// Bare single-row `INSERT` transactions per second, same clients.
    pub bare_per_s: f64,
    /// Their latencies.
    pub bare_latencies: Latencies,
}

/// Communities the clients join, one after another.
const COMMUNITIES: usize = 256;

/// `clients` users (registered and logged in over HTTP), each sending its
/// own commands for `seconds`: the tutorial once, then profile updates and
/// community joins in turn, over HTTP with read-your-writes, the projector
/// and the relay running. Then the reference: the same number of clients
/// inserting one row each per transaction into a copy of the events table
/// (its columns, keys and indexes) in the same database.
pub async fn run(
    app: &App,
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<CommandRun> {
    let mut communities = Vec::with_capacity(COMMUNITIES);
    for i in 0..COMMUNITIES {
        let response = client
            .post(format!("{base}/admin/communities"))
            .bearer_auth(admin)
            .json(&json!({ "name": format!("Bench community {i}") }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "community: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        communities.push(body["id"].as_str().context("community id")?.to_string());
    }
    let mut tokens = Vec::with_capacity(clients);
    for i in 0..clients {
        let email = format!("commands{i}@example.com");
        crate::register(client, base, &email).await?;
        tokens.push(crate::login_token(client, base, &email).await?);
    }
    let (tokens, communities) = (Arc::new(tokens), Arc::new(communities));
    let events_before = event_count(app.store.db()).await?;
    let (client, base) = (client.clone(), Arc::<str>::from(base));
    let (per_s, latencies) = crate::for_seconds(clients, seconds, move |who, i| {
        let request = if i == 0 {
            client.put(format!("{base}/user/tutorial"))
        } else if i.is_multiple_of(2) {
            client
                .put(format!("{base}/user/profile"))
                .json(&json!({ "nickname": format!("n{i}") }))
        } else {
            let community = &communities[(i / 2) % communities.len()];
            client.patch(format!("{base}/user/community/join/{community}"))
        };
        crate::answered(request.bearer_auth(&tokens[who]))
    })
    .await;
    let events = event_count(app.store.db()).await? - events_before;
    let (bare_per_s, bare_latencies) = bare_inserts(app.store.db(), clients, seconds).await?;
    Ok(CommandRun {
        per_s,
        latencies,
        events,
        bare_per_s,
        bare_latencies,
    })
}

async fn event_count(db: &Db) -> anyhow::Result<i64> {
    Ok(match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(pool)
                .await?
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(reader)
                .await?
        }
    })
}

/// A payload and metadata the size of a profile update's.
fn bare_row(i: u64) -> (String, serde_json::Value, serde_json::Value) {
    (
        uuid::Uuid::new_v4().to_string(),
        json!({ "ProfileUpdated": { "changes": { "nickname": format!("n{i}") },
                                    "at": chrono::Utc::now() } }),
        json!({ "actor": uuid::Uuid::new_v4(), "client_ip": "127.0.0.1",
                "user_agent": "reqwest", "request_id": uuid::Uuid::new_v4() }),
    )
}

/// `clients` tasks, each inserting one row per transaction into
/// `bench_bare`, a table with the events table's columns, keys and
/// indexes, for `seconds`. PostgreSQL: a connection per client; SQLite:
/// the store's one writer connection, as the service's own writes.
async fn bare_inserts(db: &Db, clients: usize, seconds: u64) -> anyhow::Result<(f64, Latencies)> {
    const INSERT: &str = "INSERT INTO bench_bare (aggregate_type, aggregate_id, sequence,
                              event_type, event_version, payload, metadata)
                          VALUES ('user', $1, 1, 'ProfileUpdated', '1', $2, $3)";
    let pool = match db {
        Db::Postgres(pool) => {
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_bare (LIKE events INCLUDING ALL)")
                .execute(pool)
                .await?;
            let options = pool.connect_options().as_ref().clone();
            Bare::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(clients as u32)
                    .connect_with(options)
                    .await?,
            )
        }
        Db::Sqlite { writer, .. } => {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS bench_bare (
                    aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
                    sequence INTEGER NOT NULL, event_type TEXT NOT NULL,
                    event_version TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL,
                    event_id TEXT NOT NULL DEFAULT (lower(hex(randomblob(16)))),
                    global_position INTEGER,
                    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    PRIMARY KEY (aggregate_type, aggregate_id, sequence));
                 CREATE UNIQUE INDEX IF NOT EXISTS bench_bare_event_id ON bench_bare (event_id);
                 CREATE INDEX IF NOT EXISTS bench_bare_recorded_at ON bench_bare (recorded_at);",
            )
            .execute(writer)
            .await?;
            Bare::Sqlite(writer.clone())
        }
    };
    let inserts = pool.clone();
    let (per_s, latencies) = crate::for_seconds(clients, seconds, move |client, i| {
        let pool = inserts.clone();
        async move {
            let (id, payload, metadata) = bare_row(((client as u64) << 32) + i as u64);
            match &pool {
                Bare::Postgres(pool) => sqlx::query(INSERT)
                    .bind(id)
                    .bind(payload)
                    .bind(metadata)
                    .execute(pool)
                    .await
                    .is_ok(),
                Bare::Sqlite(pool) => sqlx::query(&projections::db::sqlite_sql(INSERT))
                    .bind(id)
                    .bind(payload.to_string())
                    .bind(metadata.to_string())
                    .execute(pool)
                    .await
                    .is_ok(),
            }
        }
    })
    .await;
    if let Bare::Postgres(pool) = pool {
        pool.close().await;
    }
    Ok((per_s, latencies))
}

#[derive(Clone)]
enum Bare {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// What the `stream` scenario measured.
#[derive(Debug)]
pub struct StreamRun {
    /// Events in the long stream.
    pub events: usize,
    /// The first command on it after they were appended (no snapshot yet:
    /// the whole stream is read, and a snapshot written).
    pub first_ms: f64,
    /// Commands on the long stream, one after another.
    pub long: Latencies,
    /// The same commands on a user with a short stream.
    pub short: Latencies,
}

/// A user whose stream holds `events` profile updates (appended straight
/// to the store, as years of use would leave them) and a new user: the
/// same profile update on each, alternately, `commands` times, one client.
pub async fn stream(
    app: &App,
    client: &reqwest::Client,
    base: &str,
    events: usize,
    commands: usize,
) -> anyhow::Result<StreamRun> {
    let mut tokens = Vec::new();
    for who in ["long-stream", "new-stream"] {
        let email = format!("{who}@example.com");
        crate::register(client, base, &email).await?;
        tokens.push(crate::login_token(client, base, &email).await?);
    }
    let long_user = crate::user_ids(app, &["long-stream@example.com".to_string()]).await?[0];
    let version = app
        .store
        .load::<aggregates::User>(&long_user.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .version;
    eprintln!("appending {events} events to one user's stream…");
    eventauth::ops::synthetic::append_profile_updates(
        app.store.db(),
        long_user,
        version as i64,
        events,
    )
    .await?;
    crate::caught_up(app, crate::CAUGHT_UP_POLL).await?;
    let update = |token: &str, i: usize| {
        client
            .put(format!("{base}/user/profile"))
            .bearer_auth(token)
            .json(&json!({ "nickname": format!("s{i}") }))
            .send()
    };
    let t = Instant::now();
    let first = update(&tokens[0], 0).await?;
    anyhow::ensure!(first.status().is_success(), "update: {}", first.status());
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (mut long, mut short) = (Latencies::default(), Latencies::default());
    for i in 1..=commands {
        for (token, lat) in [(&tokens[0], &mut long), (&tokens[1], &mut short)] {
            let t = Instant::now();
            let response = update(token, i).await?;
            anyhow::ensure!(
                response.status().is_success(),
                "update: {}",
                response.status()
            );
            response.bytes().await?;
            lat.0.push(t.elapsed());
        }
    }
    Ok(StreamRun {
        events,
        first_ms,
        long,
        short,
    })
}
