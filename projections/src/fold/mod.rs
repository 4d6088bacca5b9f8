//! Folding a batch of events in memory: rows created in the batch (users,
//! facility users, sessions) are kept here while later events of the same
//! batch change them, and written with a few multi-row statements at the
//! end, instead of one or two statements per event. Every registration and
//! every session start is taken here: this is the only code that creates
//! those rows. `users` rows written before the batch are read into the
//! fold too (one query per batch, `load`) when the batch holds events the
//! fold takes on them — profile changes, the tutorial, joining a
//! community, … — and written back with one statement; the memberships
//! joined are inserted and counted together at the end.
//!
//! An event this fold does not take (a cut-off, role, deletion or
//! collection change on a row written before the batch, an event on an
//! older session or an organization: the per-event SQL of
//! [`crate::users`], [`crate::sessions`] and [`crate::organizations`]) is
//! applied by that SQL — after the fold is flushed when the event concerns
//! a user whose rows, sessions or memberships it holds, so every statement
//! sees what came before it in the log; the user's later events read the
//! row into the fold again. `eventauth verify` compares a rebuild (large
//! batches) with the live tables (small batches): the same rows both ways.
//!
//! Its files: this one holds the rows of the fold; `load` reads rows
//! written before the batch, `user_events` and `session_events` take
//! events into it, `flush` writes it.

mod flush;
mod load;
mod session_events;
mod user_events;

use std::collections::{HashMap, HashSet};

use aggregates::SessionCutoff;
use chrono::{DateTime, Utc};
use uuid::Uuid;

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
    /// Read from the table (written before the batch) at this version:
    /// written back if an event moved it on, never inserted nor counted.
    loaded: Option<i64>,
}

/// A membership joined in this batch (a community's).
#[derive(Debug)]
struct NewMembership {
    organization_id: Uuid,
    user_id: Uuid,
    joined_at: DateTime<Utc>,
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
    memberships: Vec<NewMembership>,
    /// (organization, user) of `memberships`.
    membership_keys: HashSet<(Uuid, Uuid)>,
    /// Users with memberships in the fold.
    joining: HashSet<Uuid>,
    /// Users looked for in `users` during this batch and not found.
    absent: HashSet<Uuid>,
}

impl Fold {
    fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.facility_users.is_empty()
            && self.sessions.is_empty()
            && self.memberships.is_empty()
    }

    /// Whether memberships wait in the fold (SQL about organizations must
    /// wait for a flush).
    pub(crate) fn holds_memberships(&self) -> bool {
        !self.memberships.is_empty()
    }

    /// Whether the fold holds rows of `user_id` (then SQL about that user
    /// must wait for a flush).
    pub(crate) fn involves(&self, user_id: Uuid) -> bool {
        self.user_at.contains_key(&user_id)
            || self.facility_user_at.contains_key(&user_id)
            || self.session_owners.contains(&user_id)
            || self.joining.contains(&user_id)
    }

    /// Keeps a membership to insert (once, as `organizations::add_member`).
    fn join(&mut self, organization_id: Uuid, user_id: Uuid, joined_at: DateTime<Utc>) {
        if self.membership_keys.insert((organization_id, user_id)) {
            self.joining.insert(user_id);
            self.memberships.push(NewMembership {
                organization_id,
                user_id,
                joined_at,
            });
        }
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
}
