//! The event store: one seam over the backends, and command execution.
//!
//! [`Repo`] is the single place that knows which cqrs-es repository is in
//! use (the framework's `EventStore` is not object-safe, so the backends are
//! wrapped in one enum rather than boxed). Today it holds PostgreSQL; the
//! embedded SQLite backend slots in as a second variant.
//!
//! Commands run through [`Store::execute`]: load the aggregate, `handle`,
//! commit, and on a concurrency conflict reload and retry a bounded number
//! of times. Only the framework's event-store mode is used (its snapshot
//! and aggregate-store modes apply events twice when writing snapshots in
//! cqrs-es 0.5): loading is this module's own, from a snapshot of the
//! aggregate (`aggregate_snapshots`, written every [`SNAPSHOT_EVERY`]
//! events) and the events after it, in one query.

use std::collections::HashMap;
use std::time::Duration;

use aggregates::{
    DomainError, IdentifierClaim, LoginFailures, Organization, Services, Session, User,
};
use anyhow::Context;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistedEventStore, PersistenceError,
    ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use postgres_es::PostgresEventRepository;
use projections::Db;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::PgPool;
use std::path::Path;
use std::str::FromStr;

use crate::Error;

/// How often a command is retried after a concurrency conflict.
const MAX_ATTEMPTS: usize = 5;

/// Events folded on top of a stream's snapshot (or from its start) before
/// a command writes a new snapshot: a load reads at most about this many
/// events, however long the stream.
pub const SNAPSHOT_EVERY: usize = 32;

/// The format of `A`'s snapshots in this build: a fingerprint of the
/// aggregates' source (any change to a state's fields, to the types inside
/// them, or to a fold retakes every snapshot; a change the fingerprint
/// cannot see, such as a dependency's serialization, would need this
/// module's [`SNAPSHOT_EPOCH`] bumped) and of the state's serialized shape.
pub fn snapshot_format<A: Aggregate>() -> String {
    use sha2::Digest;
    let shape = serde_json::to_string(&A::default()).unwrap_or_default();
    let digest = sha2::Sha256::digest(shape.as_bytes());
    format!(
        "{SNAPSHOT_EPOCH}.{}.{}",
        aggregates::SOURCE_FINGERPRINT,
        &hex::encode(digest)[..8]
    )
}

/// Bumped to retake every snapshot for a reason the source fingerprint
/// does not see.
const SNAPSHOT_EPOCH: u32 = 1;

/// A stream as stored: its snapshot (part 0), if one of this format
/// exists, then the events after it (part 1), in order.
const LOAD: &str = "
    SELECT 0 AS part, last_sequence AS sequence, state AS payload
      FROM aggregate_snapshots
     WHERE aggregate_type = $1 AND aggregate_id = $2 AND format = $3
    UNION ALL
    SELECT 1, sequence, payload FROM events
     WHERE aggregate_type = $1 AND aggregate_id = $2
       AND sequence > COALESCE((SELECT last_sequence FROM aggregate_snapshots
                                 WHERE aggregate_type = $1 AND aggregate_id = $2
                                   AND format = $3), 0)
     ORDER BY part, sequence";

/// Keeps the newest snapshot of a stream (or one of this build's format).
const SAVE_SNAPSHOT: &str = "
    INSERT INTO aggregate_snapshots (aggregate_type, aggregate_id, last_sequence, format, state)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = excluded.last_sequence, format = excluded.format,
           state = excluded.state, taken_at = excluded.taken_at
     WHERE aggregate_snapshots.last_sequence < excluded.last_sequence
        OR aggregate_snapshots.format <> excluded.format";

/// One row of [`LOAD`].
type StoredRow = (
    i32,
    i64,
    sqlx::types::Json<Box<serde_json::value::RawValue>>,
);

/// The event repository of the configured backend.
pub enum Repo {
    /// PostgreSQL through postgres-es.
    Postgres(PostgresEventRepository),
    /// SQLite through sqlite-es, on the single writer connection.
    Sqlite(SqliteEventRepository),
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres(_) => f.write_str("Repo::Postgres"),
            Self::Sqlite(_) => f.write_str("Repo::Sqlite"),
        }
    }
}

