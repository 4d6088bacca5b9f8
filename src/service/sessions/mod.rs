//! Sessions, whatever carries them: logging in (password, facility
//! username, Kolibri's login token), refreshing, bearer checks, cookie
//! sessions, logging out, password changes, introspection, one's own
//! sessions. A session records its [`Transport`]; nothing here asks which
//! surface started it.

mod bearer;
pub mod cookie;
mod facility_login;
pub mod header_token;
mod introspect;
mod login;
mod logout;
mod own;
mod password;
mod refresh;

pub use aggregates::Transport;
pub use bearer::{authenticate, Principal};
pub use facility_login::{login_token, verify_auth_token, verify_in_facility};
pub use introspect::{introspect, live_session, revoke, Introspected, LiveSession};
pub use login::{
    login, record_session, verify_login, Attempt, Login, NewSession, Refused, Started, Verified,
};
pub use logout::{end_session, logout};
pub use own::{end_others, end_own, list_own};
pub use password::{change_password, Caller};
pub use refresh::refresh;

use aggregates::{IdentifierClaim, IdentifierKind, User};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::UserView;
use crate::auth::tokens::AccessToken;
use crate::input::Email;
use crate::store::Loaded;
use crate::{App, Error};

/// A started or refreshed session's credentials.
pub struct Issued {
    /// The access token.
    pub access: AccessToken,
    /// The refresh token (opaque).
    pub refresh_token: String,
    /// When the session ends at the latest (cookie lifetime).
    pub session_expires_at: DateTime<Utc>,
    /// The session.
    pub session_id: Uuid,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access", &self.access)
            .field("session_id", &self.session_id)
            .field("session_expires_at", &self.session_expires_at)
            .finish_non_exhaustive()
    }
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// Credentials.
    pub issued: Issued,
    /// The user.
    pub user: UserView,
}

/// Who is logging in: an email (the email surfaces) or a username in a
/// facility (Kolibri).
#[derive(Debug, Clone)]
pub enum Identifier {
    /// An email address.
    Email(Email),
    /// A username, unique in its facility.
    Username {
        /// The facility.
        facility: Uuid,
        /// The username.
        username: crate::input::Username,
    },
    /// An identity at an external identity provider.
    External {
        /// The provider's entity id.
        issuer: String,
        /// The provider's name for the user.
        subject: String,
    },
}

impl From<Email> for Identifier {
    fn from(email: Email) -> Self {
        Self::Email(email)
    }
}

impl Identifier {
    /// The id of the claim that names the user (and keys throttling).
    pub fn claim_id(&self, app: &App) -> String {
        match self {
            Self::Email(email) => app.identifiers.email(email),
            Self::Username { facility, username } => {
                app.identifiers.username(*facility, &username.normalized())
            }
            Self::External { issuer, subject } => app.identifiers.external(issuer, subject),
        }
    }

    /// The kind of claim.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::Email(_) => IdentifierKind::Email,
            Self::Username { facility, .. } => IdentifierKind::Username {
                facility: *facility,
            },
            Self::External { .. } => IdentifierKind::External,
        }
    }

    /// The normalized identifier.
    pub fn normalized(&self) -> String {
        match self {
            Self::Email(email) => email.normalized().to_string(),
            Self::Username { username, .. } => username.normalized(),
            Self::External { issuer, subject } => {
                aggregates::ExternalIdentity::normalized(issuer, subject)
            }
        }
    }

    /// Whether `user` (live) still goes by this identifier.
    pub fn held_by(&self, user: &User) -> bool {
        user.holds_identifier(self.kind(), &self.normalized())
    }
}

/// The live user who goes by `identifier`, if any: the claim names the
/// user, the user's own stream confirms it (a deleted or renamed owner no
/// longer holds the claim).
pub async fn holder(app: &App, identifier: &Identifier) -> Result<Option<Loaded<User>>, Error> {
    let claim = app
        .store
        .load::<IdentifierClaim>(&identifier.claim_id(app))
        .await?;
    let Some(owner) = claim.state.owner() else {
        return Ok(None);
    };
    let user = app.store.load::<User>(&owner.to_string()).await?;
    Ok(Some(user).filter(|u| identifier.held_by(&u.state)))
}
