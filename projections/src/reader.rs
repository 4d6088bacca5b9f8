//! The one reader of the global event stream. The projector, the deny-list
//! feed, and later the NATS relay, replay and export all read through here.
//!
//! Order is `(transaction_id, global_position)`, and only events written by
//! transactions older than the oldest transaction still running are read:
//! below that horizon no event can still appear, so nothing is ever
//! skipped. Consequences (see DESIGN.md): a long transaction anywhere in the
//! cluster holds every reader back, and no notification fires when it ends,
//! so callers re-poll while committed events wait beyond the horizon
//! ([`Batch::pending`]).

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::{PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use crate::{Codec, Conn, Cursor, Db, Parts};

/// One stored event as the global stream delivers it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Its place in the global order.
    pub cursor: Cursor,
    /// Its own id (stable across replays; the NATS message id).
    pub event_id: Uuid,
    /// `user`, `session`, `identifier_claim`, …
    pub aggregate_type: String,
    /// The aggregate instance.
    pub aggregate_id: String,
    /// Sequence within the aggregate, from 1.
    pub sequence: i64,
    /// Event name, e.g. `UserRegistered`.
    pub event_type: String,
    /// Version of that event's schema.
    pub event_version: String,
    /// The serialized event (`{"UserRegistered": {…}}`), as stored: kept
    /// as text until a reader decodes it into its own type (building a
    /// generic JSON tree first cost more than the rest of a replay's read).
    pub payload: Box<RawValue>,
    /// Metadata of the command that wrote it, as stored.
    pub metadata: Box<RawValue>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// Deserializes the payload into the aggregate's event type.
    pub fn decode<E: serde::de::DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }

    /// The payload as a JSON value.
    pub fn payload_value(&self) -> Value {
        serde_json::from_str(self.payload.get()).unwrap_or_default()
    }

    /// The metadata as a JSON value.
    pub fn metadata_value(&self) -> Value {
        serde_json::from_str(self.metadata.get()).unwrap_or_default()
    }
}

/// Builds a [`RecordedEvent`] from a row of either backend (the column
/// names are the same; the cursor and event id are decoded per backend).
macro_rules! recorded {
    ($row:expr, $cursor:expr, $event_id:expr) => {
        RecordedEvent {
            cursor: $cursor,
            event_id: $event_id,
            aggregate_type: $row.get("aggregate_type"),
            aggregate_id: $row.get("aggregate_id"),
            sequence: $row.get("sequence"),
            event_type: $row.get("event_type"),
            event_version: $row.get("event_version"),
            payload: $row.get::<sqlx::types::Json<Box<RawValue>>, _>("payload").0,
            metadata: $row
                .get::<sqlx::types::Json<Box<RawValue>>, _>("metadata")
                .0,
            recorded_at: $row.get("recorded_at"),
        }
    };
}

/// A batch read from the stream.
#[derive(Debug)]
pub struct Batch {
    /// Events in global order.
    pub events: Vec<RecordedEvent>,
    /// Where to continue from. When the batch was not full this is past
    /// everything below the horizon, even past events a type filter skipped.
    pub next: Cursor,
    /// Whether the batch hit its limit (more may be readable right away).
    pub full: bool,
    /// Whether committed events wait beyond the horizon (re-poll soon: no
    /// notification comes when the transaction holding it back ends).
    pub pending: bool,
}

impl Batch {
    /// A batch of `events` read with `limit`: when full, continue after its
    /// last event; otherwise from `caught_up` (past everything readable).
    fn assemble(events: Vec<RecordedEvent>, limit: i64, caught_up: Cursor, pending: bool) -> Self {
        let full = events.len() as i64 >= limit;
        let next = match (full, events.last()) {
            (true, Some(last)) => last.cursor,
            _ => caught_up,
        };
        Self {
            events,
            next,
            full,
            pending,
        }
    }
}

/// Reads the global stream of one event store.
#[derive(Debug, Clone)]
pub struct GlobalReader {
    db: Db,
}

