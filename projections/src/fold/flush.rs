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
        let (loaded, created): (Vec<_>, Vec<_>) = std::mem::take(&mut self.users)
            .into_iter()
            .partition(|u| u.loaded.is_some());
        // Rows read before: written back whole (the fold's columns; what
        // it left alone stays), when an event moved them on.
        let written_back: Vec<&super::NewUser> = loaded
            .iter()
            .filter(|u| u.loaded.is_some_and(|read_at| u.version > read_at))
            .collect();
        // (rows, how a row already there is met, whether new rows count)
        for (users, tail, counted) in [
            (
                written_back,
                " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,
                    first_name = excluded.first_name, last_name = excluded.last_name,
                    roles = excluded.roles, email_verified = excluded.email_verified,
                    disabled = excluded.disabled, locked_until = excluded.locked_until,
                    sessions_valid_after = excluded.sessions_valid_after,
                    sessions_kept = excluded.sessions_kept,
                    tutorial_completed_at = excluded.tutorial_completed_at,
                    nickname = excluded.nickname, bio = excluded.bio,
                    location = excluded.location, website = excluded.website,
                    phone = excluded.phone, birth_date = excluded.birth_date,
                    language = excluded.language, timezone = excluded.timezone,
                    image_key = excluded.image_key, categories = excluded.categories,
                    subscription_plan = excluded.subscription_plan,
                    subscription_status = excluded.subscription_status,
                    subscription_valid_until = excluded.subscription_valid_until,
                    updated_at = excluded.updated_at, version = excluded.version
                  WHERE users.version < excluded.version RETURNING user_id",
                false,
            ),
            (
                created.iter().collect(),
                " ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
                true,
            ),
        ] {
            let inserted = insert_rows!(
                conn,
                "INSERT INTO users (user_id, email, first_name, last_name, roles, email_verified,
                disabled, locked_until, sessions_valid_after, sessions_kept,
                tutorial_completed_at, nickname, bio, location, website, phone, birth_date,
                language, timezone, image_key, categories, subscription_plan,
                subscription_status, subscription_valid_until, created_at, updated_at,
                version) ",
                tail,
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
            if counted && !inserted.is_empty() {
                execute!(
                    conn,
                    "UPDATE counts SET n = n + $1 WHERE name = 'users'",
                    inserted.len() as i64
                )?;
            }
        }
        self.flush_memberships(conn).await?;
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
        self.membership_keys.clear();
        self.joining.clear();
        self.facility_user_at.clear();
        self.session_at.clear();
        self.session_owners.clear();
        Ok(())
    }

    /// Inserts the memberships joined and counts those new to the table in
    /// their organizations (as `organizations::add_member` does one by
    /// one): two statements.
    async fn flush_memberships(&mut self, conn: &mut Conn<'_>) -> Result<(), sqlx::Error> {
        let memberships = std::mem::take(&mut self.memberships);
        let added = insert_rows!(
            conn,
            "INSERT INTO memberships (organization_id, user_id, membership_id, joined_at) ",
            " ON CONFLICT (organization_id, user_id) DO NOTHING RETURNING organization_id",
            &memberships,
            |b, m| {
                b.push_bind(m.organization_id)
                    .push_bind(m.user_id)
                    .push_bind(aggregates::membership_id(m.organization_id, m.user_id))
                    .push_bind(m.joined_at);
            }
        );
        let mut per_organization: BTreeMap<Uuid, i64> = BTreeMap::new();
        for organization in added {
            *per_organization.entry(organization).or_default() += 1;
        }
        for chunk in per_organization
            .into_iter()
            .collect::<Vec<_>>()
            .chunks(CHUNK / 2)
        {
            // UPDATE … SET members = members + CASE id WHEN … END WHERE id IN (…)
            macro_rules! counted {
                ($db:ty, $c:expr) => {{
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE organizations SET members = members + CASE organization_id",
                    );
                    for (organization, n) in chunk {
                        query.push(" WHEN ").push_bind(*organization);
                        query.push(" THEN ").push_bind(*n);
                    }
                    query.push(" ELSE 0 END WHERE organization_id IN (");
                    let mut ids = query.separated(", ");
                    for (organization, _) in chunk {
                        ids.push_bind(*organization);
                    }
                    query.push(")");
                    query.build().execute(&mut **$c).await?;
                }};
            }
            match &mut *conn {
                Conn::Postgres(c) => counted!(sqlx::Postgres, c),
                Conn::Sqlite(c) => counted!(sqlx::Sqlite, c),
            }
        }
        Ok(())
    }
}
