//! Reading `users` rows written before a batch into the fold, so that the
//! batch's events on them are folded in memory and written back once
//! (before: one `UPDATE` per event; a busy user's profile changes and
//! joins came one statement each).

use std::collections::HashSet;

use aggregates::User;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use uuid::Uuid;

use super::{Fold, NewUser};
use crate::users::{UserRow, COLUMNS};
use crate::{Conn, RecordedEvent};

/// The user events the fold takes on a row written before the batch: those
/// that change nothing but the `users` row (and, for a join, a membership
/// it inserts itself). Cut-offs (which end sessions of the table),
/// deletions and roles stay per-event SQL.
pub(super) const TAKEN_ON_LOADED: &[&str] = &[
    "ProfileUpdated",
    "TutorialCompleted",
    "CommunityJoined",
    "EmailVerified",
    "UserEnabled",
    "UserLockedOut",
    "CategoriesIndexed",
    "SubscriptionGranted",
    "SubscriptionExtended",
    "SubscriptionCanceled",
    "SubscriptionRecalculated",
    "PasswordRehashed",
    "EmailVerificationIssued",
    "PasswordResetIssued",
];

/// A `users` row with what the fold keeps beyond [`UserRow`].
#[derive(sqlx::FromRow)]
struct Stored {
    #[sqlx(flatten)]
    row: UserRow,
    sessions_valid_after: Option<DateTime<Utc>>,
    sessions_kept: Option<Uuid>,
    version: i64,
}

impl Fold {
    /// Reads into the fold the rows of the users `events` change in ways
    /// it takes, unless the fold holds them already (registered in this
    /// batch, or read before).
    pub(crate) async fn load_users(
        &mut self,
        conn: &mut Conn<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), sqlx::Error> {
        let mut wanted = HashSet::new();
        for event in events {
            if event.aggregate_type == User::TYPE
                && TAKEN_ON_LOADED.contains(&event.event_type.as_str())
            {
                if let Ok(id) = event.aggregate_id.parse::<Uuid>() {
                    if !self.owns(id) && !self.absent.contains(&id) {
                        wanted.insert(id);
                    }
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = wanted.into_iter().collect();
        let select = format!(
            "SELECT {COLUMNS}, sessions_valid_after, sessions_kept, version FROM users
              WHERE user_id {{which}}"
        );
        let rows: Vec<Stored> = match conn {
            Conn::Postgres(c) => {
                sqlx::query_as(&select.replace("{which}", "= ANY($1)"))
                    .bind(&ids)
                    .fetch_all(&mut **c)
                    .await?
            }
            // No arrays: one (in-process) statement each.
            Conn::Sqlite(c) => {
                let sql = select.replace("{which}", "= ?1");
                let mut rows = Vec::with_capacity(ids.len());
                for id in &ids {
                    rows.extend(
                        sqlx::query_as(&sql)
                            .bind(id)
                            .fetch_optional(&mut **c)
                            .await?,
                    );
                }
                rows
            }
        };
        // Facility users have no `users` row: not looked for again.
        self.absent.extend(ids);
        for stored in rows {
            self.absent.remove(&stored.row.user_id);
            let Stored {
                row,
                sessions_valid_after,
                sessions_kept,
                version,
            } = stored;
            self.user_at.insert(row.user_id, self.users.len());
            self.users.push(NewUser {
                user_id: row.user_id,
                email: row.email,
                first_name: row.first_name,
                last_name: row.last_name,
                roles: row.roles.0,
                email_verified: row.email_verified,
                disabled: row.disabled,
                locked_until: row.locked_until,
                sessions_valid_after,
                sessions_kept,
                tutorial_completed_at: row.tutorial_completed_at,
                profile: [
                    row.nickname,
                    row.bio,
                    row.location,
                    row.website,
                    row.phone,
                    row.birth_date,
                    row.language,
                    row.timezone,
                    row.image_key,
                ],
                categories: row.categories.0,
                subscription_plan: row.subscription_plan,
                subscription_status: row.subscription_status,
                subscription_valid_until: row.subscription_valid_until,
                created_at: row.created_at,
                updated_at: row.updated_at,
                version,
                loaded: Some(version),
            });
        }
        Ok(())
    }
}
