//! Appending a command's events: where a commit lands.

use aggregates::DomainError;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::AggregateError;
use projections::Db;
use sqlx::PgPool;

use super::{Metadata, Store, Stored, PERSONAL_METADATA};

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
    /// The events written, in order, for this instance to apply at once
    /// (`app::on_commit`).
    pub events: Vec<Appended>,
}

/// One event written, as JSON text with its personal values open.
#[derive(Clone)]
pub struct Appended {
    /// Its sequence in the stream.
    pub sequence: i64,
    /// Its type.
    pub event_type: String,
    /// Its payload (holds personal values: never logged).
    pub payload: String,
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("sequence", &self.sequence)
            .field("event_type", &self.event_type)
            .finish_non_exhaustive()
    }
}

impl Written {
    /// The events written, as the effects read them.
    pub fn fed(&self) -> impl Iterator<Item = crate::consumers::effects::Fed<'_>> {
        self.events
            .iter()
            .map(|event| crate::consumers::effects::Fed {
                aggregate_type: self.aggregate_type,
                aggregate_id: &self.aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                payload: &event.payload,
            })
    }
}

impl Store {
    /// Commits `events`, handled on `context`, to `A` `id`, their personal
    /// values sealed for `subject`; returns the last sequence written and,
    /// where the backend gives it, its place in the global order. A
    /// sequence already taken is a conflict.
    pub(super) async fn append<A: Stored>(
        &self,
        id: &str,
        context: EventStoreAggregateContext<A>,
        events: &[A::Event],
        metadata: &Metadata,
        subject: Option<&str>,
    ) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
        let after = context.current_sequence;
        let rows = self
            .sealed::<A>(id, after, events, metadata, subject)
            .await
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
        match &self.db {
            Db::Postgres(pool) => append_postgres::<A>(pool, id, after, rows).await,
            Db::Sqlite { writer, .. } => append_sqlite::<A>(writer, id, after, rows).await,
        }
    }

    /// The rows to store for `events`: each payload and metadata with its
    /// personal values sealed, bound to the event's place.
    async fn sealed<A: Stored>(
        &self,
        id: &str,
        after: usize,
        events: &[A::Event],
        metadata: &Metadata,
        subject: Option<&str>,
    ) -> Result<Vec<Row>, crate::vault::VaultError> {
        use cqrs_es::DomainEvent;
        let actor = metadata.actor_subject();
        let mut rows = Vec::with_capacity(events.len());
        for (offset, event) in events.iter().enumerate() {
            let sequence = (after + 1 + offset) as i64;
            let at = crate::vault::position(A::TYPE, id, sequence);
            let mut payload = serde_json::to_value(event)
                .map_err(|e| crate::vault::VaultError::Crypto(e.to_string()))?;
            // Streams without a subject hold no personal value.
            if let Some(subject) = subject {
                self.vault.seal(subject, &at, &mut payload).await?;
            }
            let mut map = metadata.to_map();
            self.vault
                .seal_metadata(
                    actor.as_deref().or(subject),
                    &at,
                    &PERSONAL_METADATA,
                    &mut map,
                )
                .await?;
            rows.push(Row {
                sequence,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
                metadata: serde_json::to_value(map)
                    .map_err(|e| crate::vault::VaultError::Crypto(e.to_string()))?,
            });
        }
        Ok(rows)
    }
}

/// One event as stored.
#[derive(Debug)]
pub(super) struct Row {
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

/// A sequence already taken: another command got there first.
fn conflict_or(error: sqlx::Error) -> AggregateError<DomainError> {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => AggregateError::AggregateConflict,
        _ => AggregateError::UnexpectedError(Box::new(error)),
    }
}

/// Appends a command's events to `A` `id` after sequence `after`, in one
/// statement (its own transaction: all of them or none); returns the last
/// sequence and its place in the global order.
async fn append_postgres<A: Stored>(
    pool: &PgPool,
    id: &str,
    after: usize,
    rows: Vec<Row>,
) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
    let count = rows.len();
    let mut sequences = Vec::with_capacity(count);
    let mut types = Vec::with_capacity(count);
    let mut versions = Vec::with_capacity(count);
    let mut payloads = Vec::with_capacity(count);
    let mut metadata = Vec::with_capacity(count);
    for row in rows {
        sequences.push(row.sequence);
        types.push(row.event_type);
        versions.push(row.event_version);
        payloads.push(row.payload);
        metadata.push(row.metadata);
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT $1, $2, s, t, v, p, m
           FROM UNNEST($3::int8[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
                AS u(s, t, v, p, m)
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
    .map_err(conflict_or)?;
    let cursor = rows
        .into_iter()
        .map(|(tx, pos)| projections::Cursor { tx, pos })
        .max();
    Ok((after + count, cursor))
}

/// The same on SQLite: one statement on the single writer (its own
/// transaction) that numbers its rows in the global order itself — the
/// positions after the highest, which the single writer makes commit order
/// — and returns them. (The framework's repository took a transaction of
/// three round trips to the writer thread, one insert per event, and
/// returned no position: a fourth to read it back. Every command queues
/// for the one writer, so those round trips were the embedded store's
/// command rate.)
async fn append_sqlite<A: Stored>(
    writer: &sqlx::SqlitePool,
    id: &str,
    after: usize,
    rows: Vec<Row>,
) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
    let count = rows.len();
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "WITH last AS (SELECT COALESCE(MAX(global_position), 0) AS p FROM events)
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, global_position) ",
    );
    for (at, row) in rows.into_iter().enumerate() {
        if at > 0 {
            query.push(" UNION ALL ");
        }
        query
            .push("SELECT ")
            .push_bind(A::TYPE)
            .push(", ")
            .push_bind(id.to_string())
            .push(", ")
            .push_bind(row.sequence)
            .push(", ")
            .push_bind(row.event_type)
            .push(", ")
            .push_bind(row.event_version)
            .push(", ")
            .push_bind(row.payload)
            .push(", ")
            .push_bind(row.metadata)
            .push(format!(", p + {} FROM last", at + 1));
    }
    query.push(" RETURNING global_position");
    let positions: Vec<i64> = query
        .build_query_scalar()
        .fetch_all(writer)
        .await
        .map_err(conflict_or)?;
    Ok((
        after + count,
        positions.into_iter().max().map(projections::Cursor::sqlite),
    ))
}