impl PersistedEventRepository for Repo {
    async fn get_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.get_events::<A>(id).await,
            Self::Sqlite(repo) => repo.get_events::<A>(id).await,
        }
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.get_last_events::<A>(id, last_sequence).await,
            Self::Sqlite(repo) => repo.get_last_events::<A>(id, last_sequence).await,
        }
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.get_snapshot::<A>(id).await,
            Self::Sqlite(repo) => repo.get_snapshot::<A>(id).await,
        }
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.persist::<A>(events, snapshot_update).await,
            Self::Sqlite(repo) => repo.persist::<A>(events, snapshot_update).await,
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.stream_events::<A>(id).await,
            Self::Sqlite(repo) => repo.stream_events::<A>(id).await,
        }
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Postgres(repo) => repo.stream_all_events::<A>().await,
            Self::Sqlite(repo) => repo.stream_all_events::<A>().await,
        }
    }
}

/// An aggregate this store keeps, with its event store.
pub trait Stored:
    Aggregate<Services = Services, Error = DomainError, Command: std::fmt::Debug>
{
    /// This aggregate's event store within `store`.
    fn event_store(store: &Store) -> &PersistedEventStore<Repo, Self>;
}

macro_rules! stored {
    ($aggregate:ty, $field:ident) => {
        impl Stored for $aggregate {
            fn event_store(store: &Store) -> &PersistedEventStore<Repo, Self> {
                &store.$field
            }
        }
    };
}
stored!(User, users);
stored!(Session, sessions);
stored!(IdentifierClaim, claims);
stored!(LoginFailures, login_failures);
stored!(Organization, organizations);

/// An aggregate as loaded, with the sequence of its last event.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// Its last sequence (0: empty stream).
    pub version: usize,
    /// The sequence of the snapshot it was folded from (0: none).
    pub snapshot: usize,
}

/// What a command wrote.
#[derive(Debug)]
pub struct Committed<A: Aggregate> {
    /// The events, in order (empty when the command changed nothing).
    pub events: Vec<A::Event>,
    /// The stream position of the last event written, if any.
    pub written: Option<Written>,
    /// The aggregate as the command left it (what a reload would give).
    pub state: A,
}

/// Where a commit landed: enough to find its place in the global order.
#[derive(Debug, Clone)]
pub struct Written {
    /// `A::TYPE`.
    pub aggregate_type: &'static str,
    /// The aggregate instance.
    pub aggregate_id: String,
    /// The last sequence written.
    pub sequence: usize,
    /// Its place in the global order, when the store returned it (saves
    /// looking it up to wait for the read models).
    pub cursor: Option<projections::Cursor>,
}

/// The event store of one instance.
pub struct Store {
    db: Db,
    users: PersistedEventStore<Repo, User>,
    sessions: PersistedEventStore<Repo, Session>,
    claims: PersistedEventStore<Repo, IdentifierClaim>,
    login_failures: PersistedEventStore<Repo, LoginFailures>,
    organizations: PersistedEventStore<Repo, Organization>,
    services: Services,
    /// Each aggregate's [`snapshot_format`], computed once (it serializes
    /// and hashes a state: not work for every command).
    formats: HashMap<&'static str, String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A store on `db`.
    pub fn new(db: Db, services: Services) -> Self {
        let repo = || match &db {
            Db::Postgres(pool) => Repo::Postgres(PostgresEventRepository::new(pool.clone())),
            Db::Sqlite { writer, .. } => Repo::Sqlite(SqliteEventRepository::new(writer.clone())),
        };
        Self {
            users: PersistedEventStore::new_event_store(repo()),
            sessions: PersistedEventStore::new_event_store(repo()),
            claims: PersistedEventStore::new_event_store(repo()),
            login_failures: PersistedEventStore::new_event_store(repo()),
            organizations: PersistedEventStore::new_event_store(repo()),
            db,
            services,
            formats: HashMap::from([
                (User::TYPE, snapshot_format::<User>()),
                (Session::TYPE, snapshot_format::<Session>()),
                (IdentifierClaim::TYPE, snapshot_format::<IdentifierClaim>()),
                (LoginFailures::TYPE, snapshot_format::<LoginFailures>()),
                (Organization::TYPE, snapshot_format::<Organization>()),
            ]),
        }
    }

