//! The write model of eventauth: aggregates, their commands and events, and
//! the domain errors that reject commands.
//!
//! This crate is pure. It knows nothing of HTTP, SQL or NATS; time comes in
//! through [`Services`], and everything expensive (password hashing, token
//! generation) happens before a command is built, so that a command retried
//! after a concurrency conflict costs nothing.
//!
//! Streams are kept short by design: successful logins are recorded on the
//! [`Session`], never on the [`User`]; failed attempts never reach the user's
//! stream; ending all sessions of a user is one cutoff event on the user.

pub mod claim;
pub mod collection_roles;
pub mod error;
pub mod installation;
pub mod login_failures;
pub mod numbering;
pub mod one_time;
pub mod organization;
pub mod personal;
pub mod policy_role;
pub mod profile;
pub mod secret;
pub mod services;
pub mod session;
pub mod user;

/// A fingerprint of this crate's source (computed by its build script):
/// stored aggregate snapshots carry it, and one taken by a build with
/// another fingerprint is never read — any change to a state's fields or
/// to a fold retakes them.
pub const SOURCE_FINGERPRINT: &str = env!("AGGREGATES_SOURCE_FINGERPRINT");

pub use claim::{CheckedOwner, ClaimCommand, ClaimEvent, IdentifierClaim, IdentifierKind};
pub use collection_roles::{
    membership_id, CollectionRole, FacilityUserChanges, RoleKind, SUPERUSER_ROLE,
};
pub use error::DomainError;
pub use installation::{Installation, InstallationCommand, InstallationEvent, INSTALLATION_ID};
pub use login_failures::{LoginFailures, LoginFailuresCommand, LoginFailuresEvent};
pub use numbering::{Numbering, NumberingCommand, NumberingEvent, USER_NUMBERS};
pub use one_time::{OneTime, OneTimeCommand, OneTimeEvent};
pub use organization::{
    FacilitySettings, Organization, OrganizationCommand, OrganizationEvent, OrganizationKind,
};
pub use personal::Personal;
pub use policy_role::{PolicyRole, PolicyRoleCommand, PolicyRoleEvent};
pub use profile::{
    Profile, ProfileChanges, ProfileImage, Subscription, SubscriptionState, SubscriptionStatus,
};
pub use secret::{PasswordHash, TokenHash};
pub use services::{Clock, Services, SystemClock};
pub use session::{EndReason, Session, SessionCommand, SessionEvent, Transport};
pub use user::{
    AccountMembership, Demographics, ExternalIdentity, SessionCutoff, User, UserCommand, UserEvent,
};

/// A command's variant name, never its fields: what metrics count commands
/// by.
pub trait CommandName {
    /// The variant's name (`Register`, `End`, …).
    fn name(&self) -> &'static str;
}
