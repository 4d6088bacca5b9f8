//! The `users` read model: what profile, list and search endpoints need.
//!
//! This file is over 500 lines because it is one table's whole read model,
//! as each of its siblings is: the per-event SQL that writes `users` (whose
//! column mapping the batch fold reuses: `profile_columns`,
//! `subscription_state`) and the queries that read it. Split into writes
//! and reads, each half would have to know the other's columns.

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
    /// Profile: nickname.
    pub nickname: Option<String>,
    /// Profile: bio.
    pub bio: Option<String>,
    /// Profile: location.
    pub location: Option<String>,
    /// Profile: web site.
    pub website: Option<String>,
    /// Profile (private): phone.
    pub phone: Option<String>,
    /// Profile (private): date of birth, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Profile: language tag.
    pub language: Option<String>,
    /// Profile: IANA time zone.
    pub timezone: Option<String>,
    /// The picture's blob key.
    pub image_key: Option<String>,
    /// Categories of the last index run.
    pub categories: Json<Vec<String>>,
    /// Subscription plan, as last recorded.
    pub subscription_plan: Option<String>,
    /// `none`, `active`, `canceled` or `expired`, as last recorded.
    pub subscription_status: String,
    /// The plan's end.
    pub subscription_valid_until: Option<DateTime<Utc>>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The columns of a [`UserRow`], for every query that reads one.
pub(crate) const COLUMNS: &str =
    "user_id, email, first_name, last_name, roles, email_verified, disabled,
    locked_until, tutorial_completed_at, nickname, bio, location, website, phone, birth_date,
    language, timezone, image_key, categories, subscription_plan, subscription_status,
    subscription_valid_until, created_at, updated_at";

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
        // The rows (and their counts) are created by the batch fold, which
        // takes every registration.
        UserEvent::UserRegistered { .. } | UserEvent::FacilityUserRegistered { .. } => {}
        UserEvent::UserDisabled { cutoff, at } => {
            apply_cutoff(conn, user_id, cutoff, at, version, true).await?;
        }
        UserEvent::RoleGranted { role, at } => {
            set_role(conn, user_id, &role, at, version, true).await?;
            if role == aggregates::SUPERUSER_ROLE {
                crate::facility_users::set_superuser(conn, user_id, true).await?;
            }
        }
        UserEvent::RoleRevoked { role, at } => {
            set_role(conn, user_id, &role, at, version, false).await?;
            if role == aggregates::SUPERUSER_ROLE {
                crate::facility_users::set_superuser(conn, user_id, false).await?;
            }
        }
        UserEvent::CollectionRoleAssigned { role, at } => {
            crate::facility_users::assign_role(conn, user_id, &role, at).await?;
        }
        UserEvent::CollectionRoleRemoved { role, .. } => {
            crate::facility_users::remove_role(conn, role.id).await?;
        }
        UserEvent::CollectionJoined { collection, at } => {
            crate::organizations::add_member(conn, collection, user_id, at).await?;
        }
        UserEvent::CollectionLeft { collection, .. } => {
            crate::organizations::remove_member(conn, collection, user_id).await?;
        }
        UserEvent::FacilityUserUpdated { changes, .. } => {
            crate::facility_users::update(conn, user_id, &changes, version).await?;
        }
        // Account memberships, the number and external identities are
        // answered from the user's own state (a session asks for its own
        // user's; login finds the user by the identity's claim): no read
        // model holds them.
        UserEvent::AccountJoined { .. }
        | UserEvent::AccountLeft { .. }
        | UserEvent::NumberAssigned { .. }
        | UserEvent::IdentityLinked { .. } => {}
        UserEvent::UserDeleted { cutoff, at } => {
            delete(conn, user_id, cutoff, at, version).await?;
        }
        // Nothing personal stays: the user's rows go (a facility user's
        // too, as after a purge), their sessions keep no IP or user agent.
        UserEvent::UserErased { cutoff, at } => {
            delete(conn, user_id, cutoff, at, version).await?;
            crate::facility_users::purge(conn, user_id).await?;
            crate::sessions::forget_clients(conn, user_id).await?;
        }
        UserEvent::UserRestored { .. } => {
            crate::facility_users::restore(conn, user_id).await?;
        }
        UserEvent::UserPurged { .. } => {
            crate::facility_users::purge(conn, user_id).await?;
        }
        // Taken by the batch fold (`fold/load.rs`: `TAKEN_ON_LOADED`): a
        // user with a `users` row has it read into the fold and written
        // back, a membership joined is inserted and counted there. What
        // comes here has no `users` row to change.
        UserEvent::UserLockedOut { .. }
        | UserEvent::PasswordRehashed { .. }
        | UserEvent::EmailVerificationIssued { .. }
        | UserEvent::PasswordResetIssued { .. }
        | UserEvent::UserEnabled { .. }
        | UserEvent::CommunityJoined { .. }
        | UserEvent::TutorialCompleted { .. }
        | UserEvent::ProfileUpdated { .. }
        | UserEvent::SubscriptionGranted { .. }
        | UserEvent::SubscriptionExtended { .. }
        | UserEvent::SubscriptionCanceled { .. }
        | UserEvent::SubscriptionRecalculated { .. }
        | UserEvent::CategoriesIndexed { .. }
        | UserEvent::EmailVerified { .. } => {}
        UserEvent::PasswordChanged { cutoff, at, .. }
        | UserEvent::PasswordReset { cutoff, at, .. }
        | UserEvent::SessionsRevoked { cutoff, at } => {
            apply_cutoff(conn, user_id, cutoff, at, version, false).await?;
        }
    }
    Ok(())
}

