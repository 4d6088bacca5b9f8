//! The User aggregate: one account's registration, login authorization,
//! lockout, password changes and rehashes, and the `sessions_valid_after`
//! cutoff that ends all of a user's sessions with one event; beside them its
//! profile, subscription, memberships and, for a Kolibri facility user, its
//! collection roles and classrooms.
//!
//! Passwords are verified and hashed before a command is built; commands
//! carry the hash that was verified (`verified_against`), and the aggregate
//! only checks it is still the current one.
//!
//! The aggregate is cut by concern so that each rule can be read whole: this
//! file holds the state and what others may read of it; `commands` and
//! `events` the two vocabularies (only the events are stored); `credentials`,
//! `profile`, `subscription`, `memberships` and `facility` each decide their
//! own commands; `aggregate` wires them into cqrs-es and keeps the fold of
//! every event in one match, so what a stored event does to the state is
//! found in one place and the compiler checks none is forgotten.

mod aggregate;
mod commands;
mod credentials;
mod events;
mod facility;
mod links;
mod memberships;
mod profile;
mod subscription;

pub use commands::UserCommand;
pub use credentials::{PendingToken, RESET_MAIL_INTERVAL};
pub use events::{SessionCutoff, UserEvent};
pub use facility::Demographics;
pub use links::ExternalIdentity;
pub use memberships::AccountMembership;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::collection_roles::CollectionRole;
use crate::profile::{Profile, Subscription, SubscriptionState};
use crate::{DomainError, IdentifierKind, PasswordHash, Personal};

/// What deciding one command comes to: the one event it records (none when
/// it would change nothing), or why it is refused. No user command records
/// more than one event, so the decisions need no sink and the dispatch in
/// `aggregate` writes what they return.
type Decision = Result<Option<UserEvent>, DomainError>;

/// A role or plan name: 1–32 of `a-z 0-9 _ -`.
pub fn is_slug(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A user's current state, folded from their events.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    id: Option<Uuid>,
    email: Personal<String>,
    first_name: Personal<String>,
    last_name: Personal<String>,
    password_hash: PasswordHash,
    roles: Vec<String>,
    registered_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    email_verified: bool,
    locked_until: Option<DateTime<Utc>>,
    cutoff: Option<SessionCutoff>,
    #[serde(default)]
    pending_verification: Option<PendingToken>,
    #[serde(default)]
    pending_reset: Option<PendingToken>,
    #[serde(default)]
    tutorial_completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    communities: Vec<Uuid>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    profile: Profile,
    #[serde(default)]
    subscription: Subscription,
    /// The subscription state as last recorded (by its events or a
    /// recalculation).
    #[serde(default)]
    subscription_recorded: Option<SubscriptionState>,
    #[serde(default)]
    categories: Vec<String>,
    /// The Kolibri facility, for facility users.
    #[serde(default)]
    facility: Option<Uuid>,
    #[serde(default)]
    username: Personal<String>,
    #[serde(default)]
    full_name: Personal<String>,
    #[serde(default)]
    demographics: Demographics,
    #[serde(default)]
    collection_roles: Vec<CollectionRole>,
    /// Classrooms and learner groups the user is a member of.
    #[serde(default)]
    collections: Vec<Uuid>,
    /// Accounts the user is a member of, in the order joined.
    #[serde(default)]
    accounts: Vec<AccountMembership>,
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
    /// Removed for good (after a delete).
    #[serde(default)]
    purged: bool,
    /// The number integer-keyed clients know the user by.
    #[serde(default)]
    number: Option<u64>,
    /// External identities that sign the user in.
    #[serde(default)]
    identities: Vec<ExternalIdentity>,
    /// The person's data was erased.
    #[serde(default)]
    erased: bool,
}

