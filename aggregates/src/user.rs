//! The User aggregate: registration, login authorization, lockout, password
//! changes and rehashes, and the `sessions_valid_after` cutoff that ends all
//! of a user's sessions with one event.
//!
//! Passwords are verified and hashed before a command is built; commands
//! carry the hash that was verified (`verified_against`), and the aggregate
//! only checks it is still the current one.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::kolibri::{CollectionRole, FacilityUserChanges, RoleKind};
use crate::profile::{
    categories, CategoryInputs, Profile, ProfileChanges, Subscription, SubscriptionState,
};
use crate::{DomainError, IdentifierKind, PasswordHash, Personal, Services, TokenHash};

/// "Every session of this user that authenticated before `after` is over",
/// except the one the user is acting from (a password change keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCutoff {
    /// Sessions authenticated strictly before this instant are revoked.
    pub after: DateTime<Utc>,
    /// The one session exempt from this cutoff, if any.
    pub except: Option<Uuid>,
}

impl SessionCutoff {
    /// Whether this cutoff ends the session `session_id` that authenticated
    /// at `auth_time`.
    pub fn revokes(&self, session_id: Uuid, auth_time: DateTime<Utc>) -> bool {
        auth_time < self.after && self.except != Some(session_id)
    }
}

/// Commands on a user.
#[derive(Debug, Clone)]
pub enum UserCommand {
    /// Create the user. The identifier claim is taken before this.
    Register {
        /// Pre-generated (UUIDv7) id, equal to the aggregate id.
        user_id: Uuid,
        /// The email as entered (trimmed).
        email: Personal<String>,
        /// Given name.
        first_name: Personal<String>,
        /// Family name.
        last_name: Personal<String>,
        /// The argon2id hash, computed before the command.
        password_hash: PasswordHash,
        /// Initial role slugs (e.g. `admin` for the first administrator).
        roles: Vec<String>,
    },
    /// Create a user of a Kolibri facility, known by a username unique in
    /// that facility (claimed before this). Kolibri users may have no
    /// password (passwordless learners).
    RegisterInFacility {
        /// Pre-generated (UUIDv7) id, equal to the aggregate id.
        user_id: Uuid,
        /// The facility (checked to exist before).
        facility: Uuid,
        /// The username as entered.
        username: Personal<String>,
        /// Full name.
        full_name: Personal<String>,
        /// The argon2id hash, when the user has a password.
        password_hash: Option<PasswordHash>,
        /// Kolibri's demographic fields.
        demographics: Demographics,
    },
    /// Check that a verified password may log in now; rehash if asked.
    AuthorizeLogin {
        /// The hash the password was verified against.
        verified_against: PasswordHash,
        /// A new hash with current parameters, when the old ones are outdated.
        rehash: Option<PasswordHash>,
    },
    /// Lock logins after repeated failures.
    LockOut {
        /// When the lock ends.
        until: DateTime<Utc>,
        /// How many failures triggered it (for the audit trail).
        failed_attempts: u32,
    },
    /// Replace the password; ends every other session.
    ChangePassword {
        /// The hash the current password was verified against.
        verified_against: PasswordHash,
        /// The new hash, computed before the command.
        new_password_hash: PasswordHash,
        /// The session the change was made from; it stays valid.
        keep_session: Option<Uuid>,
    },
    /// End all sessions (optionally but one) by moving the cutoff.
    RevokeSessions {
        /// A session to keep.
        keep_session: Option<Uuid>,
    },
    /// A verification mail goes out with a new token (replacing any
    /// earlier one).
    IssueEmailVerification {
        /// SHA-256 of the token (the token itself is only in the mail).
        token_hash: TokenHash,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// The token from the verification mail came back.
    VerifyEmail {
        /// SHA-256 of the presented token.
        token_hash: TokenHash,
    },
    /// A reset mail goes out with a new token (replacing any earlier one).
    IssuePasswordReset {
        /// SHA-256 of the token.
        token_hash: TokenHash,
        /// When it stops working.
        expires_at: DateTime<Utc>,
    },
    /// An administrator disables the account: logins are refused and every
    /// session ends. Disabling a disabled account changes nothing.
    Disable,
    /// An administrator enables a disabled account again.
    Enable,
    /// An administrator grants a role (granting a held role changes
    /// nothing).
    GrantRole {
        /// Role slug: 1–32 of `a-z 0-9 _ -`.
        role: String,
    },
    /// An administrator revokes a role (revoking one not held changes
    /// nothing).
    RevokeRole {
        /// Role slug.
        role: String,
    },
    /// The user finished the tutorial (once; later calls change nothing).
    CompleteTutorial,
    /// The user joins a community (checked to exist before); joining again
    /// changes nothing.
    JoinCommunity {
        /// The community (an Organization of kind community).
        community_id: Uuid,
    },
    /// The user edits their profile. Only what differs is recorded;
    /// nothing different, no event.
    UpdateProfile {
        /// The requested changes (validated at the edge).
        changes: Box<ProfileChanges>,
    },
    /// An administrator grants a plan until an instant (replacing any
    /// earlier plan and clearing a cancellation).
    GrantSubscription {
        /// Plan slug: 1–32 of `a-z 0-9 _ -`.
        plan: String,
        /// When it ends; must be in the future.
        valid_until: DateTime<Utc>,
    },
    /// An administrator moves the end of the current plan later.
    ExtendSubscription {
        /// The new end; must be later than the current one.
        valid_until: DateTime<Utc>,
    },
    /// An administrator cancels the plan: it runs until its end, or ends
    /// now when `immediately`.
    CancelSubscription {
        /// End now rather than at the end of the period.
        immediately: bool,
    },
    /// Recomputes the subscription state at this instant (an expiry is a
    /// change of state nobody commanded); recorded when it changed.
    RecalculateSubscription,
    /// Recomputes the user's categories (rule: [`crate::profile::categories`]);
    /// recorded when they changed.
    IndexCategories {
        /// Names of the communities the user belongs to, as the read model
        /// knows them.
        community_names: Vec<String>,
    },
    /// The token from the reset mail came back with a new password: it
    /// replaces the old one and every session ends.
    ResetPassword {
        /// SHA-256 of the presented token.
        token_hash: TokenHash,
        /// The new hash, computed before the command.
        new_password_hash: PasswordHash,
    },
    /// A role for a collection is given (holding that kind for that
    /// collection already changes nothing).
    AssignCollectionRole {
        /// The role's new id.
        role_id: Uuid,
        /// The collection (checked to exist before).
        collection: Uuid,
        /// The kind.
        kind: RoleKind,
    },
    /// A role for a collection is taken away (one not held changes
    /// nothing).
    RemoveCollectionRole {
        /// The collection.
        collection: Uuid,
        /// The kind.
        kind: RoleKind,
    },
    /// The user becomes a member of a classroom or learner group (checked to
    /// exist before); joining again changes nothing.
    JoinCollection {
        /// The collection.
        collection: Uuid,
    },
    /// The user leaves a classroom or learner group.
    LeaveCollection {
        /// The collection.
        collection: Uuid,
    },
    /// A facility user's account fields are edited (only what differs is
    /// recorded; a new username is claimed before).
    UpdateFacilityUser {
        /// The requested changes.
        changes: Box<FacilityUserChanges>,
    },
    /// The password is set without the current one (an administrator, or
    /// a facility user editing their own account as Kolibri allows); every
    /// other session ends.
    SetPassword {
        /// The new hash.
        new_password_hash: PasswordHash,
        /// The session the change was made from, kept when it is the
        /// user's own.
        keep_session: Option<Uuid>,
    },
    /// The account is deleted (soft: the stream stays, the user disappears
    /// from lists, cannot log in, and their identifier becomes free).
    Delete,
}

/// A role or plan name: 1–32 of `a-z 0-9 _ -`.
fn is_slug(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An outstanding single-use token (email verification or password reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingToken {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
}

/// A new reset mail waits this long after the previous one (no mail
/// bombing through `POST /sign/reset`).
pub const RESET_MAIL_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

impl PendingToken {
    /// Checks a presented token against this one at `now`.
    fn check(
        this: Option<&Self>,
        presented: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        match this {
            Some(pending) if pending.token_hash.matches(presented) => {
                if now < pending.expires_at {
                    Ok(())
                } else {
                    Err(DomainError::TokenExpired)
                }
            }
            _ => Err(DomainError::InvalidToken),
        }
    }
}

/// What happened to a user. Version 1 of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    /// A user was created.
    UserRegistered {
        /// The user's id.
        user_id: Uuid,
        /// The email as entered.
        email: Personal<String>,
        /// Given name.
        first_name: Personal<String>,
        /// Family name.
        last_name: Personal<String>,
        /// argon2id hash.
        password_hash: PasswordHash,
        /// Initial roles.
        roles: Vec<String>,
        /// When.
        registered_at: DateTime<Utc>,
    },
    /// A user of a Kolibri facility was created.
    FacilityUserRegistered {
        /// The user's id.
        user_id: Uuid,
        /// The facility.
        facility: Uuid,
        /// The username as entered.
        username: Personal<String>,
        /// Full name.
        full_name: Personal<String>,
        /// argon2id hash; none for a user without a password.
        password_hash: Option<PasswordHash>,
        /// Kolibri's demographic fields.
        demographics: Demographics,
        /// When.
        registered_at: DateTime<Utc>,
    },
    /// Logins were locked after repeated failures.
    UserLockedOut {
        /// When the lock ends.
        until: DateTime<Utc>,
        /// Failures counted.
        failed_attempts: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user changed their password; other sessions end.
    PasswordChanged {
        /// The new hash.
        password_hash: PasswordHash,
        /// The cutoff this change sets.
        cutoff: SessionCutoff,
        /// When.
        at: DateTime<Utc>,
    },
    /// The password hash was upgraded to current parameters at login.
    PasswordRehashed {
        /// The new hash (same password).
        password_hash: PasswordHash,
        /// When.
        at: DateTime<Utc>,
    },
    /// All sessions (but one, maybe) were ended.
    SessionsRevoked {
        /// The cutoff.
        cutoff: SessionCutoff,
        /// When.
        at: DateTime<Utc>,
    },
    /// A verification mail was sent; only its token's hash is kept.
    EmailVerificationIssued {
        /// SHA-256 of the token.
        token_hash: TokenHash,
        /// When it stops working.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The email address was verified (its token is used up).
    EmailVerified {
        /// When.
        at: DateTime<Utc>,
    },
    /// A password-reset mail was sent; only its token's hash is kept.
    PasswordResetIssued {
        /// SHA-256 of the token.
        token_hash: TokenHash,
        /// When it stops working.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An administrator disabled the account; every session ended.
    UserDisabled {
        /// Every session that authenticated before this is over.
        cutoff: SessionCutoff,
        /// When.
        at: DateTime<Utc>,
    },
    /// An administrator enabled the account again.
    UserEnabled {
        /// When.
        at: DateTime<Utc>,
    },
    /// A role was granted.
    RoleGranted {
        /// The role.
        role: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A role was revoked.
    RoleRevoked {
        /// The role.
        role: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user joined a community.
    CommunityJoined {
        /// The community.
        community_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user finished the tutorial.
    TutorialCompleted {
        /// When.
        at: DateTime<Utc>,
    },
    /// The user changed profile fields (only those that differ).
    ProfileUpdated {
        /// What changed.
        changes: Box<ProfileChanges>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An administrator granted a plan.
    SubscriptionGranted {
        /// The plan.
        plan: String,
        /// When it ends.
        valid_until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An administrator moved the plan's end later.
    SubscriptionExtended {
        /// The new end.
        valid_until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An administrator canceled the plan.
    SubscriptionCanceled {
        /// Whether it ended at once.
        immediately: bool,
        /// The plan's end after the cancellation.
        valid_until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A recalculation found the subscription in another state than last
    /// recorded (e.g. expired).
    SubscriptionRecalculated {
        /// The state at `at`.
        state: SubscriptionState,
        /// When.
        at: DateTime<Utc>,
    },
    /// An index run found the user's categories changed.
    CategoriesIndexed {
        /// The categories, sorted.
        categories: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A role for a collection was given.
    CollectionRoleAssigned {
        /// The role.
        role: CollectionRole,
        /// When.
        at: DateTime<Utc>,
    },
    /// A role for a collection was taken away.
    CollectionRoleRemoved {
        /// The role.
        role: CollectionRole,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user became a member of a classroom or learner group.
    CollectionJoined {
        /// The collection.
        collection: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user left a classroom or learner group.
    CollectionLeft {
        /// The collection.
        collection: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// A facility user's account fields changed.
    FacilityUserUpdated {
        /// What changed.
        changes: Box<FacilityUserChanges>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account was deleted (soft); every session ended.
    UserDeleted {
        /// Every session that authenticated before this is over.
        cutoff: SessionCutoff,
        /// When.
        at: DateTime<Utc>,
    },
    /// The password was reset with a mailed token; every session ended.
    PasswordReset {
        /// The new hash.
        password_hash: PasswordHash,
        /// Every session that authenticated before this is over.
        cutoff: SessionCutoff,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::FacilityUserRegistered { .. } => "FacilityUserRegistered",
            Self::UserLockedOut { .. } => "UserLockedOut",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::PasswordRehashed { .. } => "PasswordRehashed",
            Self::SessionsRevoked { .. } => "SessionsRevoked",
            Self::EmailVerificationIssued { .. } => "EmailVerificationIssued",
            Self::EmailVerified { .. } => "EmailVerified",
            Self::PasswordResetIssued { .. } => "PasswordResetIssued",
            Self::PasswordReset { .. } => "PasswordReset",
            Self::TutorialCompleted { .. } => "TutorialCompleted",
            Self::CommunityJoined { .. } => "CommunityJoined",
            Self::UserDisabled { .. } => "UserDisabled",
            Self::UserEnabled { .. } => "UserEnabled",
            Self::RoleGranted { .. } => "RoleGranted",
            Self::RoleRevoked { .. } => "RoleRevoked",
            Self::ProfileUpdated { .. } => "ProfileUpdated",
            Self::SubscriptionGranted { .. } => "SubscriptionGranted",
            Self::SubscriptionExtended { .. } => "SubscriptionExtended",
            Self::SubscriptionCanceled { .. } => "SubscriptionCanceled",
            Self::SubscriptionRecalculated { .. } => "SubscriptionRecalculated",
            Self::CategoriesIndexed { .. } => "CategoriesIndexed",
            Self::CollectionRoleAssigned { .. } => "CollectionRoleAssigned",
            Self::CollectionRoleRemoved { .. } => "CollectionRoleRemoved",
            Self::CollectionJoined { .. } => "CollectionJoined",
            Self::CollectionLeft { .. } => "CollectionLeft",
            Self::FacilityUserUpdated { .. } => "FacilityUserUpdated",
            Self::UserDeleted { .. } => "UserDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

impl UserEvent {
    /// The cutoff this event sets, if it sets one.
    pub fn cutoff(&self) -> Option<SessionCutoff> {
        match self {
            Self::PasswordChanged { cutoff, .. }
            | Self::SessionsRevoked { cutoff, .. }
            | Self::PasswordReset { cutoff, .. }
            | Self::UserDisabled { cutoff, .. }
            | Self::UserDeleted { cutoff, .. } => Some(*cutoff),
            _ => None,
        }
    }
}

/// Kolibri's demographic fields of a facility user, as Kolibri stores them:
/// `gender` is `MALE`, `FEMALE`, `NOT_SPECIFIED` or `DEFERRED`; `birth_year`
/// a year, `NOT_SPECIFIED` or `DEFERRED` (checked at the edge).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Demographics {
    /// Gender code.
    #[serde(default)]
    pub gender: Option<String>,
    /// Birth year or code.
    #[serde(default)]
    pub birth_year: Option<String>,
    /// An identification number (personal).
    #[serde(default)]
    pub id_number: Option<Personal<String>>,
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
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
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
    /// Registered and not deleted.
    pub fn is_active(&self) -> bool {
        self.is_registered() && self.deleted_at.is_none()
    }
    /// Whether the user is a Kolibri superuser (holds the global
    /// administrator role).
    pub fn is_superuser(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == crate::kolibri::SUPERUSER_ROLE)
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
        }
    }

    fn require_registered(&self) -> Result<(), DomainError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(DomainError::UserNotFound)
        }
    }

    /// A subscription event at `at` records the state it leaves.
    fn record_subscription(&mut self, at: DateTime<Utc>) {
        self.subscription_recorded = Some(self.subscription_at(at));
        self.updated_at = Some(at);
    }

    /// The subscription state at `at`.
    fn subscription_at(&self, at: DateTime<Utc>) -> SubscriptionState {
        SubscriptionState {
            plan: self.subscription.plan.clone(),
            status: self.subscription.status_at(at),
            valid_until: self.subscription.valid_until,
        }
    }

    /// Keeps only the changes that differ from the current values.
    fn facility_user_diff(&self, changes: FacilityUserChanges) -> FacilityUserChanges {
        let demographics = &self.demographics;
        FacilityUserChanges {
            username: changes.username.filter(|u| u != &self.username),
            full_name: changes.full_name.filter(|n| n != &self.full_name),
            gender: changes
                .gender
                .filter(|g| demographics.gender.as_ref() != Some(g)),
            birth_year: changes
                .birth_year
                .filter(|b| demographics.birth_year.as_ref() != Some(b)),
            id_number: changes
                .id_number
                .filter(|n| demographics.id_number.as_ref() != Some(n)),
        }
    }

    fn require_current_hash(&self, verified_against: &PasswordHash) -> Result<(), DomainError> {
        if &self.password_hash == verified_against {
            Ok(())
        } else {
            Err(DomainError::StaleCredentials)
        }
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: UserCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let now = services.now();
        match command {
            UserCommand::Register {
                user_id,
                email,
                first_name,
                last_name,
                password_hash,
                roles,
            } => {
                if self.is_registered() {
                    return Err(DomainError::AlreadyRegistered);
                }
                let event = UserEvent::UserRegistered {
                    user_id,
                    email,
                    first_name,
                    last_name,
                    password_hash,
                    roles,
                    registered_at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::RegisterInFacility {
                user_id,
                facility,
                username,
                full_name,
                password_hash,
                demographics,
            } => {
                if self.is_registered() {
                    return Err(DomainError::AlreadyRegistered);
                }
                let event = UserEvent::FacilityUserRegistered {
                    user_id,
                    facility,
                    username,
                    full_name,
                    password_hash,
                    demographics,
                    registered_at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::AuthorizeLogin {
                verified_against,
                rehash,
            } => {
                self.require_registered()?;
                if self.disabled {
                    return Err(DomainError::AccountDisabled);
                }
                if let Some(until) = self.locked_until(now) {
                    return Err(DomainError::AccountLocked { until });
                }
                self.require_current_hash(&verified_against)?;
                if let Some(password_hash) = rehash {
                    let event = UserEvent::PasswordRehashed {
                        password_hash,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::LockOut {
                until,
                failed_attempts,
            } => {
                self.require_registered()?;
                // An equal or longer lock already running: nothing new to record.
                if self
                    .locked_until(now)
                    .is_some_and(|current| current >= until)
                {
                    return Ok(());
                }
                let event = UserEvent::UserLockedOut {
                    until,
                    failed_attempts,
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::ChangePassword {
                verified_against,
                new_password_hash,
                keep_session,
            } => {
                self.require_registered()?;
                self.require_current_hash(&verified_against)?;
                let event = UserEvent::PasswordChanged {
                    password_hash: new_password_hash,
                    cutoff: SessionCutoff {
                        after: now,
                        except: keep_session,
                    },
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::RevokeSessions { keep_session } => {
                self.require_registered()?;
                let event = UserEvent::SessionsRevoked {
                    cutoff: SessionCutoff {
                        after: now,
                        except: keep_session,
                    },
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::IssueEmailVerification {
                token_hash,
                expires_at,
            } => {
                self.require_registered()?;
                if self.email_verified {
                    return Err(DomainError::AlreadyVerified);
                }
                let event = UserEvent::EmailVerificationIssued {
                    token_hash,
                    expires_at,
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::VerifyEmail { token_hash } => {
                self.require_registered()?;
                PendingToken::check(self.pending_verification.as_ref(), &token_hash, now)?;
                sink.write(UserEvent::EmailVerified { at: now }, self).await;
            }
            UserCommand::IssuePasswordReset {
                token_hash,
                expires_at,
            } => {
                self.require_registered()?;
                let recent = self
                    .pending_reset
                    .as_ref()
                    .and_then(|p| p.issued_at)
                    .is_some_and(|issued| now < issued + RESET_MAIL_INTERVAL);
                if recent {
                    return Err(DomainError::TooSoon);
                }
                let event = UserEvent::PasswordResetIssued {
                    token_hash,
                    expires_at,
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::Disable => {
                self.require_registered()?;
                if !self.disabled {
                    let event = UserEvent::UserDisabled {
                        cutoff: SessionCutoff {
                            after: now,
                            except: None,
                        },
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::Enable => {
                self.require_registered()?;
                if self.disabled {
                    sink.write(UserEvent::UserEnabled { at: now }, self).await;
                }
            }
            UserCommand::GrantRole { role } => {
                self.require_registered()?;
                if !is_slug(&role) {
                    return Err(DomainError::InvalidRole);
                }
                if !self.roles.contains(&role) {
                    sink.write(UserEvent::RoleGranted { role, at: now }, self)
                        .await;
                }
            }
            UserCommand::RevokeRole { role } => {
                self.require_registered()?;
                if self.roles.contains(&role) {
                    sink.write(UserEvent::RoleRevoked { role, at: now }, self)
                        .await;
                }
            }
            UserCommand::JoinCommunity { community_id } => {
                self.require_registered()?;
                if !self.communities.contains(&community_id) {
                    let event = UserEvent::CommunityJoined {
                        community_id,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::CompleteTutorial => {
                self.require_registered()?;
                if self.tutorial_completed_at.is_none() {
                    sink.write(UserEvent::TutorialCompleted { at: now }, self)
                        .await;
                }
            }
            UserCommand::UpdateProfile { changes } => {
                self.require_registered()?;
                let changes = changes.diff(&self.first_name, &self.last_name, &self.profile);
                if !changes.is_empty() {
                    let event = UserEvent::ProfileUpdated {
                        changes: Box::new(changes),
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::GrantSubscription { plan, valid_until } => {
                self.require_registered()?;
                if !is_slug(&plan) {
                    return Err(DomainError::InvalidSubscription(
                        "plan must be 1 to 32 of a-z, 0-9, _ and -",
                    ));
                }
                if valid_until <= now {
                    return Err(DomainError::InvalidSubscription(
                        "validUntil must be in the future",
                    ));
                }
                let event = UserEvent::SubscriptionGranted {
                    plan,
                    valid_until,
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::ExtendSubscription { valid_until } => {
                self.require_registered()?;
                let current = match (&self.subscription.plan, self.subscription.valid_until) {
                    (Some(_), Some(current)) => current,
                    _ => return Err(DomainError::NoSubscription),
                };
                if valid_until <= current || valid_until <= now {
                    return Err(DomainError::InvalidSubscription(
                        "validUntil must be later than the current end and in the future",
                    ));
                }
                let event = UserEvent::SubscriptionExtended {
                    valid_until,
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::CancelSubscription { immediately } => {
                self.require_registered()?;
                let Some(until) = self.subscription.valid_until else {
                    return Err(DomainError::NoSubscription);
                };
                let valid_until = if immediately { until.min(now) } else { until };
                let unchanged = self.subscription.canceled && valid_until == until;
                if !unchanged && until > now {
                    let event = UserEvent::SubscriptionCanceled {
                        immediately,
                        valid_until,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::RecalculateSubscription => {
                self.require_registered()?;
                let state = self.subscription_at(now);
                let recorded = self.subscription_recorded.as_ref();
                let unchanged = recorded.map_or(
                    state.status == crate::profile::SubscriptionStatus::None,
                    |r| *r == state,
                );
                if !unchanged {
                    let event = UserEvent::SubscriptionRecalculated { state, at: now };
                    sink.write(event, self).await;
                }
            }
            UserCommand::IndexCategories { community_names } => {
                self.require_registered()?;
                let inputs = CategoryInputs {
                    profile: &self.profile,
                    email_verified: self.email_verified,
                    tutorial_completed: self.tutorial_completed_at.is_some(),
                    subscription: &self.subscription,
                    communities: &community_names,
                };
                let categories = categories(inputs, now);
                if categories != self.categories {
                    let event = UserEvent::CategoriesIndexed {
                        categories,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::ResetPassword {
                token_hash,
                new_password_hash,
            } => {
                self.require_registered()?;
                PendingToken::check(self.pending_reset.as_ref(), &token_hash, now)?;
                let event = UserEvent::PasswordReset {
                    password_hash: new_password_hash,
                    cutoff: SessionCutoff {
                        after: now,
                        except: None,
                    },
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::AssignCollectionRole {
                role_id,
                collection,
                kind,
            } => {
                self.require_registered()?;
                let held = self
                    .collection_roles
                    .iter()
                    .any(|r| r.collection == collection && r.kind == kind);
                if !held {
                    let role = CollectionRole {
                        id: role_id,
                        collection,
                        kind,
                    };
                    let event = UserEvent::CollectionRoleAssigned { role, at: now };
                    sink.write(event, self).await;
                }
            }
            UserCommand::RemoveCollectionRole { collection, kind } => {
                self.require_registered()?;
                let held = self
                    .collection_roles
                    .iter()
                    .find(|r| r.collection == collection && r.kind == kind)
                    .copied();
                if let Some(role) = held {
                    let event = UserEvent::CollectionRoleRemoved { role, at: now };
                    sink.write(event, self).await;
                }
            }
            UserCommand::JoinCollection { collection } => {
                self.require_registered()?;
                if !self.collections.contains(&collection) {
                    let event = UserEvent::CollectionJoined {
                        collection,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::LeaveCollection { collection } => {
                self.require_registered()?;
                if self.collections.contains(&collection) {
                    let event = UserEvent::CollectionLeft {
                        collection,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::UpdateFacilityUser { changes } => {
                self.require_registered()?;
                if self.facility.is_none() {
                    return Err(DomainError::UserNotFound);
                }
                let changes = self.facility_user_diff(*changes);
                if !changes.is_empty() {
                    let event = UserEvent::FacilityUserUpdated {
                        changes: Box::new(changes),
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            UserCommand::SetPassword {
                new_password_hash,
                keep_session,
            } => {
                self.require_registered()?;
                let event = UserEvent::PasswordChanged {
                    password_hash: new_password_hash,
                    cutoff: SessionCutoff {
                        after: now,
                        except: keep_session,
                    },
                    at: now,
                };
                sink.write(event, self).await;
            }
            UserCommand::Delete => {
                self.require_registered()?;
                let event = UserEvent::UserDeleted {
                    cutoff: SessionCutoff {
                        after: now,
                        except: None,
                    },
                    at: now,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: UserEvent) {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email,
                first_name,
                last_name,
                password_hash,
                roles,
                registered_at,
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.first_name = first_name;
                self.last_name = last_name;
                self.password_hash = password_hash;
                self.roles = roles;
                self.registered_at = Some(registered_at);
                self.updated_at = Some(registered_at);
            }
            UserEvent::FacilityUserRegistered {
                user_id,
                facility,
                username,
                full_name,
                password_hash,
                demographics,
                registered_at,
            } => {
                self.id = Some(user_id);
                self.facility = Some(facility);
                self.username = username;
                self.full_name = full_name;
                // No password: an empty hash, which nothing verifies against.
                self.password_hash = password_hash.unwrap_or_default();
                self.demographics = demographics;
                self.registered_at = Some(registered_at);
                self.updated_at = Some(registered_at);
            }
            UserEvent::UserLockedOut { until, .. } => {
                self.locked_until = Some(until);
            }
            UserEvent::PasswordChanged {
                password_hash,
                cutoff,
                at,
            } => {
                self.password_hash = password_hash;
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::PasswordRehashed { password_hash, .. } => {
                self.password_hash = password_hash;
            }
            UserEvent::SessionsRevoked { cutoff, at } => {
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::EmailVerificationIssued {
                token_hash,
                expires_at,
                at,
            } => {
                self.pending_verification = Some(PendingToken {
                    token_hash,
                    expires_at,
                    issued_at: Some(at),
                });
            }
            UserEvent::EmailVerified { at } => {
                self.email_verified = true;
                self.pending_verification = None;
                self.updated_at = Some(at);
            }
            UserEvent::PasswordResetIssued {
                token_hash,
                expires_at,
                at,
            } => {
                self.pending_reset = Some(PendingToken {
                    token_hash,
                    expires_at,
                    issued_at: Some(at),
                });
            }
            UserEvent::UserDisabled { cutoff, at } => {
                self.disabled = true;
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::UserEnabled { at } => {
                self.disabled = false;
                self.updated_at = Some(at);
            }
            UserEvent::RoleGranted { role, at } => {
                self.roles.push(role);
                self.updated_at = Some(at);
            }
            UserEvent::RoleRevoked { role, at } => {
                self.roles.retain(|r| *r != role);
                self.updated_at = Some(at);
            }
            UserEvent::CommunityJoined { community_id, at } => {
                self.communities.push(community_id);
                self.updated_at = Some(at);
            }
            UserEvent::TutorialCompleted { at } => {
                self.tutorial_completed_at = Some(at);
                self.updated_at = Some(at);
            }
            UserEvent::ProfileUpdated { changes, at } => {
                let changes = *changes;
                if let Some(first_name) = changes.first_name.clone() {
                    self.first_name = first_name;
                }
                if let Some(last_name) = changes.last_name.clone() {
                    self.last_name = last_name;
                }
                changes.apply_to(&mut self.profile);
                self.updated_at = Some(at);
            }
            UserEvent::SubscriptionGranted {
                plan,
                valid_until,
                at,
            } => {
                self.subscription = Subscription {
                    plan: Some(plan),
                    valid_until: Some(valid_until),
                    canceled: false,
                };
                self.record_subscription(at);
            }
            UserEvent::SubscriptionExtended { valid_until, at } => {
                self.subscription.valid_until = Some(valid_until);
                self.subscription.canceled = false;
                self.record_subscription(at);
            }
            UserEvent::SubscriptionCanceled {
                valid_until, at, ..
            } => {
                self.subscription.canceled = true;
                self.subscription.valid_until = Some(valid_until);
                self.record_subscription(at);
            }
            UserEvent::SubscriptionRecalculated { state, at } => {
                self.subscription_recorded = Some(state);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionRoleAssigned { role, at } => {
                self.collection_roles.push(role);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionRoleRemoved { role, at } => {
                self.collection_roles.retain(|r| r.id != role.id);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionJoined { collection, at } => {
                self.collections.push(collection);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionLeft { collection, at } => {
                self.collections.retain(|c| *c != collection);
                self.updated_at = Some(at);
            }
            UserEvent::FacilityUserUpdated { changes, at } => {
                let changes = *changes;
                if let Some(username) = changes.username {
                    self.username = username;
                }
                if let Some(full_name) = changes.full_name {
                    self.full_name = full_name;
                }
                if let Some(gender) = changes.gender {
                    self.demographics.gender = Some(gender);
                }
                if let Some(birth_year) = changes.birth_year {
                    self.demographics.birth_year = Some(birth_year);
                }
                if let Some(id_number) = changes.id_number {
                    self.demographics.id_number = Some(id_number);
                }
                self.updated_at = Some(at);
            }
            UserEvent::UserDeleted { cutoff, at } => {
                self.deleted_at = Some(at);
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::CategoriesIndexed { categories, at } => {
                self.categories = categories;
                self.updated_at = Some(at);
            }
            UserEvent::PasswordReset {
                password_hash,
                cutoff,
                at,
            } => {
                self.password_hash = password_hash;
                self.cutoff = Some(cutoff);
                self.pending_reset = None;
                self.updated_at = Some(at);
            }
        }
    }
}