    /// `A`'s snapshot format in this build.
    fn format<A: Stored>(&self) -> std::borrow::Cow<'_, str> {
        match self.formats.get(A::TYPE) {
            Some(format) => format.into(),
            None => snapshot_format::<A>().into(),
        }
    }

    /// The database (read models share it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The aggregates' services (clock).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Loads an aggregate's current state: its snapshot and the events
    /// after it, or the whole stream when there is no usable snapshot.
    pub async fn load<A: Stored>(&self, id: &str) -> Result<Loaded<A>, Error> {
        let format = self.format::<A>();
        let rows: Vec<StoredRow> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(LOAD)
                    .bind(A::TYPE)
                    .bind(id)
                    .bind(format.as_ref())
                    .fetch_all(pool)
                    .await
            }
            // The writer, as the framework's repository: a load sees every
            // commit before it.
            Db::Sqlite { writer, .. } => {
                sqlx::query_as(&projections::db::sqlite_sql(LOAD))
                    .bind(A::TYPE)
                    .bind(id)
                    .bind(format.as_ref())
                    .fetch_all(writer)
                    .await
            }
        }
        .map_err(|e| Error::Internal(e.into()))?;
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot: 0,
        };
        for (part, sequence, payload) in rows {
            let sequence = usize::try_from(sequence).unwrap_or_default();
            if part == 0 {
                match serde_json::from_str::<A>(payload.get()) {
                    Ok(state) => {
                        loaded.state = state;
                        loaded.version = sequence;
                        loaded.snapshot = sequence;
                    }
                    Err(error) => {
                        tracing::warn!(aggregate = A::TYPE, %error, "unreadable snapshot; loading the whole stream");
                        return self.load_stream(id).await;
                    }
                }
            } else {
                let event: A::Event = serde_json::from_str(payload.get()).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "an event of {} {id} is unreadable: {e}",
                        A::TYPE
                    ))
                })?;
                loaded.state.apply(event);
                loaded.version = sequence;
            }
        }
        Ok(loaded)
    }

    /// Loads an aggregate from its whole stream (the framework's load),
    /// ignoring any snapshot.
    pub async fn load_stream<A: Stored>(&self, id: &str) -> Result<Loaded<A>, Error> {
        let context = A::event_store(self)
            .load_aggregate(id)
            .await
            .map_err(internal)?;
        Ok(Loaded {
            state: context.aggregate,
            version: context.current_sequence,
            snapshot: 0,
        })
    }

    /// Records `state` as `A` `id` folded up to `sequence` (already
    /// committed). A cache: failing to write it costs later loads time only.
    async fn save_snapshot<A: Stored>(&self, id: &str, sequence: usize, state: &A) {
        let json = sqlx::types::Json(state);
        let format = self.format::<A>();
        let sequence = sequence as i64;
        let saved = match &self.db {
            Db::Postgres(pool) => sqlx::query(SAVE_SNAPSHOT)
                .bind(A::TYPE)
                .bind(id)
                .bind(sequence)
                .bind(format.as_ref())
                .bind(json)
                .execute(pool)
                .await
                .map(drop),
            Db::Sqlite { writer, .. } => sqlx::query(&projections::db::sqlite_sql(SAVE_SNAPSHOT))
                .bind(A::TYPE)
                .bind(id)
                .bind(sequence)
                .bind(format.as_ref())
                .bind(json)
                .execute(writer)
                .await
                .map(drop),
        };
        if let Err(error) = saved {
            tracing::warn!(aggregate = A::TYPE, %error, "snapshot not saved");
        }
    }

    /// Runs `command` against the current state without writing anything:
    /// the rejection a real run would give, decided before expensive work
    /// (e.g. "this email is taken" before hashing a password).
    pub async fn check<A: Stored + Clone>(
        &self,
        state: &A,
        command: A::Command,
    ) -> Result<Vec<A::Event>, Error> {
        let sink = EventSink::default();
        state.clone().handle(command, &self.services, &sink).await?;
        Ok(sink.collect().await)
    }

    /// Executes a command on an aggregate whose id was generated just now
    /// (UUIDv7), skipping the load of its certainly empty stream. Should the
    /// stream exist after all, the commit conflicts and the retry loads it.
    pub async fn create<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        let empty = Loaded {
            state: A::default(),
            version: 0,
            snapshot: 0,
        };
        self.metered(id, command, metadata, Some(empty)).await
    }

    /// Executes a command on state the caller has just loaded (and decided
    /// with), saving the load; a conflict means it changed meanwhile, and
    /// the retry loads it afresh.
    pub async fn execute_on<A: Stored>(
        &self,
        id: &str,
        loaded: Loaded<A>,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        self.metered(id, command, metadata, Some(loaded)).await
    }

    /// Executes a command: load, handle, commit; retried on conflicts.
    pub async fn execute<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        self.metered(id, command, metadata, None).await
    }

    /// Runs a command and counts its outcome.
    async fn metered<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        first: Option<Loaded<A>>,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        let name = crate::observe::command_name(&command);
        let result = self.run(id, command, metadata, first).await;
        crate::observe::command(A::TYPE, &name, outcome(&result));
        result
    }

    async fn run<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        mut first: Option<Loaded<A>>,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        let store = A::event_store(self);
        for attempt in 1..=MAX_ATTEMPTS {
            // The first attempt may start from state already in hand (an
            // empty stream, or what the caller loaded); retries load.
            let loaded = match first.take() {
                Some(loaded) => loaded,
                None => self.load::<A>(id).await?,
            };
            let snapshot = loaded.snapshot;
            let mut context = EventStoreAggregateContext {
                aggregate_id: id.to_string(),
                aggregate: loaded.state,
                current_sequence: loaded.version,
                current_snapshot: None,
            };
            let sink = EventSink::default();
            context
                .aggregate
                .handle(command.clone(), &self.services, &sink)
                .await?;
            let events = sink.collect().await;
            // `handle` applied the events to the state already; the store
            // (events as the source of truth) does not read it.
            let state = std::mem::take(&mut context.aggregate);
            if events.is_empty() {
                return Ok(Committed {
                    events,
                    written: None,
                    state,
                });
            }
            let appended = match &self.db {
                Db::Postgres(pool) => {
                    append_postgres::<A>(pool, id, context.current_sequence, &events, metadata)
                        .await
                }
                Db::Sqlite { .. } => store
                    .commit(events.clone(), context, metadata.to_map())
                    .await
                    .map(|envelopes| (envelopes.last().map_or(0, |e| e.sequence), None)),
            };
            match appended {
                Ok((sequence, cursor)) => {
                    if sequence.saturating_sub(snapshot) >= SNAPSHOT_EVERY {
                        self.save_snapshot(id, sequence, &state).await;
                    }
                    return Ok(Committed {
                        events,
                        written: Some(Written {
                            aggregate_type: A::TYPE,
                            aggregate_id: id.to_string(),
                            sequence,
                            cursor,
                        }),
                        state,
                    });
                }
                Err(AggregateError::AggregateConflict) => {
                    tracing::debug!(aggregate = A::TYPE, attempt, "conflict; retrying command");
                    tokio::time::sleep(Duration::from_millis(2 * attempt as u64)).await;
                }
                Err(error) => return Err(internal(error)),
            }
        }
        Err(Error::Conflict)
    }
}