/// What a subscription event says the state is at its instant: the plan
/// (`None`: kept; cancellations and extensions do not repeat it), the
/// status by the aggregate's own rule, the end.
pub(crate) struct RecordedSubscription {
    pub(crate) plan: Option<String>,
    pub(crate) status: aggregates::SubscriptionStatus,
    pub(crate) valid_until: Option<DateTime<Utc>>,
}

pub(crate) fn subscription_state(event: &UserEvent) -> Option<RecordedSubscription> {
    use aggregates::SubscriptionStatus as S;
    let (plan, valid_until, canceled, at) = match event {
        UserEvent::SubscriptionGranted {
            plan,
            valid_until,
            at,
        } => (Some(plan.clone()), *valid_until, false, *at),
        // An extension renews: any cancellation is lifted.
        UserEvent::SubscriptionExtended { valid_until, at } => (None, *valid_until, false, *at),
        UserEvent::SubscriptionCanceled {
            valid_until, at, ..
        } => (None, *valid_until, true, *at),
        UserEvent::SubscriptionRecalculated { state, .. } => {
            return Some(RecordedSubscription {
                plan: state.plan.clone(),
                status: state.status,
                valid_until: state.valid_until,
            })
        }
        _ => return None,
    };
    Some(RecordedSubscription {
        plan,
        status: S::of_plan(valid_until, canceled, at),
        valid_until: Some(valid_until),
    })
}

/// A deleted user: their sessions cut off, their facility account marked
/// deleted, their row gone from `users`.
async fn delete(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    cutoff: aggregates::SessionCutoff,
    at: DateTime<Utc>,
    version: i64,
) -> Result<(), sqlx::Error> {
    apply_cutoff(conn, user_id, cutoff, at, version, false).await?;
    crate::facility_users::mark_deleted(conn, user_id, at).await?;
    let removed = execute!(conn, "DELETE FROM users WHERE user_id = $1", user_id)?;
    if removed > 0 {
        execute!(conn, "UPDATE counts SET n = n - 1 WHERE name = 'users'")?;
    }
    Ok(())
}

