//! Synthetic event logs, for benchmarks and tests: the events the service
//! would have written for many users' lives, appended straight to the
//! store in large transactions (no HTTP, no password hashing). Each user:
//! registered; a session started, refreshed and ended; every fifth also
//! opens a second session and changes their password (whose cutoff ends
//! it). The password hashes are fixed placeholders: nobody can log in as
//! these users.
//!
//! Its files: this one holds the ordinary lives and the writing of rows;
//! `varied` holds the lives that go through every kind of event.

mod varied;

use aggregates::{
    EndReason, PasswordHash, Personal, SessionCutoff, SessionEvent, TokenHash, UserEvent,
};
use chrono::{TimeDelta, Utc};
use projections::Db;
use serde_json::Value;
use uuid::Uuid;

pub use varied::append_varied;

/// One stored event row: aggregate type and id, sequence, type, payload.
pub(crate) type Row = (&'static str, String, i64, String, Value);

fn row<E: cqrs_es::DomainEvent>(kind: &'static str, id: Uuid, sequence: i64, event: &E) -> Row {
    row_of(kind, id.to_string(), sequence, event)
}

/// The stored row of `event`, the `sequence`th of aggregate `kind`/`id`.
pub(crate) fn row_of<E: cqrs_es::DomainEvent>(
    kind: &'static str,
    id: String,
    sequence: i64,
    event: &E,
) -> Row {
    (
        kind,
        id,
        sequence,
        event.event_type(),
        serde_json::to_value(event).unwrap_or_default(),
    )
}

/// A user's life, as the service would have written it: registered, a
/// session started, refreshed and ended; every fifth user changes their
/// password while a second session is open (the cutoff ends it). Returns
/// the user id and their events.
fn life(i: usize) -> (Uuid, Vec<Row>) {
    let user = Uuid::new_v4();
    let at = Utc::now() - TimeDelta::days(1) + TimeDelta::milliseconds(i as i64);
    let hash = TokenHash::new(format!("{:064x}", i));
    let mut rows = vec![row(
        "user",
        user,
        1,
        &UserEvent::UserRegistered {
            user_id: user,
            email: Personal::new(format!("seed{i}@example.com")),
            first_name: Personal::new(format!("Seed{i}")),
            last_name: Personal::new("Person".to_string()),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            roles: vec!["user".to_string()],
            registered_at: at,
        },
    )];
    let session = |id: Uuid, at| SessionEvent::SessionStarted {
        session_id: id,
        user_id: user,
        surface: "ild".to_string(),
        transport: Some(aggregates::Transport::Bearer),
        active: true,
        account: None,
        remember_me: i % 2 == 0,
        refresh_token_hash: hash.clone(),
        auth_time: at,
        expires_at: at + TimeDelta::days(30),
        client_ip: Personal::new(Some("192.0.2.7".to_string())),
        user_agent: Personal::new(Some("seed".to_string())),
        started_at: at,
    };
    let first = Uuid::new_v4();
    rows.push(row("session", first, 1, &session(first, at)));
    rows.push(row(
        "session",
        first,
        2,
        &SessionEvent::RefreshTokenRotated {
            previous_hash: hash.clone(),
            refresh_token_hash: hash.clone(),
            at: at + TimeDelta::seconds(1),
        },
    ));
    rows.push(row(
        "session",
        first,
        3,
        &SessionEvent::SessionEnded {
            reason: EndReason::Logout,
            at: at + TimeDelta::seconds(2),
        },
    ));
    if i % 5 == 0 {
        let second = Uuid::new_v4();
        let later = at + TimeDelta::seconds(3);
        rows.push(row("session", second, 1, &session(second, later)));
        rows.push(row(
            "user",
            user,
            2,
            &UserEvent::PasswordChanged {
                password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3"),
                cutoff: SessionCutoff {
                    after: later + TimeDelta::seconds(1),
                    except: None,
                },
                at: later + TimeDelta::seconds(1),
            },
        ));
    }
    (user, rows)
}

/// Appends about `events` events straight to the store (whole user lives,
/// so a few more), in transactions of some thousands; a running service's
/// projector and relay follow. Returns the users' ids in creation order
/// (their emails are `seed<i>@example.com`).
pub async fn append(db: &Db, events: usize) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut users = Vec::new();
    let mut pending: Vec<Row> = Vec::new();
    let mut written = 0;
    let mut i = 0;
    while written < events {
        let (user, rows) = life(i);
        i += 1;
        users.push(user);
        written += rows.len();
        pending.extend(rows);
        if pending.len() >= 5_000 || written >= events {
            insert(db, std::mem::take(&mut pending)).await?;
        }
    }
    Ok(users)
}

async fn insert(db: &Db, rows: Vec<Row>) -> Result<(), sqlx::Error> {
    insert_with(db, rows, &Value::Object(Default::default())).await
}

/// Appends `rows` in one transaction, each with `metadata`: all of them or
/// none (a stream's sequence already taken fails the whole transaction).
pub(crate) async fn insert_with(
    db: &Db,
    rows: Vec<Row>,
    metadata: &Value,
) -> Result<(), sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            let kinds: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
            let sequences: Vec<i64> = rows.iter().map(|r| r.2).collect();
            let types: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
            let payloads: Vec<&Value> = rows.iter().map(|r| &r.4).collect();
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 SELECT t, i, s, e, '1', p, $6
                   FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::jsonb[])
                        AS u(t, i, s, e, p)",
            )
            .bind(kinds)
            .bind(ids)
            .bind(sequences)
            .bind(types)
            .bind(payloads)
            .bind(metadata)
            .execute(pool)
            .await?;
        }
        Db::Sqlite { writer, .. } => {
            let mut tx = writer.begin().await?;
            for (kind, id, sequence, event_type, payload) in rows {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                         event_version, payload, metadata)
                     VALUES (?1, ?2, ?3, ?4, '1', ?5, ?6)",
                )
                .bind(kind)
                .bind(id)
                .bind(sequence)
                .bind(event_type)
                .bind(payload.to_string())
                .bind(metadata.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Appends `n` profile updates (a nickname each) to the stream of user
/// `user`, whose last event is `after`: a long stream, as years of use
/// would leave it, for the benchmark of commands on long streams.
pub async fn append_profile_updates(
    db: &Db,
    user: Uuid,
    after: i64,
    n: usize,
) -> Result<(), sqlx::Error> {
    use aggregates::ProfileChanges;
    let at = Utc::now() - TimeDelta::days(1);
    let mut pending = Vec::with_capacity(5_000);
    for i in 0..n {
        pending.push(row(
            "user",
            user,
            after + 1 + i as i64,
            &UserEvent::ProfileUpdated {
                changes: Box::new(ProfileChanges {
                    nickname: Some(Some(Personal::new(format!("nick{i}")))),
                    ..Default::default()
                }),
                at: at + TimeDelta::milliseconds(i as i64),
            },
        ));
        if pending.len() == 5_000 || i + 1 == n {
            insert(db, std::mem::take(&mut pending)).await?;
        }
    }
    Ok(())
}