impl User {
    /// The user's id, once registered.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }
    /// Whether the stream holds a registration.
    pub fn is_registered(&self) -> bool {
        self.id.is_some()
    }
    /// The email as entered.
    pub fn email(&self) -> &Personal<String> {
        &self.email
    }
    /// Given name.
    pub fn first_name(&self) -> &Personal<String> {
        &self.first_name
    }
    /// Family name.
    pub fn last_name(&self) -> &Personal<String> {
        &self.last_name
    }
    /// The current password hash, to verify a password against.
    pub fn password_hash(&self) -> &PasswordHash {
        &self.password_hash
    }
    /// Role slugs.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// When the user registered.
    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at
    }
    /// When the user last changed.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at
    }
    /// Whether the email is verified.
    pub fn email_verified(&self) -> bool {
        self.email_verified
    }
    /// The end of the current lockout, if one is running at `now`.
    pub fn locked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|until| *until > now)
    }
    /// Whether an administrator disabled the account.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }
    /// The communities the user joined, in order.
    pub fn communities(&self) -> &[Uuid] {
        &self.communities
    }
    /// When the user finished the tutorial.
    pub fn tutorial_completed_at(&self) -> Option<DateTime<Utc>> {
        self.tutorial_completed_at
    }
    /// The Kolibri facility of a facility user.
    pub fn facility(&self) -> Option<Uuid> {
        self.facility
    }
    /// A facility user's username.
    pub fn username(&self) -> &Personal<String> {
        &self.username
    }
    /// A facility user's full name.
    pub fn full_name(&self) -> &Personal<String> {
        &self.full_name
    }
    /// A facility user's demographic fields.
    pub fn demographics(&self) -> &Demographics {
        &self.demographics
    }
    /// The profile beyond the names.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
    /// The subscription as its events leave it.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }
    /// The subscription state as last recorded.
    pub fn subscription_state(&self) -> Option<&SubscriptionState> {
        self.subscription_recorded.as_ref()
    }
    /// The categories of the last index run.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }
    /// The sessions cutoff, if one was ever set.
    pub fn cutoff(&self) -> Option<SessionCutoff> {
        self.cutoff
    }
    /// Roles held for collections.
    pub fn collection_roles(&self) -> &[CollectionRole] {
        &self.collection_roles
    }
    /// Classrooms and learner groups the user is a member of.
    pub fn collections(&self) -> &[Uuid] {
        &self.collections
    }
    /// When the account was deleted.
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.deleted_at
    }
    /// Whether the person's data was erased.
    pub fn is_erased(&self) -> bool {
        self.erased
    }
    /// Registered and not deleted.
    pub fn is_active(&self) -> bool {
        self.is_registered() && self.deleted_at.is_none()
    }
    /// Whether the user is a Kolibri superuser (holds the global
    /// administrator role).
    pub fn is_superuser(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == crate::collection_roles::SUPERUSER_ROLE)
    }
    /// Whether this user (not deleted) still goes by `normalized` (a
    /// lower-cased identifier) of `kind`: a claim whose owner no longer
    /// does is free to take.
    pub fn holds_identifier(&self, kind: IdentifierKind, normalized: &str) -> bool {
        if !self.is_active() {
            return false;
        }
        match kind {
            // Emails never change: a live user holds theirs.
            IdentifierKind::Email => true,
            IdentifierKind::Username { facility } => {
                self.facility == Some(facility)
                    && self.username.expose().to_lowercase() == normalized
            }
            IdentifierKind::External => self.identities.iter().any(|identity| {
                ExternalIdentity::normalized(&identity.issuer, identity.subject.expose())
                    == normalized
            }),
        }
    }

    /// Folds `UserErased`: deleted and purged for good, every session over,
    /// and nothing personal left in the state (the events' values read as
    /// erased from now on; this keeps a state in memory or in a snapshot
    /// from holding them).
    fn erase(&mut self, cutoff: SessionCutoff, at: DateTime<Utc>) {
        self.erased = true;
        self.purged = true;
        self.deleted_at = Some(self.deleted_at.unwrap_or(at));
        self.cutoff = Some(cutoff);
        self.email = Personal::erased();
        self.first_name = Personal::erased();
        self.last_name = Personal::erased();
        self.username = Personal::erased();
        self.full_name = Personal::erased();
        self.profile = Profile::default();
        self.demographics = Demographics::default();
        self.identities.clear();
        self.pending_verification = None;
        self.pending_reset = None;
        self.updated_at = Some(at);
    }

    /// Every command but the registrations needs a live account: deletion
    /// is soft (the stream stays), and refusing a deleted user here as if
    /// they never registered is what makes it final.
    fn require_registered(&self) -> Result<(), DomainError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(DomainError::UserNotFound)
        }
    }
}