/// Records a sessions cutoff on the user's row (an email user's or a
/// facility user's), disabling the account too when asked, and ends the
/// sessions it covers.
async fn apply_cutoff(
    conn: &mut Conn<'_>,
    user_id: Uuid,
    cutoff: aggregates::SessionCutoff,
    at: DateTime<Utc>,
    version: i64,
    disable: bool,
) -> Result<(), sqlx::Error> {
    let users = if disable {
        "UPDATE users SET disabled = true, sessions_valid_after = $2, sessions_kept = $5,
                          updated_at = $3, version = $4
          WHERE user_id = $1 AND version < $4"
    } else {
        "UPDATE users SET sessions_valid_after = $2, sessions_kept = $5, updated_at = $3,
                          version = $4
          WHERE user_id = $1 AND version < $4"
    };
    let changed = execute!(
        conn,
        users,
        user_id,
        cutoff.after,
        at,
        version,
        cutoff.except
    )? + execute!(
        conn,
        "UPDATE facility_users SET sessions_valid_after = $2, sessions_kept = $3, version = $4
              WHERE user_id = $1 AND version < $4",
        user_id,
        cutoff.after,
        cutoff.except,
        version
    )?;
    if changed > 0 {
        crate::sessions::end_by_cutoff(conn, user_id, cutoff, at).await?;
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

/// One user by id.
pub async fn find(db: &Db, user_id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE user_id = $1");
    let rows = fetch_all!(db, UserRow, &sql, user_id)?;
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
    // Two statements rather than `$1 IS NULL OR …`: a generic plan of the
    // latter could not use the search index.
    let filter = if pattern.is_some() {
        "lower(email) || ' ' || lower(first_name) || ' ' || lower(last_name) LIKE $1 ESCAPE '\\'"
    } else {
        "$1 IS NULL"
    };
    let direction = if sort.descending { "DESC" } else { "ASC" };
    // The page's ids first (an index-only scan over the sort index, however
    // deep the offset), then their rows.
    let sql = format!(
        "SELECT {COLUMNS} FROM users
           JOIN (SELECT user_id FROM users WHERE {filter}
                  ORDER BY {column} {direction}, user_id {direction}
                  LIMIT $2 OFFSET $3) AS page USING (user_id)
          ORDER BY {column} {direction}, user_id {direction}",
        column = sort.column
    );
    // All users: the projection's count. A search: its matches, counted up
    // to SEARCH_COUNT_CAP (a one-letter search must not count the table).
    let count_sql = if pattern.is_some() {
        format!(
            "SELECT count(*) AS n FROM (SELECT 1 FROM users WHERE {filter} LIMIT {SEARCH_COUNT_CAP}) AS hits"
        )
    } else {
        "SELECT n FROM counts WHERE name = 'users' AND $1 IS NULL".to_string()
    };
    // Not prepared: PostgreSQL plans each for the pattern at hand; a cached
    // generic plan cannot tell a selective search (use the trigram index)
    // from a broad one.
    let rows = fetch_all!(unprepared db, UserRow, &sql, pattern.clone(), limit, offset)?;
    let count = fetch_all!(unprepared db, Count, &count_sql, pattern)?;
    Ok((rows, count.first().map_or(0, |c| c.n)))
}

/// The most matches a search counts: beyond it the total says this many.
pub const SEARCH_COUNT_CAP: i64 = 10_000;

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

/// What a profile update does to each column it may touch, in
/// [`PROFILE_COLUMNS`] order: (whether the column changes, its new value).
pub(crate) fn profile_columns(
    changes: &aggregates::ProfileChanges,
) -> [(bool, Option<String>); 11] {
    /// (whether the column changes, its new value) of one field.
    fn column<T>(
        change: Option<Option<&T>>,
        show: impl Fn(&T) -> String,
    ) -> (bool, Option<String>) {
        (change.is_some(), change.flatten().map(show))
    }
    let personal = |v: &aggregates::Personal<String>| v.expose().clone();
    let clearable = |c: &aggregates::profile::Change<aggregates::Personal<String>>| {
        column(c.as_ref().map(Option::as_ref), personal)
    };
    [
        column(changes.first_name.as_ref().map(Some), personal),
        column(changes.last_name.as_ref().map(Some), personal),
        clearable(&changes.nickname),
        clearable(&changes.bio),
        clearable(&changes.location),
        clearable(&changes.website),
        clearable(&changes.phone),
        column(changes.birth_date.as_ref().map(Option::as_ref), |d| {
            d.expose().to_string()
        }),
        column(changes.language.as_ref().map(Option::as_ref), String::clone),
        column(changes.timezone.as_ref().map(Option::as_ref), String::clone),
        column(changes.image.as_ref().map(Option::as_ref), |i| {
            i.key.clone()
        }),
    ]
}

#[derive(sqlx::FromRow)]
struct Any {
    n: i64,
}

/// Whether any user exists (email accounts or facility users, live or not):
/// what decides that a fresh installation still needs its setup.
pub async fn any_exist(db: &Db) -> Result<bool, sqlx::Error> {
    let rows = crate::fetch_all!(
        db,
        Any,
        "SELECT CAST((SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1) AS u)
                   + (SELECT count(*) FROM (SELECT 1 FROM facility_users LIMIT 1) AS f) AS BIGINT) AS n"
    )?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Whether any user holds the global role `slug`.
pub async fn role_held(db: &Db, slug: &str) -> Result<bool, sqlx::Error> {
    let escaped = slug
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%\"{escaped}\"%");
    let rows = crate::fetch_all!(
        db,
        Any,
        "SELECT CAST(count(*) AS BIGINT) AS n FROM
           (SELECT 1 FROM users WHERE CAST(roles AS TEXT) LIKE $1 ESCAPE '\\' LIMIT 1) AS held",
        pattern
    )?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}
