//! The `sessions` read model: active, ended and revoked sessions, last seen.

use aggregates::{SessionCutoff, SessionEvent};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::RecordedEvent;

/// One row of `sessions`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Id.
    pub session_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The surface it was started through.
    pub surface: String,
    /// Client IP at login.
    pub client_ip: Option<String>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// Login time.
    pub started_at: DateTime<Utc>,
    /// Last refresh or keep-alive.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

/// Folds one session event into the table (idempotent by version).
pub async fn apply(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    payload: SessionEvent,
) -> Result<(), sqlx::Error> {
    let version = event.sequence;
    match payload {
        SessionEvent::SessionStarted {
            session_id,
            user_id,
            surface,
            remember_me,
            auth_time,
            expires_at,
            client_ip,
            user_agent,
            started_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO sessions (session_id, user_id, surface, remember_me, client_ip,
                                       user_agent, auth_time, started_at, last_seen_at,
                                       expires_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session_id)
            .bind(user_id)
            .bind(surface)
            .bind(remember_me)
            .bind(client_ip.into_inner())
            .bind(user_agent.into_inner())
            .bind(auth_time)
            .bind(started_at)
            .bind(expires_at)
            .bind(version)
            .execute(&mut *conn)
            .await?;
            // A login that raced a password change may be projected after
            // the change although it authenticated before it: the cutoff
            // already ended it.
            sqlx::query(
                "UPDATE sessions s SET ended_at = u.sessions_valid_after, end_reason = 'revoked'
                   FROM users u
                  WHERE s.session_id = $1 AND u.user_id = s.user_id AND s.ended_at IS NULL
                    AND s.auth_time < u.sessions_valid_after
                    AND s.session_id IS DISTINCT FROM u.sessions_kept",
            )
            .bind(session_id)
            .execute(conn)
            .await?;
        }
        SessionEvent::RefreshTokenRotated { at, .. } => {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2, refreshes = refreshes + 1, version = $3
                  WHERE session_id = $1 AND version < $3",
            )
            .bind(session_id(event))
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
        SessionEvent::SessionEnded { reason, at } => {
            sqlx::query(
                "UPDATE sessions SET ended_at = COALESCE(ended_at, $2), end_reason = COALESCE(end_reason, $3),
                                     version = $4
                  WHERE session_id = $1 AND version < $4",
            )
            .bind(session_id(event))
            .bind(at)
            .bind(reason.as_str())
            .bind(version)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

fn session_id(event: &RecordedEvent) -> Uuid {
    event.aggregate_id.parse().unwrap_or_default()
}

/// Marks the sessions a user-level cutoff ends (password change, revoke all).
pub async fn end_by_cutoff(
    conn: &mut PgConnection,
    user_id: Uuid,
    cutoff: SessionCutoff,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $3, end_reason = 'revoked'
          WHERE user_id = $1 AND ended_at IS NULL AND auth_time < $2
            AND session_id IS DISTINCT FROM $4",
    )
    .bind(user_id)
    .bind(cutoff.after)
    .bind(at)
    .bind(cutoff.except)
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's sessions, newest first.
pub async fn of_user(pool: &PgPool, user_id: Uuid) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, user_id, surface, client_ip, user_agent, started_at, last_seen_at,
                expires_at, ended_at, end_reason
           FROM sessions WHERE user_id = $1 ORDER BY started_at DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