/// Appends a command's events to `A` `id` after sequence `after`, in one
/// statement (its own transaction: all of them or none), as the
/// framework's repository stores them; returns the last sequence and its
/// place in the global order. A sequence already taken (another command
/// got there first) is a conflict.
async fn append_postgres<A: Stored>(
    pool: &PgPool,
    id: &str,
    after: usize,
    events: &[A::Event],
    metadata: &Metadata,
) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
    use cqrs_es::DomainEvent;
    let unexpected = |e: serde_json::Error| AggregateError::UnexpectedError(Box::new(e));
    let sequences: Vec<i64> = (after + 1..after + 1 + events.len())
        .map(|s| s as i64)
        .collect();
    let types: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    let versions: Vec<String> = events.iter().map(DomainEvent::event_version).collect();
    let payloads = events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unexpected)?;
    let metadata = serde_json::to_value(metadata.to_map()).map_err(unexpected)?;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT $1, $2, s, t, v, p, $7
           FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::jsonb[]) AS u(s, t, v, p)
         RETURNING transaction_id::text::bigint, global_position",
    )
    .bind(A::TYPE)
    .bind(id)
    .bind(&sequences)
    .bind(&types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(e) if e.code().as_deref() == Some("23505") => {
            AggregateError::AggregateConflict
        }
        _ => AggregateError::UnexpectedError(Box::new(error)),
    })?;
    let cursor = rows
        .into_iter()
        .map(|(tx, pos)| projections::Cursor { tx, pos })
        .max();
    Ok((after + events.len(), cursor))
}

