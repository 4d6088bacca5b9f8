//! Why an aggregate refused a command.

use chrono::{DateTime, Utc};

/// A business rule a command broke. The HTTP edge maps each variant to a
/// status code; the messages are safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The user stream already holds a registration.
    #[error("the user is already registered")]
    AlreadyRegistered,
    /// The user does not exist (its stream is empty).
    #[error("user not found")]
    UserNotFound,
    /// Logins are locked after repeated failures.
    #[error("the account is temporarily locked")]
    AccountLocked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// The password was verified against a hash that is no longer the
    /// user's current one (it changed meanwhile); verify again.
    #[error("the credentials changed while the request was in flight")]
    StaleCredentials,
    /// The identifier (email, username) belongs to another user.
    #[error("this identifier is already taken")]
    IdentifierTaken,
    /// No session with this id was started.
    #[error("session not found")]
    SessionNotFound,
    /// The session was already started.
    #[error("the session already exists")]
    SessionAlreadyStarted,
    /// The session has ended (logout, revocation, reuse).
    #[error("the session has ended")]
    SessionEnded,
    /// The session is past its expiry.
    #[error("the session has expired")]
    SessionExpired,
    /// The session was started before the user's sessions cutoff.
    #[error("the session was revoked")]
    SessionRevoked,
    /// The presented refresh token is not one this session ever issued.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A verification or reset token that is not the outstanding one of
    /// its purpose (wrong, already used, replaced by a newer one).
    #[error("invalid or already used token")]
    InvalidToken,
    /// The token was right but is past its expiry.
    #[error("the token has expired")]
    TokenExpired,
    /// An administrator disabled the account.
    #[error("the account is disabled")]
    AccountDisabled,
    /// Not a valid role name.
    #[error("invalid role")]
    InvalidRole,
    /// The same request came a moment ago (e.g. a reset mail).
    #[error("requested again too soon")]
    TooSoon,
    /// The thing to create exists already.
    #[error("it already exists")]
    AlreadyExists,
    /// A parent where none belongs, none where one must be, or settings on
    /// anything but a facility.
    #[error("invalid organization")]
    InvalidOrganization,
    /// No such organization (or not of the kind asked for).
    #[error("organization not found")]
    OrganizationNotFound,
    /// No such policy role (never defined, or deleted).
    #[error("role not found")]
    RoleNotFound,
    /// A subscription command with a bad plan or end.
    #[error("{0}")]
    InvalidSubscription(&'static str),
    /// The user has no subscription to extend or cancel.
    #[error("the user has no subscription")]
    NoSubscription,
    /// The email address is verified already.
    #[error("the email address is already verified")]
    AlreadyVerified,
    /// An external identity without an issuer or a subject.
    #[error("an external identity needs an issuer and a subject")]
    InvalidIdentity,
    /// A one-time value (an assertion id) was used already.
    #[error("already used")]
    AlreadyUsed,
}
