//! Users administered through policy roles (Open Archiver's user
//! management): listing and reading them is `read users`; creating them,
//! renaming them and giving them a role is `manage all` — what the
//! policies of the actor's roles allow ([`crate::access::Action::Policy`]).

use aggregates::{Personal, ProfileChanges, User, UserCommand};
use uuid::Uuid;

use super::accounts::{self, Registration};
use super::policy_roles::{self, RoleView};
use super::{users, RequestContext, UserView};
use crate::access::{self, Action, Actor, Resource};
use crate::input::{Email, Password, PersonName};
use crate::{App, Error};

/// Users per read of the read model when listing everyone.
const PAGE: i64 = 1000;

fn may_read(actor: &Actor, user: Option<Uuid>) -> Result<(), Error> {
    let resource = match user {
        Some(id) => Resource::User { id, facility: None },
        None => Resource::Service,
    };
    access::authorize(actor, Action::Policy("read", "users"), &resource)
}

fn may_manage(actor: &Actor) -> Result<(), Error> {
    access::authorize(actor, Action::Policy("manage", "all"), &Resource::Service)
}

/// Every user, oldest first.
pub async fn list(app: &App, actor: &Actor) -> Result<Vec<UserView>, Error> {
    may_read(actor, None)?;
    let sort = projections::users::Sort {
        column: "created_at",
        descending: false,
    };
    let mut every = Vec::new();
    loop {
        let offset = every.len() as i64;
        let (rows, _) =
            projections::users::list(app.read_models().await, None, sort, PAGE, offset).await?;
        let last = (rows.len() as i64) < PAGE;
        every.extend(rows.into_iter().map(UserView::from));
        if last {
            return Ok(every);
        }
    }
}

/// One user (`NotFound` for none).
pub async fn get(app: &App, actor: &Actor, id: Uuid) -> Result<UserView, Error> {
    may_read(actor, Some(id))?;
    users::find(app, id).await
}

/// A new user, as an administrator enters them.
#[derive(Debug)]
pub struct NewUser {
    /// Email.
    pub email: Email,
    /// Initial password.
    pub password: Password,
    /// Given name.
    pub first_name: PersonName,
    /// Family name.
    pub last_name: PersonName,
}

/// Creates a user holding `role` (if any): 403 unless the actor manages
/// everything (asked before the input is looked at); 400 for a role that
/// does not exist — before anything is written.
pub async fn create(
    app: &App,
    actor: &Actor,
    input: Result<(NewUser, Option<Uuid>), Error>,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    may_manage(actor)?;
    let (input, role) = input?;
    let role = match role {
        Some(id) => Some(policy_roles::to_give(app, id).await?),
        None => None,
    };
    let registration = Registration {
        email: input.email,
        password: input.password,
        first_name: input.first_name,
        last_name: input.last_name,
        roles: policy_roles::initial_grants(role.as_ref()),
    };
    accounts::register(app, registration, &ctx.acting_as(actor.user_id)).await
}

/// What an administrator changes of a user.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// New given name.
    pub first_name: Option<PersonName>,
    /// New family name.
    pub last_name: Option<PersonName>,
    /// The one policy role they are to hold.
    pub role: Option<Uuid>,
}

/// Changes a user's names and role: 403 unless the actor manages
/// everything; 404 for no such user; 400 for what `changes` (read against
/// the user as they are) refuses, or a role that does not exist — each
/// before anything is written.
pub async fn update(
    app: &App,
    actor: &Actor,
    id: Uuid,
    changes: impl FnOnce(&UserView) -> Result<UserChanges, Error>,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    may_manage(actor)?;
    let user = users::find(app, id).await?;
    let changes = changes(&user)?;
    let role: Option<RoleView> = match changes.role {
        Some(role) => Some(policy_roles::to_give(app, role).await?),
        None => None,
    };
    rename(app, actor.user_id, id, &changes, ctx).await?;
    if let Some(role) = role {
        policy_roles::give(app, actor, &user, &role, ctx).await?;
    }
    users::find(app, id).await
}

/// Changes the names of the signed-in user `id` (their role stays).
pub async fn rename_self(
    app: &App,
    id: Uuid,
    changes: UserChanges,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    rename(app, id, id, &changes, ctx).await?;
    users::find(app, id).await
}

/// Writes a name change of `id` by `by` (nothing when there is none).
async fn rename(
    app: &App,
    by: Uuid,
    id: Uuid,
    changes: &UserChanges,
    ctx: &RequestContext,
) -> Result<(), Error> {
    if changes.first_name.is_none() && changes.last_name.is_none() {
        return Ok(());
    }
    let personal =
        |name: &Option<PersonName>| name.as_ref().map(|n| Personal::new(n.as_str().to_string()));
    let profile = ProfileChanges {
        first_name: personal(&changes.first_name),
        last_name: personal(&changes.last_name),
        ..ProfileChanges::default()
    };
    app.store
        .execute::<User>(
            &id.to_string(),
            UserCommand::UpdateProfile {
                changes: Box::new(profile),
            },
            &ctx.metadata().acting_as(by),
        )
        .await?;
    Ok(())
}

/// Deletes a user — for good, as Open Archiver removes the row: erasure
/// (their personal data in the log unreadable, every session over, their
/// email free again): 403 unless the actor manages everything; 404 for no
/// such user; 400 for the only user there is (as Open Archiver refuses it).
pub async fn delete(app: &App, actor: &Actor, id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    may_manage(actor)?;
    users::find(app, id).await?;
    let sort = projections::users::Sort {
        column: "created_at",
        descending: false,
    };
    let (_, total) = projections::users::list(app.read_models().await, None, sort, 1, 0).await?;
    if total <= 1 {
        return Err(Error::invalid(
            "ONLY_USER",
            "You are trying to delete the only user in the database, this is not allowed.",
        ));
    }
    let metadata = ctx.acting_as(actor.user_id).metadata();
    super::erasure::erase_authorized(app, id, &metadata).await?;
    Ok(())
}
