//! What happened to a user, exactly as it is stored. The log is read back
//! for as long as it exists, so the variant names, field names, serde
//! attributes and `event_type` strings here never change: a new fact is a
//! new variant, a new field comes with `#[serde(default)]`.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Demographics, ExternalIdentity};
use crate::collection_roles::{CollectionRole, FacilityUserChanges};
use crate::profile::{ProfileChanges, SubscriptionState};
use crate::{PasswordHash, Personal, TokenHash};

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
    /// The user is a member of an account with these roles (joined, or
    /// their roles there changed).
    AccountJoined {
        /// The account.
        account: Uuid,
        /// Role slugs held in it.
        roles: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user left an account.
    AccountLeft {
        /// The account.
        account: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The user got their number (once, for good).
    NumberAssigned {
        /// The number.
        number: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// An external identity now signs the user in.
    IdentityLinked {
        /// The identity.
        identity: ExternalIdentity,
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
    /// A deleted account came back.
    UserRestored {
        /// When.
        at: DateTime<Utc>,
    },
    /// A deleted account was removed for good.
    UserPurged {
        /// When.
        at: DateTime<Utc>,
    },
    /// The person's data was erased: their data keys are destroyed, so
    /// every personal value of theirs in the log reads as erased; the
    /// account is gone for good and every session ended.
    UserErased {
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
            Self::AccountJoined { .. } => "AccountJoined",
            Self::AccountLeft { .. } => "AccountLeft",
            Self::NumberAssigned { .. } => "NumberAssigned",
            Self::IdentityLinked { .. } => "IdentityLinked",
            Self::CollectionLeft { .. } => "CollectionLeft",
            Self::FacilityUserUpdated { .. } => "FacilityUserUpdated",
            Self::UserDeleted { .. } => "UserDeleted",
            Self::UserRestored { .. } => "UserRestored",
            Self::UserPurged { .. } => "UserPurged",
            Self::UserErased { .. } => "UserErased",
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
            | Self::UserDeleted { cutoff, .. }
            | Self::UserErased { cutoff, .. } => Some(*cutoff),
            _ => None,
        }
    }
}
