//! Kolibri facility users: registered with a username unique in their
//! facility (case-insensitive), maybe without a password.
//!
//! Same order as email registration ([`super::accounts`]): check the
//! username is free (before any hashing), hash, claim it for a
//! pre-generated user id, then write the user.

use aggregates::{
    Demographics, IdentifierClaim, Organization, OrganizationKind, Personal, User, UserCommand,
};
use uuid::Uuid;

use super::sessions::Identifier;
use super::RequestContext;
use crate::input::{Password, Username};
use crate::{App, Error};

/// What a facility user's registration needs.
pub struct FacilityRegistration {
    /// The facility.
    pub facility: Uuid,
    /// Unique in the facility.
    pub username: Username,
    /// Full name (up to 120 characters, may be empty as in Kolibri).
    pub full_name: String,
    /// None: a user without a password.
    pub password: Option<Password>,
    /// Kolibri's demographic fields (checked by the caller).
    pub demographics: Demographics,
}

impl std::fmt::Debug for FacilityRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of any log line.
        f.debug_struct("FacilityRegistration")
            .field("facility", &self.facility)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

/// Registers a facility user; their id, once the read models show them.
pub async fn register(
    app: &App,
    input: FacilityRegistration,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    let full_name = input.full_name.trim().to_string();
    if full_name.chars().count() > 120 || full_name.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "full_name",
            "INVALID",
            "full_name must be at most 120 printable characters",
        ));
    }
    require_facility(app, input.facility).await?;
    let identifier = Identifier::Username {
        facility: input.facility,
        username: input.username.clone(),
    };
    let user_id = Uuid::now_v7();
    let committed = super::accounts::claim_and_create(
        app,
        &identifier,
        user_id,
        input.password.as_ref(),
        |password_hash| UserCommand::RegisterInFacility {
            user_id,
            facility: input.facility,
            username: Personal::new(input.username.as_str().to_string()),
            full_name: Personal::new(full_name),
            password_hash,
            demographics: input.demographics,
        },
        &ctx.metadata(),
    )
    .await
    .map_err(username_taken)?;
    app.settle(committed.written.as_ref()).await?;
    Ok(user_id)
}

/// Whether `username` is free in `facility` (a claim whose user was never
/// written counts as taken until it is stale and taken over).
pub async fn available(app: &App, facility: Uuid, username: &Username) -> Result<bool, Error> {
    require_facility(app, facility).await?;
    let identifier = Identifier::Username {
        facility,
        username: username.clone(),
    };
    let claim = app
        .store
        .load::<IdentifierClaim>(&identifier.claim_id(app))
        .await?;
    let Some(owner) = claim.state.owner() else {
        return Ok(true);
    };
    // An owner whose stream was never written is a registration in
    // flight (taken); a deleted or renamed owner gave the name up.
    let owner = app.store.load::<User>(&owner.to_string()).await?.state;
    Ok(owner.is_registered() && !identifier.held_by(&owner))
}

/// 404 unless `facility` is a facility.
async fn require_facility(app: &App, facility: Uuid) -> Result<(), Error> {
    let loaded = app
        .store
        .load::<Organization>(&facility.to_string())
        .await?;
    if loaded.state.kind() == Some(OrganizationKind::Facility) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// A taken identifier, said about the username (the shared mapping names
/// the email).
fn username_taken(error: Error) -> Error {
    match error {
        Error::Invalid {
            code: "ALREADY_EXISTS",
            ..
        } => Error::invalid_field(
            "username",
            "USERNAME_ALREADY_EXISTS",
            "An account with that username already exists",
        ),
        other => other,
    }
}
