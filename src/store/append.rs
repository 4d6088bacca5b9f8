//! Appending a command's events: where a commit lands.

use aggregates::DomainError;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{AggregateError, EventStore};
use projections::Db;
use sqlx::PgPool;

use super::{Metadata, Store, Stored};

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

impl Store {
    /// Commits `events`, handled on `context`, to `A` `id`; returns the
    /// last sequence written and, where the backend gives it, its place in
    /// the global order. A sequence already taken is a conflict.
    pub(super) async fn append<A: Stored>(
        &self,
        id: &str,
        context: EventStoreAggregateContext<A>,
        events: &[A::Event],
        metadata: &Metadata,
    ) -> Result<(usize, Option<projections::Cursor>), AggregateError<DomainError>> {
        match &self.db {
            Db::Postgres(pool) => {
                append_postgres::<A>(pool, id, context.current_sequence, events, metadata).await
            }
            Db::Sqlite { .. } => A::event_store(self)
                .commit(events.to_vec(), context, metadata.to_map())
                .await
                .map(|envelopes| (envelopes.last().map_or(0, |e| e.sequence), None)),
        }
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
