//! Writing the fold: a few multi-row statements per batch.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::Fold;
use crate::{execute, Conn};

/// Rows per multi-row `INSERT` (within both backends' bind limits).
const CHUNK: usize = 1_000;

/// Inserts `rows` with multi-row `INSERT`s of [`CHUNK`] rows, the same
/// statement text for both backends (the builder numbers the binds each
/// backend's way); evaluates to the `RETURNING` column (a UUID) of the rows
/// written.
macro_rules! insert_rows {
    ($conn:expr, $head:expr, $tail:expr, $rows:expr, |$b:ident, $row:ident| $push:block) => {{
        let mut returned: Vec<Uuid> = Vec::new();
        for chunk in $rows.chunks(CHUNK) {
            // A full chunk is the same statement every time: prepared once.
            let repeated = chunk.len() == CHUNK;
            match &mut *$conn {
                Conn::Postgres(c) => {
                    let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new($head);
                    query.push_values(chunk, |mut $b, $row| $push);
                    query.push($tail);
                    returned.extend(
                        query
                            .build_query_scalar::<Uuid>()
                            .persistent(repeated)
                            .fetch_all(&mut **c)
                            .await?,
                    );
                }
                Conn::Sqlite(c) => {
                    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new($head);
                    query.push_values(chunk, |mut $b, $row| $push);
                    query.push($tail);
                    returned.extend(
                        query
                            .build_query_scalar::<Uuid>()
                            .persistent(repeated)
                            .fetch_all(&mut **c)
                            .await?,
                    );
                }
            }
        }
        returned
    }};
}

impl Fold {
    /// Writes the rows of the fold and empties it.
    pub(crate) async fn flush(&mut self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        if self.is_empty() {
            return Ok(());
        }
        let users = std::mem::take(&mut self.users);
        let inserted = insert_rows!(
            conn,
            "INSERT INTO users (user_id, email, first_name, last_name, roles, email_verified,
                disabled, locked_until, sessions_valid_after, sessions_kept,
                tutorial_completed_at, nickname, bio, location, website, phone, birth_date,
                language, timezone, image_key, categories, subscription_plan,
                subscription_status, subscription_valid_until, created_at, updated_at,
                version) ",
            " ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
            &users,
            |b, u| {
                b.push_bind(u.user_id)
                    .push_bind(&u.email)
                    .push_bind(&u.first_name)
                    .push_bind(&u.last_name)
                    .push_bind(Json(&u.roles))
                    .push_bind(u.email_verified)
                    .push_bind(u.disabled)
                    .push_bind(u.locked_until)
                    .push_bind(u.sessions_valid_after)
                    .push_bind(u.sessions_kept);
                b.push_bind(u.tutorial_completed_at);
                for column in &u.profile {
                    b.push_bind(column);
                }
                b.push_bind(Json(&u.categories))
                    .push_bind(&u.subscription_plan)
                    .push_bind(&u.subscription_status)
                    .push_bind(u.subscription_valid_until)
                    .push_bind(u.created_at)
                    .push_bind(u.updated_at)
                    .push_bind(u.version);
            }
        );
        if !inserted.is_empty() {
            execute!(
                conn,
                "UPDATE counts SET n = n + $1 WHERE name = 'users'",
                inserted.len() as i64
            )?;
        }
        let facility_users = std::mem::take(&mut self.facility_users);
        let inserted = insert_rows!(
            conn,
            "INSERT INTO facility_users (user_id, facility_id, username, full_name, gender,
                birth_year, id_number, date_joined, deleted_at, is_superuser,
                sessions_valid_after, sessions_kept, version) ",
            " ON CONFLICT (user_id) DO NOTHING RETURNING facility_id",
            &facility_users,
            |b, u| {
                b.push_bind(u.user_id)
                    .push_bind(u.facility_id)
                    .push_bind(&u.username)
                    .push_bind(&u.full_name)
                    .push_bind(&u.gender)
                    .push_bind(&u.birth_year)
                    .push_bind(&u.id_number)
                    .push_bind(u.date_joined)
                    .push_bind(None::<DateTime<Utc>>)
                    .push_bind(u.is_superuser)
                    .push_bind(u.sessions_valid_after)
                    .push_bind(u.sessions_kept)
                    .push_bind(u.version);
            }
        );
        let mut per_facility: BTreeMap<Uuid, i64> = BTreeMap::new();
        for facility in inserted {
            *per_facility.entry(facility).or_default() += 1;
        }
        for (facility, n) in per_facility {
            execute!(
                conn,
                "INSERT INTO counts (name, n) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET n = counts.n + excluded.n",
                format!("facility_users:{facility}"),
                n
            )?;
        }
        let sessions = std::mem::take(&mut self.sessions);
        let inserted: HashSet<Uuid> = insert_rows!(
            conn,
            "INSERT INTO sessions (session_id, user_id, surface, remember_me, client_ip,
                user_agent, auth_time, started_at, last_seen_at, expires_at, ended_at,
                end_reason, refreshes, version) ",
            " ON CONFLICT (session_id) DO NOTHING RETURNING session_id",
            &sessions,
            |b, s| {
                b.push_bind(s.session_id)
                    .push_bind(s.user_id)
                    .push_bind(&s.surface)
                    .push_bind(s.remember_me)
                    .push_bind(&s.client_ip)
                    .push_bind(&s.user_agent)
                    .push_bind(s.auth_time)
                    .push_bind(s.started_at)
                    .push_bind(s.last_seen_at)
                    .push_bind(s.expires_at)
                    .push_bind(s.ended_at)
                    .push_bind(&s.end_reason)
                    .push_bind(s.refreshes)
                    .push_bind(s.version);
            }
        )
        .into_iter()
        .collect();
        // Owners not in the fold: their cutoff is checked now, as it would
        // have been at each insert (rows this flush wrote only).
        let unchecked: Vec<Uuid> = sessions
            .iter()
            .filter(|s| s.check_owner && inserted.contains(&s.session_id))
            .map(|s| s.session_id)
            .collect();
        crate::sessions::end_if_cut_off(conn, &unchecked).await?;
        self.user_at.clear();
        self.facility_user_at.clear();
        self.session_at.clear();
        self.session_owners.clear();
        Ok(())
    }
}
