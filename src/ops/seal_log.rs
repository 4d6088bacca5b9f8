//! `eventauth seal-log`: the one-off re-encryption of a log written before
//! personal data was sealed. Events of those days hold their personal
//! values in the clear (`{"plain": …}`); this seals each of them in place,
//! under the key of the person the stream belongs to (the same rule new
//! appends follow), so that erasure reaches them too. The meaning of no
//! event changes; only how its personal values are stored. Snapshots
//! holding clear values are dropped (they are caches; the next commands
//! take new ones).
//!
//! It rewrites rows of the append-only log, so it is an operator's act,
//! logged, run once after upgrading: safe while the service runs (a row is
//! replaced whole; readers open sealed and clear values alike). Old row
//! versions stay in PostgreSQL's dead tuples and WAL until `VACUUM FULL`,
//! and in every backup taken before: see docs/personal-data.md.

use std::collections::HashMap;

use anyhow::Context;
use projections::Db;
use serde_json::Value;

use crate::store::{actor_subject, Store, PERSONAL_METADATA, PERSONAL_STREAMS};

/// Events per round.
const BATCH: i64 = 500;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Events whose clear values were sealed.
    pub events: u64,
    /// Snapshots dropped.
    pub snapshots: u64,
}

/// One stored event still holding clear values.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    global_position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    payload: sqlx::types::Json<Value>,
    metadata: sqlx::types::Json<HashMap<String, String>>,
}

/// Seals every clear personal value in the log.
pub async fn seal_log(store: &Store) -> anyhow::Result<Sealed> {
    let db = store.db();
    let vault = store.vault();
    let mut done = Sealed::default();
    let mut subjects: HashMap<(String, String), Option<String>> = HashMap::new();
    let mut after = 0;
    loop {
        let rows = clear_rows(db, after).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.global_position;
        for row in rows {
            let stream = (row.aggregate_type.clone(), row.aggregate_id.clone());
            let subject = match subjects.get(&stream) {
                Some(subject) => subject.clone(),
                None => {
                    let subject = store
                        .data_subject_of(&row.aggregate_type, &row.aggregate_id)
                        .await?;
                    subjects.insert(stream, subject.clone());
                    subject
                }
            };
            let at = crate::vault::position(&row.aggregate_type, &row.aggregate_id, row.sequence);
            let mut payload = row.payload.0;
            if let Some(subject) = &subject {
                vault
                    .seal(subject, &at, &mut payload)
                    .await
                    .with_context(|| format!("sealing {at}"))?;
            }
            let mut metadata = row.metadata.0;
            let actor = metadata.get("actor").and_then(|actor| actor_subject(actor));
            vault
                .seal_metadata(
                    actor.as_deref().or(subject.as_deref()),
                    &at,
                    &PERSONAL_METADATA,
                    &mut metadata,
                )
                .await?;
            replace(
                db,
                &row.aggregate_type,
                &row.aggregate_id,
                row.sequence,
                &payload,
                &metadata,
            )
            .await?;
            done.events += 1;
        }
        tracing::info!(
            events = done.events,
            "sealing the log's clear personal values"
        );
    }
    done.snapshots = drop_clear_snapshots(db).await?;
    Ok(done)
}

/// The next events after position `after` with clear personal values.
async fn clear_rows(db: &Db, after: i64) -> Result<Vec<Row>, sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                r#"SELECT global_position, aggregate_type, aggregate_id, sequence, payload, metadata
                     FROM events
                    WHERE global_position > $1 AND aggregate_type = ANY($2)
                      AND (strpos(payload::text, '"plain"') > 0
                           OR strpos(metadata::text, '\"plain\"') > 0)
                    ORDER BY global_position LIMIT $3"#,
            )
            .bind(after)
            .bind(&PERSONAL_STREAMS[..])
            .bind(BATCH)
            .fetch_all(pool)
            .await
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_as(
                r#"SELECT global_position, aggregate_type, aggregate_id, sequence, payload, metadata
                     FROM events
                    WHERE global_position > ?1
                      AND aggregate_type IN (SELECT value FROM json_each(?2))
                      AND (instr(payload, '"plain"') > 0 OR instr(metadata, '\"plain\"') > 0)
                    ORDER BY global_position LIMIT ?3"#,
            )
            .bind(after)
            .bind(serde_json::to_string(&PERSONAL_STREAMS).unwrap_or_default())
            .bind(BATCH)
            .fetch_all(reader)
            .await
        }
    }
}

/// Stores an event's sealed payload and metadata in place of its clear ones.
async fn replace(
    db: &Db,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    payload: &Value,
    metadata: &HashMap<String, String>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE events SET payload = $4, metadata = $5
                        WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";
    let metadata = sqlx::types::Json(metadata);
    let payload = sqlx::types::Json(payload);
    match db {
        Db::Postgres(pool) => {
            sqlx::query(SQL)
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .bind(payload)
                .bind(metadata)
                .execute(pool)
                .await?;
        }
        Db::Sqlite { writer, .. } => {
            sqlx::query(&projections::db::sqlite_sql(SQL))
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(sequence)
                .bind(payload)
                .bind(metadata)
                .execute(writer)
                .await?;
        }
    }
    Ok(())
}

/// Drops the snapshots that hold clear personal values.
async fn drop_clear_snapshots(db: &Db) -> Result<u64, sqlx::Error> {
    let done = match db {
        Db::Postgres(pool) => sqlx::query(
            r#"DELETE FROM aggregate_snapshots WHERE strpos(state::text, '"plain"') > 0"#,
        )
        .execute(pool)
        .await?
        .rows_affected(),
        Db::Sqlite { writer, .. } => {
            sqlx::query(r#"DELETE FROM aggregate_snapshots WHERE instr(state, '"plain"') > 0"#)
                .execute(writer)
                .await?
                .rows_affected()
        }
    };
    Ok(done)
}
