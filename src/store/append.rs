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
            Db::Sqlite { writer, .. } => {
                append_sqlite::<A>(&self.repo, writer, id, after, rows).await
            }
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

/// The same on SQLite, through the framework's repository (one
/// transaction on the single writer; the trigger gives each row its global
/// position in commit order), then the position read back on the writer
/// (the framework does not return it).
async fn append_sqlite<A: Stored>(
    repo: &super::Repo,
    writer: &sqlx::SqlitePool,
    id: &str,
    after: usize,
    rows: Vec<Row>,
) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
    use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
    let count = rows.len();
    let events: Vec<SerializedEvent> = rows
        .into_iter()
        .map(|row| SerializedEvent {
            aggregate_id: id.to_string(),
            sequence: row.sequence as usize,
            aggregate_type: A::TYPE.to_string(),
            event_type: row.event_type,
            event_version: row.event_version,
            payload: row.payload,
            metadata: row.metadata,
        })
        .collect();
    repo.persist::<A>(&events, None).await?;
    let last = (after + count) as i64;
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events
          WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3",
    )
    .bind(A::TYPE)
    .bind(id)
    .bind(last)
    .fetch_optional(writer)
    .await
    .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
    Ok((after + count, position.map(projections::Cursor::sqlite)))
}
