//! The `users` read model: what profile, list and search endpoints need.

use aggregates::UserEvent;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{execute, fetch_all, Conn, Db, RecordedEvent};

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
    pub roles: Json<Vec<String>>,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Whether an administrator disabled the account.
    pub disabled: bool,
    /// End of the current lockout, if any.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the tutorial was finished.
    pub tutorial_completed_at: Option<DateTime<Utc>>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Folds one user event into the table. Idempotent: a row is only changed by
/// an event newer than the last one applied to it.
pub async fn apply(
    conn: &mut Conn<'_>,
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
            execute!(
                conn,
                "INSERT INTO users (user_id, email, first_name, last_name, roles, created_at,
                                    updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
                 ON CONFLICT (user_id) DO NOTHING",
                user_id,
                email.expose(),
                first_name.expose(),
                last_name.expose(),
                Json(&roles),
                registered_at,
                version
            )?;
        }
        UserEvent::UserLockedOut { until, .. } => {
            execute!(
                conn,
                "UPDATE users SET locked_until = $2, version = $3
                  WHERE user_id = $1 AND version < $3",
                user_id,
                until,
                version
            )?;
        }
        UserEvent::PasswordRehashed { .. }
        | UserEvent::EmailVerificationIssued { .. }
        | UserEvent::PasswordResetIssued { .. } => {
            bump_version(conn, user_id, version).await?;
        }
        UserEvent::UserDisabled { cutoff, at } => {
            let changed = execute!(
                conn,
                "UPDATE users SET disabled = true, sessions_valid_after = $2, sessions_kept = NULL,
                                  updated_at = $3, version = $4
                  WHERE user_id = $1 AND version < $4",
                user_id,
                cutoff.after,
                at,
                version
            )?;
            if changed > 0 {
                crate::sessions::end_by_cutoff(conn, user_id, cutoff, at).await?;
            }
        }
        UserEvent::UserEnabled { at } => {
            execute!(
                conn,
                "UPDATE users SET disabled = false, updated_at = $2, version = $3
                  WHERE user_id = $1 AND version < $3",
                user_id,
                at,
                version
            )?;
        }
        UserEvent::RoleGranted { role, at } => {
            set_role(conn, user_id, &role, at, version, true).await?;
        }
        UserEvent::RoleRevoked { role, at } => {
            set_role(conn, user_id, &role, at, version, false).await?;
        }
        UserEvent::CommunityJoined { community_id, at } => {
            bump_version(conn, user_id, version).await?;
            crate::organizations::add_member(conn, community_id, user_id, at).await?;
        }
        UserEvent::TutorialCompleted { at } => {
            execute!(
                conn,
                "UPDATE users SET tutorial_completed_at = $2, updated_at = $2, version = $3
                  WHERE user_id = $1 AND version < $3",
                user_id,
                at,
                version
            )?;
        }
        UserEvent::EmailVerified { at } => {
            execute!(
                conn,
                "UPDATE users SET email_verified = true, updated_at = $2, version = $3
                  WHERE user_id = $1 AND version < $3",
                user_id,
                at,
                version
            )?;
        }
        UserEvent::PasswordChanged { cutoff, at, .. }
        | UserEvent::PasswordReset { cutoff, at, .. }
        | UserEvent::SessionsRevoked { cutoff, at } => {
            let changed = execute!(
                conn,
                "UPDATE users SET sessions_valid_after = $2, sessions_kept = $5, updated_at = $3,
                                  version = $4
                  WHERE user_id = $1 AND version < $4",
                user_id,
                cutoff.after,
                at,
                version,
                cutoff.except
            )?;
            if changed > 0 {
                crate::sessions::end_by_cutoff(conn, user_id, cutoff, at).await?;
            }
        }
    }
    Ok(())
}

/// Grants or revokes one role (a read-modify-write inside the batch's
/// transaction; order as the aggregate keeps it).
async fn set_role(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    role: &str,
    at: DateTime<Utc>,
    version: i64,
    granted: bool,
) -> Result<(), sqlx::Error> {
    let sql = "SELECT roles FROM users WHERE user_id = $1 AND version < $2";
    let current: Option<Json<Vec<String>>> = match conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar(sql)
                .bind(user_id)
                .bind(version)
                .fetch_optional(&mut **c)
                .await?
        }
        Conn::Sqlite(c) => {
            sqlx::query_scalar(&crate::db::sqlite_sql(sql))
                .bind(user_id)
                .bind(version)
                .fetch_optional(&mut **c)
                .await?
        }
    };
    let Some(Json(mut roles)) = current else {
        return Ok(());
    };
    roles.retain(|r| r != role);
    if granted {
        roles.push(role.to_string());
    }
    execute!(
        conn,
        "UPDATE users SET roles = $2, updated_at = $3, version = $4
          WHERE user_id = $1 AND version < $4",
        user_id,
        Json(&roles),
        at,
        version
    )?;
    Ok(())
}

async fn bump_version(conn: &mut Conn<'_>, user_id: Uuid, version: i64) -> Result<(), sqlx::Error> {
    execute!(
        conn,
        "UPDATE users SET version = $2 WHERE user_id = $1 AND version < $2",
        user_id,
        version
    )?;
    Ok(())
}

/// One user by id.
pub async fn find(db: &Db, user_id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    let rows = fetch_all!(
        db,
        UserRow,
        "SELECT user_id, email, first_name, last_name, roles, email_verified, disabled,
                locked_until, tutorial_completed_at, created_at, updated_at
           FROM users WHERE user_id = $1",
        user_id
    )?;
    Ok(rows.into_iter().next())
}

/// How a user list is ordered: a column and a direction; ties broken by id
/// so pages never overlap or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// `created_at`, `updated_at`, `email`, `first_name` or `last_name`.
    pub column: &'static str,
    /// Descending.
    pub descending: bool,
}

/// A page of users, optionally only those whose email or name contains
/// `search` (case-insensitive); with the number of all matching users.
pub async fn list(
    db: &Db,
    search: Option<&str>,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserRow>, i64), sqlx::Error> {
    let pattern = search.map(|s| {
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let filter = "($1 IS NULL OR lower(email) LIKE $1 ESCAPE '\\'
                  OR lower(first_name) LIKE $1 ESCAPE '\\'
                  OR lower(last_name) LIKE $1 ESCAPE '\\')";
    let direction = if sort.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT user_id, email, first_name, last_name, roles, email_verified, disabled,
                locked_until, tutorial_completed_at, created_at, updated_at
           FROM users WHERE {filter}
          ORDER BY {column} {direction}, user_id {direction}
          LIMIT $2 OFFSET $3",
        column = sort.column
    );
    let rows = fetch_all!(db, UserRow, &sql, pattern.clone(), limit, offset)?;
    let count_sql = format!("SELECT count(*) AS n FROM users WHERE {filter}");
    let total = fetch_all!(db, Count, &count_sql, pattern)?
        .first()
        .map_or(0, |c| c.n);
    Ok((rows, total))
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}