impl GlobalReader {
    /// A reader on this database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database it reads from.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Reads up to `limit` events after `after`, optionally only those whose
    /// `event_type` is in `types`.
    /// `types`, with `parts` of each opened by `codec`.
    pub async fn read(
        conn: &mut Conn<'_>,
        codec: &dyn Codec,
        parts: Parts,
        after: Cursor,
        limit: i64,
        types: Option<&[&str]>,
    ) -> Result<Batch, sqlx::Error> {
        let mut batch = match conn {
            Conn::Postgres(conn) => read_postgres(conn, after, limit, types).await,
            Conn::Sqlite(conn) => read_sqlite(conn, after, limit, types).await,
        }?;
        codec.open(&mut batch.events, parts).await?;
        Ok(batch)
    }

    /// Reads a batch on a connection of its own from `db` (the projector,
    /// which needs its batch inside its transaction, uses [`Self::read`]).
    pub async fn read_from(
        db: &Db,
        codec: &dyn Codec,
        parts: Parts,
        after: Cursor,
        limit: i64,
        types: Option<&[&str]>,
    ) -> Result<Batch, sqlx::Error> {
        match db {
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let conn = &mut Conn::Postgres(&mut conn);
                Self::read(conn, codec, parts, after, limit, types).await
            }
            Db::Sqlite { reader, .. } => {
                let mut conn = reader.acquire().await?;
                let conn = &mut Conn::Sqlite(&mut conn);
                Self::read(conn, codec, parts, after, limit, types).await
            }
        }
    }

    /// How far behind `cursor` is: committed events after it (counted up to
    /// 100,000) and the age in seconds of the oldest of them.
    pub async fn lag(&self, cursor: Cursor) -> Result<(i64, f64), sqlx::Error> {
        match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(recorded_at))::float8, 0)
                       FROM (SELECT recorded_at FROM events
                              WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                              LIMIT 100000) behind",
                )
                .bind(cursor.tx.to_string())
                .bind(cursor.pos)
                .fetch_one(pool)
                .await
            }
            Db::Sqlite { reader, .. } => {
                sqlx::query_as(
                    "SELECT count(*),
                            COALESCE((julianday('now') - julianday(min(recorded_at))) * 86400.0, 0.0)
                       FROM (SELECT recorded_at FROM events WHERE global_position > ?1 LIMIT 100000)",
                )
                .bind(cursor.pos)
                .fetch_one(reader)
                .await
            }
        }
    }

    /// Where the event `(aggregate_type, aggregate_id, sequence)` stands in
    /// the global order (for read-your-writes).
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<Cursor>, sqlx::Error> {
        match &self.db {
            Db::Postgres(pool) => {
                let row = sqlx::query(
                    "SELECT transaction_id::text::bigint AS tx, global_position FROM events
                      WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|row| Cursor {
                    tx: row.get("tx"),
                    pos: row.get("global_position"),
                }))
            }
            Db::Sqlite { reader, .. } => {
                let pos: Option<i64> = sqlx::query_scalar(
                    "SELECT global_position FROM events
                      WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .fetch_optional(reader)
                .await?;
                Ok(pos.map(Cursor::sqlite))
            }
        }
    }
}

