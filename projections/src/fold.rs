//! Folding a batch of events in memory: rows created in the batch (users,
//! facility users, sessions) are kept here while later events of the same
//! batch change them, and written with a few multi-row statements at the
//! end, instead of one or two statements per event. Every registration and
//! every session start is taken here: this is the only code that creates
//! those rows.
//!
//! An event this fold does not take (one on a row written before the
//! batch, or of a kind it leaves to the per-event SQL of [`crate::users`],
//! [`crate::sessions`] and [`crate::organizations`]) is applied by that SQL
//! — after the fold is flushed when the event concerns a user whose rows or
//! sessions it holds, so every statement sees what came before it in the
//! log. The rows written are the ones the per-event SQL would have
//! written; `eventauth verify` compares a rebuild (large batches, mostly
//! folded) with the live tables (small batches, mostly per event).

use std::collections::{BTreeMap, HashMap, HashSet};

use aggregates::{SessionCutoff, SessionEvent, UserEvent};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{execute, Conn, RecordedEvent};

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

/// A `users` row created in this batch.
#[derive(Debug)]
struct NewUser {
    user_id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    roles: Vec<String>,
    email_verified: bool,
    disabled: bool,
    locked_until: Option<DateTime<Utc>>,
    sessions_valid_after: Option<DateTime<Utc>>,
    sessions_kept: Option<Uuid>,
    tutorial_completed_at: Option<DateTime<Utc>>,
    /// nickname, bio, location, website, phone, birth_date, language,
    /// timezone, image_key.
    profile: [Option<String>; 9],
    categories: Vec<String>,
    subscription_plan: Option<String>,
    subscription_status: String,
    subscription_valid_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// A `facility_users` row created in this batch.
#[derive(Debug)]
struct NewFacilityUser {
    user_id: Uuid,
    facility_id: Uuid,
    username: String,
    full_name: String,
    gender: Option<String>,
    birth_year: Option<String>,
    id_number: Option<String>,
    date_joined: DateTime<Utc>,
    is_superuser: bool,
    sessions_valid_after: Option<DateTime<Utc>>,
    sessions_kept: Option<Uuid>,
    version: i64,
}

/// A `sessions` row created in this batch.
#[derive(Debug)]
struct NewSession {
    session_id: Uuid,
    user_id: Uuid,
    surface: String,
    remember_me: bool,
    client_ip: Option<String>,
    user_agent: Option<String>,
    auth_time: DateTime<Utc>,
    started_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    end_reason: Option<String>,
    refreshes: i32,
    version: i64,
    /// Its owner's rows are not in the fold: the check against the owner's
    /// cutoff runs when it is written.
    check_owner: bool,
}

impl NewSession {
    /// Ends it as a cutoff does (`sessions::end_by_cutoff`).
    fn cut(&mut self, cutoff: &SessionCutoff, at: DateTime<Utc>) {
        if self.ended_at.is_none() && cutoff.revokes(self.session_id, self.auth_time) {
            self.ended_at = Some(at);
            self.end_reason = Some("revoked".to_string());
        }
    }
}

/// Rows created by the events of one batch, not yet written.
#[derive(Debug, Default)]
pub(crate) struct Fold {
    users: Vec<NewUser>,
    user_at: HashMap<Uuid, usize>,
    facility_users: Vec<NewFacilityUser>,
    facility_user_at: HashMap<Uuid, usize>,
    sessions: Vec<NewSession>,
    session_at: HashMap<Uuid, usize>,
    /// Users with sessions in the fold.
    session_owners: HashSet<Uuid>,
}

impl Fold {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.facility_users.is_empty() && self.sessions.is_empty()
    }

    /// Whether the fold holds rows of `user_id` (then SQL about that user
    /// must wait for a flush).
    pub(crate) fn involves(&self, user_id: Uuid) -> bool {
        self.user_at.contains_key(&user_id)
            || self.facility_user_at.contains_key(&user_id)
            || self.session_owners.contains(&user_id)
    }

    fn owns(&self, user_id: Uuid) -> bool {
        self.user_at.contains_key(&user_id) || self.facility_user_at.contains_key(&user_id)
    }

    /// Ends the folded sessions of `user_id` a cutoff covers.
    fn cut_sessions(&mut self, user_id: Uuid, cutoff: &SessionCutoff, at: DateTime<Utc>) {
        if !self.session_owners.contains(&user_id) {
            return;
        }
        for session in self.sessions.iter_mut().filter(|s| s.user_id == user_id) {
            session.cut(cutoff, at);
        }
    }

