//! `eventauth history <user>`: a user's full timeline, their sessions'
//! events included, human-readable or `--json`; with `--at`, their state
//! at that moment instead.
//!
//! Event data is shown in the public schema of the NATS relay (no hashes,
//! no tokens); metadata (who, from where, which request) is shown with its
//! personal entries opened ("[erased]" once the user was erased), since
//! this is the operator's audit view.

use std::collections::BTreeSet;

use aggregates::{Session, SessionEvent, User, UserEvent};
use anyhow::Context;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use projections::{Codec, Db, Parts, RecordedEvent};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sqlx::Row as _;
use uuid::Uuid;

use crate::consumers::relay::schema::public_data;
use crate::vault::tagged::shown_metadata;

/// Whose history, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// The user: an id, or an email address.
    pub user: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Instead of the timeline: the user's state at this time (RFC 3339).
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
}

/// Prints the history of the user `user_id` to standard output.
pub async fn history(
    db: &Db,
    codec: &dyn Codec,
    user_id: Uuid,
    args: &HistoryArgs,
) -> anyhow::Result<String> {
    let rows = timeline(db, codec, user_id).await?;
    anyhow::ensure!(!rows.is_empty(), "no user {user_id}");
    if let Some(at) = args.at {
        let state = state_at(&rows, at);
        return Ok(serde_json::to_string_pretty(&state)?);
    }
    if args.json {
        let lines: Vec<Value> = rows.iter().map(to_json).collect();
        return Ok(serde_json::to_string_pretty(&lines)?);
    }
    let mut text = String::new();
    for row in &rows {
        let data = to_json(row)["data"].to_string();
        let metadata = row.metadata_value();
        let actor = metadata["actor"].as_str().unwrap_or("-");
        text.push_str(&format!(
            "{}  {:<8} {:<20} {:<36} by {:<42} {}\n",
            row.recorded_at.format("%Y-%m-%d %H:%M:%S%.3fZ"),
            row.aggregate_type,
            row.event_type,
            row.aggregate_id,
            actor,
            data
        ));
    }
    Ok(text)
}

/// The user's events and their sessions' events, in the order recorded,
/// opened by `codec` (payload and metadata; erased values as erased).
pub async fn timeline(
    db: &Db,
    codec: &dyn Codec,
    user_id: Uuid,
) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut rows = events_of(db, User::TYPE, &[user_id.to_string()]).await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    let sessions: BTreeSet<String> = rows_of_sessions(db, user_id).await?;
    rows.extend(events_of(db, Session::TYPE, &sessions.into_iter().collect::<Vec<_>>()).await?);
    rows.sort_by(|a, b| {
        (a.recorded_at, &a.aggregate_type, a.sequence).cmp(&(
            b.recorded_at,
            &b.aggregate_type,
            b.sequence,
        ))
    });
    codec.open(&mut rows, Parts::All).await?;
    Ok(rows)
}

/// One event as the timeline shows it: its data in the relay's public
/// schema, its metadata (who, from where) with personal entries shown.
pub fn to_json(row: &RecordedEvent) -> Value {
    json!({
        "time": row.recorded_at,
        "aggregateType": row.aggregate_type,
        "aggregateId": row.aggregate_id,
        "sequence": row.sequence,
        "eventType": row.event_type,
        "data": public_data(row),
        "metadata": shown_metadata(row.metadata_value()),
    })
}

/// The user's state and live sessions at `at`, folded from the timeline.
fn state_at(rows: &[RecordedEvent], at: DateTime<Utc>) -> Value {
    let mut user = User::default();
    let mut sessions: std::collections::BTreeMap<String, (DateTime<Utc>, Option<String>)> =
        Default::default();
    for row in rows.iter().filter(|row| row.recorded_at <= at) {
        match row.aggregate_type.as_str() {
            User::TYPE => {
                if let Ok(event) = row.decode::<UserEvent>() {
                    user.apply(event);
                }
            }
            Session::TYPE => match row.decode::<SessionEvent>() {
                Ok(SessionEvent::SessionStarted { started_at, .. }) => {
                    sessions.insert(row.aggregate_id.clone(), (started_at, None));
                }
                Ok(SessionEvent::SessionEnded { reason, .. }) => {
                    if let Some(session) = sessions.get_mut(&row.aggregate_id) {
                        session.1 = Some(reason.as_str().to_string());
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    let cutoff = user.cutoff();
    json!({
        "at": at,
        "user": {
            "id": user.id(),
            "email": user.email().expose(),
            "firstName": user.first_name().expose(),
            "lastName": user.last_name().expose(),
            "roles": user.roles(),
            "registeredAt": user.registered_at(),
            "lockedUntil": user.locked_until(at),
            "sessionsValidAfter": cutoff.map(|c| c.after),
        },
        "sessions": sessions.iter().map(|(id, (started, ended))| {
            let revoked = cutoff.is_some_and(|c| {
                id.parse().is_ok_and(|sid| c.revokes(sid, *started))
            });
            json!({
                "sessionId": id,
                "startedAt": started,
                "active": ended.is_none() && !revoked,
                "ended": ended.clone().or(revoked.then(|| "revoked".to_string())),
            })
        }).collect::<Vec<_>>(),
    })
}

async fn events_of(
    db: &Db,
    aggregate_type: &str,
    ids: &[String],
) -> anyhow::Result<Vec<RecordedEvent>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(ids)?;
    let rows = match db {
        Db::Postgres(pool) => sqlx::query(
            "SELECT event_id, aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata, recorded_at
               FROM events
              WHERE aggregate_type = $1
                AND aggregate_id IN (SELECT jsonb_array_elements_text($2::jsonb))",
        )
        .bind(aggregate_type)
        .bind(ids)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| recorded(row, row.get("event_id")))
        .collect(),
        Db::Sqlite { reader, .. } => sqlx::query(
            "SELECT event_id, aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata, recorded_at
               FROM events
              WHERE aggregate_type = ?1
                AND aggregate_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(aggregate_type)
        .bind(ids)
        .fetch_all(reader)
        .await?
        .iter()
        .map(|row| {
            let id: String = row.get("event_id");
            recorded(row, id.parse().unwrap_or_default())
        })
        .collect(),
    };
    Ok(rows)
}

/// A row of either backend as an event (outside the global order: the
/// timeline orders by time).
fn recorded<'r, R: sqlx::Row>(row: &'r R, event_id: Uuid) -> RecordedEvent
where
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    sqlx::types::Json<Box<RawValue>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    RecordedEvent {
        cursor: projections::Cursor::START,
        event_id,
        aggregate_type: row.get("aggregate_type"),
        aggregate_id: row.get("aggregate_id"),
        sequence: row.get("sequence"),
        event_type: row.get("event_type"),
        event_version: row.get("event_version"),
        payload: row.get::<sqlx::types::Json<Box<RawValue>>, _>("payload").0,
        metadata: row.get::<sqlx::types::Json<Box<RawValue>>, _>("metadata").0,
        recorded_at: row.get("recorded_at"),
    }
}

async fn rows_of_sessions(db: &Db, user_id: Uuid) -> anyhow::Result<BTreeSet<String>> {
    Ok(projections::sessions::of_user(db, user_id)
        .await
        .context("reading the user's sessions")?
        .into_iter()
        .map(|row| row.session_id.to_string())
        .collect())
}
