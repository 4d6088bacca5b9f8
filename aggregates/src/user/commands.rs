//! What may be asked of a user. Commands are never stored, so unlike the
//! events they may change shape freely; each carries what was computed
//! before it was built (hashes, token digests, ids), so that a command
//! retried after a concurrency conflict costs nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Demographics;
use crate::collection_roles::{FacilityUserChanges, RoleKind};
use crate::profile::ProfileChanges;
use crate::{PasswordHash, Personal, TokenHash};

/// Commands on a user.
#[derive(Debug, Clone, strum::IntoStaticStr)]
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
    /// Give the user the number clients that know users by integers use
    /// (reserved from [`crate::Numbering`] before); a user with a number
    /// keeps it.
    AssignNumber {
        /// The number.
        number: u64,
    },
    /// Link an identity at an external identity provider (its identifier
    /// claim taken before this).
    LinkIdentity {
        /// The provider's entity id.
        issuer: String,
        /// The provider's name for the user.
        subject: Personal<String>,
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
    /// The user becomes a member of an account (checked to exist before)
    /// holding `roles` there, or a member's roles there change; the same
    /// roles again change nothing.
    JoinAccount {
        /// The account (an Organization of kind `account`).
        account: Uuid,
        /// Role slugs held in it: each 1–32 of `a-z 0-9 _ -`.
        roles: Vec<String>,
    },
    /// The user leaves an account.
    LeaveAccount {
        /// The account.
        account: Uuid,
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
    /// A deleted account comes back (its identifier is claimed again
    /// first); its old sessions stay over.
    Restore,
    /// A deleted account is removed for good (Kolibri's hard delete): gone
    /// from every read model and beyond restoring. Its events stay until
    /// its personal data is erased.
    Purge,
    /// The person's data is erased (their keys are destroyed next): the
    /// account is over for good, every session ends, every identifier is
    /// free, and the state keeps no personal value. Erasing twice records
    /// nothing.
    Erase,
}

impl crate::CommandName for UserCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
