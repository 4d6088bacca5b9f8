//! The `sessions` read model: active, ended and revoked sessions, last seen.

use aggregates::{SessionCutoff, SessionEvent};
use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::{execute, fetch_all, Conn, Db, RecordedEvent};

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
    conn: &mut Conn<'_>,
    event: &RecordedEvent,
    payload: SessionEvent,
) -> Result<(), sqlx::Error> {
    let version = event.sequence;
    match payload {
        // The row is created by the batch fold, which takes every start.
        SessionEvent::SessionStarted { .. } => {}
        SessionEvent::RefreshTokenRotated { at, .. } => {
            execute!(
                conn,
                "UPDATE sessions SET last_seen_at = $2, refreshes = refreshes + 1, version = $3
                  WHERE session_id = $1 AND version < $3",
                session_id(event),
                at,
                version
            )?;
        }
        SessionEvent::SessionExtended { expires_at, at } => {
            execute!(
                conn,
                "UPDATE sessions SET expires_at = $2, last_seen_at = $3, version = $4
                  WHERE session_id = $1 AND version < $4",
                session_id(event),
                expires_at,
                at,
                version
            )?;
        }
        // Which account a session acts in is asked of the Session itself.
        SessionEvent::AccountSelected { at, .. } => {
            execute!(
                conn,
                "UPDATE sessions SET last_seen_at = $2, version = $3
                  WHERE session_id = $1 AND version < $3",
                session_id(event),
                at,
                version
            )?;
        }
        SessionEvent::SessionEnded { reason, at } => {
            execute!(
                conn,
                "UPDATE sessions SET ended_at = COALESCE(ended_at, $2), end_reason = COALESCE(end_reason, $3),
                                     version = $4
                  WHERE session_id = $1 AND version < $4",
                session_id(event),
                at,
                reason.as_str(),
                version
            )?;
        }
    }
    Ok(())
}

fn session_id(event: &RecordedEvent) -> Uuid {
    event.aggregate_id.parse().unwrap_or_default()
}

/// Ends the given sessions, just written by a batch fold, whose user's
/// cutoff covers them: a login that raced a password change may be
/// projected after the change although it authenticated before it, and the
/// cutoff already ended it. The fold may have applied the sessions' later
/// events already (an end, say); the check came first for each of them,
/// at its insert, so it applies whether or not the row says it ended (a
/// later end keeps the revocation: `COALESCE`).
pub(crate) async fn end_if_cut_off(
    conn: &mut Conn<'_>,
    sessions: &[Uuid],
) -> Result<(), sqlx::Error> {
    const CHECK: &str =
        "UPDATE sessions AS s SET ended_at = u.sessions_valid_after, end_reason = 'revoked'
           FROM (SELECT user_id, sessions_valid_after, sessions_kept FROM users
                 UNION ALL
                 SELECT user_id, sessions_valid_after, sessions_kept FROM facility_users) AS u
          WHERE s.session_id {which} AND u.user_id = s.user_id
            AND s.auth_time < u.sessions_valid_after
            AND s.session_id IS DISTINCT FROM u.sessions_kept";
    if sessions.is_empty() {
        return Ok(());
    }
    match conn {
        // One statement for all of them.
        Conn::Postgres(c) => {
            sqlx::query(&CHECK.replace("{which}", "= ANY($1)"))
                .bind(sessions)
                .execute(&mut **c)
                .await?;
        }
        // No arrays: one (in-process) statement each.
        Conn::Sqlite(c) => {
            let sql = CHECK.replace("{which}", "= ?1");
            for session in sessions {
                sqlx::query(&sql).bind(session).execute(&mut **c).await?;
            }
        }
    }
    Ok(())
}

/// Marks the sessions a user-level cutoff ends (password change, revoke all).
pub async fn end_by_cutoff(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    cutoff: SessionCutoff,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE sessions SET ended_at = $3, end_reason = 'revoked'
          WHERE user_id = $1 AND ended_at IS NULL AND auth_time < $2
            AND session_id IS DISTINCT FROM $4",
        user_id,
        cutoff.after,
        at,
        cutoff.except
    )?;
    Ok(())
}

/// Forgets where a user's sessions came from (their IPs and user agents:
/// the user was erased).
pub async fn forget_clients(conn: &mut Conn<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE sessions SET client_ip = NULL, user_agent = NULL WHERE user_id = $1",
        user_id
    )?;
    Ok(())
}

/// The columns of a [`SessionRow`].
const COLUMNS: &str = "session_id, user_id, surface, client_ip, user_agent, started_at,
    last_seen_at, expires_at, ended_at, end_reason";

/// A user's sessions that are live at `now` (not ended, not expired),
/// newest first: the index on `(user_id, started_at)` narrows to the user,
/// the rest is filtered in the database.
pub async fn live_of_user(
    db: &Db,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions
          WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2
          ORDER BY started_at DESC"
    );
    fetch_all!(db, SessionRow, &sql, user_id, now)
}

/// A user's `limit` newest sessions, newest first.
pub async fn recent_of_user(
    db: &Db,
    user_id: Uuid,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY started_at DESC LIMIT $2"
    );
    fetch_all!(db, SessionRow, &sql, user_id, limit)
}

/// A user's sessions, newest first.
pub async fn of_user(db: &Db, user_id: Uuid) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY started_at DESC");
    fetch_all!(db, SessionRow, &sql, user_id)
}
