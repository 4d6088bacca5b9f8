//! The service's one-time setup: the first administrator of a fresh
//! installation registers without anyone's permission, once. "Once" is
//! the [`Installation`] aggregate's: concurrent setups race on its one
//! stream and all but one lose, on every instance.
//!
//! Order: the read models are asked first (a setup where users exist is
//! refused without writing anything), then the installation is claimed for
//! the administrator's pre-generated id, then that user is registered with
//! the administrator role, then signed in. A crash between claim and
//! registration leaves a claim whose administrator does not exist: a later
//! setup takes it over once it is stale.

use aggregates::{Installation, InstallationCommand, User, INSTALLATION_ID};
use uuid::Uuid;

use super::accounts::{self, Registration};
use super::sessions::Verified;
use super::{RequestContext, UserView};
use crate::access::ADMINISTRATOR;
use crate::input::{Email, Password, PersonName};
use crate::{App, Error};

/// What the setup asks for (checked by the surface).
#[derive(Debug)]
pub struct Setup {
    /// The administrator's email.
    pub email: Email,
    /// Their password.
    pub password: Password,
    /// Given name.
    pub first_name: PersonName,
    /// Family name.
    pub last_name: PersonName,
}

/// Whether the installation still needs its setup: nobody claimed it (or
/// its claim's administrator never came into being) and no user exists.
pub async fn needs_setup(app: &App) -> Result<bool, Error> {
    let installation = app.store.load::<Installation>(INSTALLATION_ID).await?.state;
    if let Some(admin) = installation.admin() {
        if admin_exists(app, admin).await? {
            return Ok(false);
        }
    }
    Ok(!projections::users::any_exist(app.read_models().await).await?)
}

async fn admin_exists(app: &App, admin: Uuid) -> Result<bool, Error> {
    Ok(app
        .store
        .load::<User>(&admin.to_string())
        .await?
        .state
        .is_registered())
}

/// Sets the installation up: its first administrator, registered, and
/// their credentials as just checked (the caller signs them in); 403
/// (`Error::Forbidden`) when it was set up already or users exist,
/// whoever asks and however many ask at once.
pub async fn setup(
    app: &App,
    input: Result<Setup, Error>,
    ctx: &RequestContext,
) -> Result<(UserView, Verified), Error> {
    let input = input?;
    if !needs_setup(app).await? {
        return Err(Error::Forbidden);
    }
    let admin = Uuid::now_v7();
    let earlier = app.store.load::<Installation>(INSTALLATION_ID).await?;
    let earlier_admin_exists = match earlier.state.admin() {
        Some(earlier) => admin_exists(app, earlier).await?,
        None => false,
    };
    let claim = InstallationCommand::ClaimSetup {
        admin,
        earlier_admin_exists,
        stale_after: chrono::Duration::seconds(app.config.claim_stale_after as i64),
    };
    app.store
        .execute_on::<Installation>(INSTALLATION_ID, earlier, claim, &ctx.metadata())
        .await
        .map_err(|error| match error {
            // Another setup won the race (here or on another instance).
            Error::Conflict
            | Error::Invalid {
                code: "ALREADY_EXISTS",
                ..
            } => Error::Forbidden,
            other => other,
        })?;
    let registration = Registration {
        email: input.email,
        password: input.password,
        first_name: input.first_name,
        last_name: input.last_name,
        roles: vec![ADMINISTRATOR.to_string()],
    };
    let auth_time = chrono::Utc::now();
    let view = accounts::register_as(app, admin, registration, ctx).await?;
    let user = app.store.load::<User>(&admin.to_string()).await?;
    Ok((
        view,
        Verified {
            user,
            user_id: admin,
            auth_time,
        },
    ))
}