    /// Takes a user event when it creates a row or changes one in the fold;
    /// gives it back otherwise.
    pub(crate) fn user(
        &mut self,
        event: &RecordedEvent,
        user_id: Uuid,
        payload: UserEvent,
    ) -> Option<UserEvent> {
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
                // A second registration of a row already here changes
                // nothing (as `ON CONFLICT DO NOTHING` would not).
                if self.user_at.contains_key(&user_id) {
                    return None;
                }
                self.user_at.insert(user_id, self.users.len());
                self.users.push(NewUser {
                    user_id,
                    email: email.into_inner(),
                    first_name: first_name.into_inner(),
                    last_name: last_name.into_inner(),
                    roles,
                    email_verified: false,
                    disabled: false,
                    locked_until: None,
                    sessions_valid_after: None,
                    sessions_kept: None,
                    tutorial_completed_at: None,
                    profile: Default::default(),
                    categories: Vec::new(),
                    subscription_plan: None,
                    subscription_status: "none".to_string(),
                    subscription_valid_until: None,
                    created_at: registered_at,
                    updated_at: registered_at,
                    version,
                });
                None
            }
            UserEvent::FacilityUserRegistered {
                facility,
                username,
                full_name,
                demographics,
                registered_at,
                ..
            } => {
                if self.facility_user_at.contains_key(&user_id) {
                    return None;
                }
                self.facility_user_at
                    .insert(user_id, self.facility_users.len());
                self.facility_users.push(NewFacilityUser {
                    user_id,
                    facility_id: facility,
                    username: username.into_inner(),
                    full_name: full_name.into_inner(),
                    gender: demographics.gender,
                    birth_year: demographics.birth_year,
                    id_number: demographics.id_number.map(|n| n.into_inner()),
                    date_joined: registered_at,
                    is_superuser: false,
                    sessions_valid_after: None,
                    sessions_kept: None,
                    version,
                });
                None
            }
            payload => {
                if let Some(&at) = self.user_at.get(&user_id) {
                    self.change_user(at, version, payload)
                } else if let Some(&at) = self.facility_user_at.get(&user_id) {
                    self.change_facility_user(at, version, payload)
                } else {
                    Some(payload)
                }
            }
        }
    }

    /// An event on a `users` row of the fold, as `users::apply` does it.
    fn change_user(&mut self, at: usize, version: i64, payload: UserEvent) -> Option<UserEvent> {
        let user = &mut self.users[at];
        // Every statement of `users::apply` is guarded by the version.
        let fresh = user.version < version;
        let mut cutoff = None;
        match &payload {
            UserEvent::UserLockedOut { until, .. } => {
                if fresh {
                    user.locked_until = Some(*until);
                }
            }
            UserEvent::PasswordRehashed { .. }
            | UserEvent::EmailVerificationIssued { .. }
            | UserEvent::PasswordResetIssued { .. } => {}
            UserEvent::UserDisabled { cutoff: c, at } => {
                if fresh {
                    user.disabled = true;
                    cutoff = Some((*c, *at));
                }
            }
            UserEvent::PasswordChanged { cutoff: c, at, .. }
            | UserEvent::PasswordReset { cutoff: c, at, .. }
            | UserEvent::SessionsRevoked { cutoff: c, at } => {
                if fresh {
                    cutoff = Some((*c, *at));
                }
            }
            UserEvent::UserEnabled { at } => {
                if fresh {
                    user.disabled = false;
                    user.updated_at = *at;
                }
            }
            // The global administrator role also marks a facility user;
            // this is a `users` row, so it has none.
            UserEvent::RoleGranted { role, at } | UserEvent::RoleRevoked { role, at } => {
                if fresh {
                    user.roles.retain(|r| r != role);
                    if matches!(payload, UserEvent::RoleGranted { .. }) {
                        user.roles.push(role.clone());
                    }
                    user.updated_at = *at;
                }
            }
            UserEvent::TutorialCompleted { at } => {
                if fresh {
                    user.tutorial_completed_at = Some(*at);
                    user.updated_at = *at;
                }
            }
            UserEvent::ProfileUpdated { changes, at } => {
                if fresh {
                    let [first_name, last_name, profile @ ..] =
                        crate::users::profile_columns(changes);
                    if first_name.0 {
                        user.first_name = first_name.1.unwrap_or_default();
                    }
                    if last_name.0 {
                        user.last_name = last_name.1.unwrap_or_default();
                    }
                    for (column, (changed, value)) in user.profile.iter_mut().zip(profile) {
                        if changed {
                            *column = value;
                        }
                    }
                    user.updated_at = *at;
                }
            }
            UserEvent::SubscriptionGranted { at, .. }
            | UserEvent::SubscriptionExtended { at, .. }
            | UserEvent::SubscriptionCanceled { at, .. }
            | UserEvent::SubscriptionRecalculated { at, .. } => {
                // No state: nothing to write (taken, as `users::apply` does).
                let state = crate::users::subscription_state(&payload)?;
                if fresh {
                    if state.plan.is_some() {
                        user.subscription_plan = state.plan;
                    }
                    user.subscription_status = state.status.as_str().to_string();
                    user.subscription_valid_until = state.valid_until;
                    user.updated_at = *at;
                }
            }
            UserEvent::CategoriesIndexed { categories, at } => {
                if fresh {
                    user.categories = categories.clone();
                    user.updated_at = *at;
                }
            }
            UserEvent::EmailVerified { at } => {
                if fresh {
                    user.email_verified = true;
                    user.updated_at = *at;
                }
            }
            // Memberships, roles in collections, deletion, facility
            // fields: per-event SQL.
            _ => return Some(payload),
        }
        if fresh {
            user.version = version;
        }
        if let Some((c, at)) = cutoff {
            user.sessions_valid_after = Some(c.after);
            user.sessions_kept = c.except;
            user.updated_at = at;
            let user_id = user.user_id;
            self.cut_sessions(user_id, &c, at);
        }
        None
    }

    /// An event on a `facility_users` row of the fold, as `users::apply`
    /// does it (its `users` statements find no row for a facility user).
    fn change_facility_user(
        &mut self,
        at: usize,
        version: i64,
        payload: UserEvent,
    ) -> Option<UserEvent> {
        let user = &mut self.facility_users[at];
        let fresh = user.version < version;
        match &payload {
            UserEvent::PasswordRehashed { .. }
            | UserEvent::EmailVerificationIssued { .. }
            | UserEvent::PasswordResetIssued { .. } => {}
            UserEvent::RoleGranted { role, .. } | UserEvent::RoleRevoked { role, .. } => {
                // Not guarded by the version (`facility_users::set_superuser`).
                if role == aggregates::SUPERUSER_ROLE {
                    user.is_superuser = matches!(payload, UserEvent::RoleGranted { .. });
                }
            }
            UserEvent::FacilityUserUpdated { changes, .. } => {
                if fresh {
                    if let Some(username) = &changes.username {
                        user.username = username.expose().clone();
                    }
                    if let Some(full_name) = &changes.full_name {
                        user.full_name = full_name.expose().clone();
                    }
                    if let Some(gender) = &changes.gender {
                        user.gender = Some(gender.clone());
                    }
                    if let Some(birth_year) = &changes.birth_year {
                        user.birth_year = Some(birth_year.clone());
                    }
                    if let Some(id_number) = &changes.id_number {
                        user.id_number = Some(id_number.expose().clone());
                    }
                    user.version = version;
                }
            }
            UserEvent::UserDisabled { cutoff, at }
            | UserEvent::PasswordChanged { cutoff, at, .. }
            | UserEvent::PasswordReset { cutoff, at, .. }
            | UserEvent::SessionsRevoked { cutoff, at } => {
                if fresh {
                    user.sessions_valid_after = Some(cutoff.after);
                    user.sessions_kept = cutoff.except;
                    user.version = version;
                    let user_id = user.user_id;
                    self.cut_sessions(user_id, cutoff, *at);
                }
            }
            _ => return Some(payload),
        }
        None
    }

    /// Takes a session event when it starts a session or changes one in
    /// the fold; gives it back otherwise (its SQL touches that session's
    /// row only, so it needs no flush).
    pub(crate) fn session(
        &mut self,
        event: &RecordedEvent,
        payload: SessionEvent,
    ) -> Option<SessionEvent> {
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
                if self.session_at.contains_key(&session_id) {
                    return None;
                }
                let mut session = NewSession {
                    session_id,
                    user_id,
                    surface,
                    remember_me,
                    client_ip: client_ip.into_inner(),
                    user_agent: user_agent.into_inner(),
                    auth_time,
                    started_at,
                    last_seen_at: started_at,
                    expires_at,
                    ended_at: None,
                    end_reason: None,
                    refreshes: 0,
                    version,
                    check_owner: !self.owns(user_id),
                };
                // A login projected after its user's cutoff although it
                // authenticated before it (see `sessions::apply`).
                let owner = self.user_at.get(&user_id).map(|&i| {
                    let u = &self.users[i];
                    (u.sessions_valid_after, u.sessions_kept)
                });
                let owner = owner.or_else(|| {
                    self.facility_user_at.get(&user_id).map(|&i| {
                        let u = &self.facility_users[i];
                        (u.sessions_valid_after, u.sessions_kept)
                    })
                });
                if let Some((Some(after), kept)) = owner {
                    if auth_time < after && kept != Some(session_id) {
                        session.ended_at = Some(after);
                        session.end_reason = Some("revoked".to_string());
                    }
                }
                self.session_at.insert(session_id, self.sessions.len());
                self.sessions.push(session);
                self.session_owners.insert(user_id);
                None
            }
            payload => {
                let Some(&at) = event
                    .aggregate_id
                    .parse::<Uuid>()
                    .ok()
                    .and_then(|id| self.session_at.get(&id))
                else {
                    return Some(payload);
                };
                let session = &mut self.sessions[at];
                if session.version >= version {
                    return None;
                }
                match payload {
                    SessionEvent::RefreshTokenRotated { at, .. } => {
                        session.last_seen_at = at;
                        session.refreshes += 1;
                    }
                    SessionEvent::SessionExtended { expires_at, at } => {
                        session.expires_at = expires_at;
                        session.last_seen_at = at;
                    }
                    SessionEvent::SessionEnded { reason, at } => {
                        session.ended_at = session.ended_at.or(Some(at));
                        if session.end_reason.is_none() {
                            session.end_reason = Some(reason.as_str().to_string());
                        }
                    }
                    payload @ SessionEvent::SessionStarted { .. } => return Some(payload),
                }
                session.version = version;
                None
            }
        }
    }

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
