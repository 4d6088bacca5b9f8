//! Places in Kolibri-style collections: roles held for a facility or a
//! classroom, memberships of classrooms and learner groups, and the
//! superuser (the global administrator, also an admin of their facility).
//! A collection is checked to be of the user's own facility first.

use aggregates::{Organization, OrganizationKind, RoleKind, User, UserCommand};
use uuid::Uuid;

use super::RequestContext;
use crate::{App, Error};

/// The kind of a collection and the facility it belongs to (itself for a
/// facility, the parent of a classroom, the grandparent of a learner
/// group); `None` for anything else.
async fn placed(app: &App, collection: Uuid) -> Result<Option<(OrganizationKind, Uuid)>, Error> {
    let parent_of = |id: Uuid| async move {
        Ok::<_, Error>(
            app.store
                .load::<Organization>(&id.to_string())
                .await?
                .state
                .parent(),
        )
    };
    let Some(kind) = super::facilities::collection_kind(app, collection).await? else {
        return Ok(None);
    };
    let facility = match kind {
        OrganizationKind::Facility => Some(collection),
        OrganizationKind::Classroom => parent_of(collection).await?,
        OrganizationKind::LearnerGroup => match parent_of(collection).await? {
            Some(classroom) => parent_of(classroom).await?,
            None => None,
        },
        _ => None,
    };
    Ok(facility.map(|facility| (kind, facility)))
}

/// Runs `command` on a facility user after `fits` accepted the collection
/// it is about (its kind and facility, given the user's facility).
async fn in_own_facility(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    fits: impl FnOnce(OrganizationKind) -> bool,
    refusal: &'static str,
    command: UserCommand,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let facility = user.state.facility().ok_or(Error::NotFound)?;
    let fitting = placed(app, collection)
        .await?
        .is_some_and(|(kind, owner)| owner == facility && fits(kind));
    if !fitting {
        return Err(Error::invalid_field("collection", "INVALID", refusal));
    }
    let committed = app
        .store
        .execute_on::<User>(&user_id.to_string(), user, command, &ctx.metadata())
        .await?;
    app.settle(committed.written.as_ref()).await
}

/// Gives `user` a role for a collection of their facility: `admin` and
/// `classroom assignable coach` for the facility itself, `coach` for the
/// facility or one of its classrooms.
pub async fn assign_role(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    kind: RoleKind,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let command = UserCommand::AssignCollectionRole {
        role_id: Uuid::now_v7(),
        collection,
        kind,
    };
    let fits = |target| match target {
        OrganizationKind::Facility => true,
        OrganizationKind::Classroom => kind == RoleKind::Coach,
        _ => false,
    };
    let refusal = "admin and classroom assignable coach roles are for the user's facility; coach for it or one of its classrooms";
    in_own_facility(app, user_id, collection, fits, refusal, command, ctx).await
}

/// Makes `user` a member of a classroom or learner group of their facility.
pub async fn enroll(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let fits = |target| {
        matches!(
            target,
            OrganizationKind::Classroom | OrganizationKind::LearnerGroup
        )
    };
    let refusal = "members join a classroom or learner group of their own facility";
    let command = UserCommand::JoinCollection { collection };
    in_own_facility(app, user_id, collection, fits, refusal, command, ctx).await
}

/// Makes `user` a superuser (the global administrator role) and, as
/// Kolibri's `create_superuser` does, an admin of their facility.
pub async fn make_superuser(app: &App, user_id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    let committed = app
        .store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::GrantRole {
                role: aggregates::SUPERUSER_ROLE.to_string(),
            },
            &ctx.metadata(),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    if let Some(facility) = committed.state.facility() {
        assign_role(app, user_id, facility, RoleKind::Admin, ctx).await?;
    }
    Ok(())
}