/// PostgreSQL: `(transaction id, position)` below the oldest running
/// transaction.
async fn read_postgres(
    conn: &mut PgConnection,
    after: Cursor,
    limit: i64,
    types: Option<&[&str]>,
) -> Result<Batch, sqlx::Error> {
    let types: Option<Vec<String>> = types.map(|t| t.iter().map(|s| s.to_string()).collect());
    // One round trip: the horizon, the events below it, and whether
    // committed events wait beyond it. Every subquery is uncorrelated, so it
    // runs once (a per-row subplan here once cost a sequential scan per
    // event); "pending" looks at the newest event only (a backward index
    // scan). The left join keeps one row when there are no events, so
    // horizon and flag always come back.
    let rows = sqlx::query(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
              p AS (SELECT (SELECT transaction_id FROM events
                             WHERE transaction_id >= (SELECT xmin FROM h)
                               AND (transaction_id, global_position) > ($1::text::xid8, $2)
                             ORDER BY transaction_id DESC, global_position DESC
                             LIMIT 1) IS NOT NULL AS pending),
              e AS (SELECT transaction_id, global_position, event_id, aggregate_type,
                           aggregate_id, sequence, event_type, event_version, payload,
                           metadata, recorded_at
                      FROM events
                     WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                       AND transaction_id < (SELECT xmin FROM h)
                       AND ($4::text[] IS NULL OR event_type = ANY($4))
                     ORDER BY transaction_id, global_position
                     LIMIT $3)
         SELECT h.xmin::text::bigint AS horizon, p.pending,
                e.transaction_id::text::bigint AS tx, e.global_position, e.event_id,
                e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                e.event_version, e.payload, e.metadata, e.recorded_at
           FROM h CROSS JOIN p LEFT JOIN e ON true",
    )
    .bind(after.tx.to_string())
    .bind(after.pos)
    .bind(limit)
    .bind(types)
    .fetch_all(&mut *conn)
    .await?;
    let horizon: i64 = rows.first().map_or(0, |row| row.get("horizon"));
    let pending: bool = rows.first().is_some_and(|row| row.get("pending"));
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(tx) = row.get::<Option<i64>, _>("tx") else {
            continue;
        };
        let cursor = Cursor {
            tx,
            pos: row.get("global_position"),
        };
        events.push(recorded!(row, cursor, row.get("event_id")));
    }
    // Ordered here, not by the outer query: sorting wide rows there spilled
    // to disk past `work_mem` (they arrive in order; this only checks).
    events.sort_by_key(|event| event.cursor);
    Ok(Batch::assemble(
        events,
        limit,
        after.max(Cursor::before_transaction(horizon)),
        pending,
    ))
}

/// SQLite: one writer at a time, positions assigned in commit order, so the
/// position alone is a gap-free cursor and nothing waits beyond a horizon.
async fn read_sqlite(
    conn: &mut SqliteConnection,
    after: Cursor,
    limit: i64,
    types: Option<&[&str]>,
) -> Result<Batch, sqlx::Error> {
    let types = types.map(|t| serde_json::to_string(t).unwrap_or_default());
    // One statement, so one snapshot: the newest position and the batch
    // below it agree (two statements could see an event commit in between
    // and move the cursor past it unread). The left join keeps one row when
    // the batch is empty.
    let rows = sqlx::query(
        "WITH h AS (SELECT COALESCE(max(global_position), 0) AS newest FROM events),
              e AS (SELECT global_position, event_id, aggregate_type, aggregate_id, sequence,
                           event_type, event_version, payload, metadata, recorded_at
                      FROM events
                     WHERE global_position > ?1
                       AND global_position <= (SELECT newest FROM h)
                       AND (?3 IS NULL OR event_type IN (SELECT value FROM json_each(?3)))
                     ORDER BY global_position
                     LIMIT ?2)
         SELECT h.newest, e.* FROM h LEFT JOIN e ON 1 = 1 ORDER BY e.global_position",
    )
    .bind(after.pos)
    .bind(limit)
    .bind(types)
    .fetch_all(&mut *conn)
    .await?;
    let newest: i64 = rows.first().map_or(0, |row| row.get("newest"));
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(position) = row.get::<Option<i64>, _>("global_position") else {
            continue;
        };
        let event_id: String = row.get("event_id");
        events.push(recorded!(
            row,
            Cursor::sqlite(position),
            event_id.parse().unwrap_or_default()
        ));
    }
    // Not full: everything up to the newest position has been seen,
    // including events a type filter skipped.
    Ok(Batch::assemble(
        events,
        limit,
        after.max(Cursor::sqlite(newest)),
        false,
    ))
}
