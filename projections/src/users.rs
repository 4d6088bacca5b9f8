//! The `users` read model: what profile, list and search endpoints need.

use aggregates::UserEvent;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::RecordedEvent;

/// One row of `users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Id.
    pub user_id: Uuid,
    /// Email as entered.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role slugs.
    pub roles: Vec<String>,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// End of the current lockout, if any.
    pub locked_until: Option<DateTime<Utc>>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Folds one user event into the table. Idempotent: a row is only changed by
/// an event newer than the last one applied to it.
pub async fn apply(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    payload: UserEvent,
) -> Result<(), sqlx::Error> {
    let user_id: Uuid = event.aggregate_id.parse().unwrap_or_default();
    let version = event.sequence;
    match payload {
        UserEvent::UserRegistered {
            email,
            first_name,
            last_name,
            roles,
            registered_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO users (user_id, email, first_name, last_name, roles, created_at,
                                    updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(email.expose())
            .bind(first_name.expose())
            .bind(last_name.expose())
            .bind(&roles)
            .bind(registered_at)
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
        UserEvent::UserLockedOut { until, .. } => {
            sqlx::query(
                "UPDATE users SET locked_until = $2, version = $3
                  WHERE user_id = $1 AND version < $3",
            )
            .bind(user_id)
            .bind(until)
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
        UserEvent::PasswordRehashed { .. } => {
            bump_version(conn, user_id, version).await?;
        }
        UserEvent::PasswordChanged { cutoff, at, .. }
        | UserEvent::SessionsRevoked { cutoff, at } => {
            let changed = sqlx::query(
                "UPDATE users SET sessions_valid_after = $2, sessions_kept = $5, updated_at = $3,
                                  version = $4
                  WHERE user_id = $1 AND version < $4",
            )
            .bind(user_id)
            .bind(cutoff.after)
            .bind(at)
            .bind(version)
            .bind(cutoff.except)
            .execute(&mut *conn)
            .await?;
            if changed.rows_affected() > 0 {
                crate::sessions::end_by_cutoff(conn, user_id, cutoff, at).await?;
            }
        }
    }
    Ok(())
}

async fn bump_version(
    conn: &mut PgConnection,
    user_id: Uuid,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET version = $2 WHERE user_id = $1 AND version < $2")
        .bind(user_id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// One user by id.
pub async fn find(pool: &PgPool, user_id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, email, first_name, last_name, roles, email_verified, locked_until,
                created_at, updated_at
           FROM users WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}