/// The outcome label of a command, for metrics.
fn outcome<A: Aggregate>(result: &Result<Committed<A>, Error>) -> &'static str {
    match result {
        Ok(committed) if committed.written.is_some() => "ok",
        Ok(_) => "unchanged",
        Err(Error::Conflict) => "conflict",
        Err(Error::Internal(_)) => "error",
        Err(_) => "rejected",
    }
}

fn internal<E: std::error::Error + Send + Sync + 'static>(error: AggregateError<E>) -> Error {
    match error {
        AggregateError::AggregateConflict => Error::Conflict,
        other => Error::Internal(anyhow::anyhow!("event store: {other}")),
    }
}

/// Request metadata recorded on every event of a command.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The request id, or a generated one for CLI and system work.
    pub correlation_id: String,
    /// `user:<id>`, `anonymous` or `system`.
    pub actor: String,
    /// Client IP, where known.
    pub client_ip: Option<String>,
    /// Client user agent, where known.
    pub user_agent: Option<String>,
}

impl Metadata {
    /// Metadata for work the service does on its own (CLI, maintenance).
    pub fn system() -> Self {
        Self {
            correlation_id: uuid::Uuid::now_v7().to_string(),
            actor: "system".to_string(),
            client_ip: None,
            user_agent: None,
        }
    }

    /// The same request, acting as `user`.
    pub fn acting_as(&self, user: uuid::Uuid) -> Self {
        Self {
            actor: format!("user:{user}"),
            ..self.clone()
        }
    }

    /// The map cqrs-es stores. IP and user agent are personal data, stored
    /// in the same tagged form as `Personal<T>` so erasure can treat them
    /// alike.
    fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("correlation_id".to_string(), self.correlation_id.clone()),
            ("actor".to_string(), self.actor.clone()),
            ("time".to_string(), chrono::Utc::now().to_rfc3339()),
        ]);
        let personal = |value: &String| {
            serde_json::to_string(&aggregates::Personal::new(value)).unwrap_or_default()
        };
        if let Some(ip) = &self.client_ip {
            map.insert("client_ip".to_string(), personal(ip));
        }
        if let Some(agent) = &self.user_agent {
            map.insert("user_agent".to_string(), personal(agent));
        }
        map
    }
}

/// Connects to the configured store: PostgreSQL for `postgres://…`,
/// SQLite for `sqlite://…`, and without a URL the embedded default, a SQLite
/// file in the data directory.
pub async fn connect(
    url: Option<&SecretString>,
    data_dir: &Path,
    max_connections: u32,
) -> anyhow::Result<Db> {
    match url.map(|u| u.expose_secret().to_string()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            connect_postgres(&url, max_connections)
                .await
                .map(Db::Postgres)
        }
        Some(url) if url.starts_with("sqlite:") => connect_sqlite(&url).await,
        Some(_) => anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:"),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            let file = data_dir.join("eventauth.db");
            connect_sqlite(&format!("sqlite://{}", file.display())).await
        }
    }
}

/// PostgreSQL. Connections end idle transactions after a minute: a
/// forgotten open transaction would hold back every reader of the global
/// stream, cluster-wide.
async fn connect_postgres(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
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
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// SQLite in WAL mode: readers never block the writer; one writer
/// connection, so writes queue in the pool rather than failing with
/// "database is locked"; a busy timeout for anything else (e.g. a second
/// process running `eventauth admin create`).
async fn connect_sqlite(url: &str) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid sqlite: URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
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

/// Applies the migrations of the backend, then brings the read-model
/// tables to this build's version (rebuilding them from the log when it
/// changed). Idempotent; safe from several instances at once.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    match db {
        Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        Db::Sqlite { writer, .. } => sqlx::migrate!("./migrations/sqlite").run(writer).await,
    }
    .context("applying migrations")?;
    projections::rebuild::ensure_version(db)
        .await
        .context("bringing the read models to this version")?;
    Ok(())
}
