//! The use cases every surface shares. A surface parses its wire format into
//! the inputs here and renders the outputs; the rules live in the
//! aggregates, the orchestration (what to load, hash, write and wait for)
//! lives here.

pub mod accounts;
pub mod admin;
pub mod communities;
pub mod context;
pub mod cookie_sessions;
pub mod facilities;
pub mod facility_users;
pub mod kolibri;
pub mod profile;
pub mod recovery;
pub mod sessions;
pub mod users;

pub use context::RequestContext;
pub use users::UserView;

/// 403 unless the caller holds the `admin` role (from their access token).
pub fn require_admin(principal: &sessions::Principal) -> Result<(), crate::Error> {
    if principal.roles.iter().any(|role| role == "admin") {
        Ok(())
    } else {
        Err(crate::Error::Forbidden)
    }
}
