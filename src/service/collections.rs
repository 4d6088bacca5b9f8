//! Places in Kolibri-style collections: roles held for a facility or a
//! classroom, memberships of classrooms and learner groups, and the
//! superuser (the global administrator, also an admin of their facility).
//! A collection is checked to be of the user's own facility first.

use aggregates::{CollectionRole, Organization, OrganizationKind, RoleKind, User, UserCommand};
use uuid::Uuid;

use super::RequestContext;
use crate::access::Resource;
use crate::store::Metadata;
use crate::{App, Error};

/// Where a collection is: what it is, the facility it is (in), and the
/// classroom it is (in) — itself for a classroom, the parent of a learner
/// group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The collection.
    pub id: Uuid,
    /// What it is.
    pub kind: OrganizationKind,
    /// The facility it is or is in.
    pub facility: Uuid,
    /// The classroom it is or is in.
    pub classroom: Option<Uuid>,
}

impl Place {
    /// The resource the authorization rules see.
    pub fn resource(&self) -> Resource {
        Resource::Collection {
            facility: self.facility,
            classroom: self.classroom,
        }
    }
}

/// Where a collection of a facility is, from the log (a deleted one is
/// nowhere); `None` for anything else.
pub async fn place(app: &App, id: Uuid) -> Result<Option<Place>, Error> {
    let load = |id: Uuid| async move {
        Ok::<_, Error>(app.store.load::<Organization>(&id.to_string()).await?.state)
    };
    let collection = load(id).await?;
    let place = |kind, facility, classroom| {
        Some(Place {
            id,
            kind,
            facility,
            classroom,
        })
    };
    Ok(match (collection.kind(), collection.parent()) {
        (Some(OrganizationKind::Facility), _) => place(OrganizationKind::Facility, id, None),
        (Some(OrganizationKind::Classroom), Some(facility)) => {
            place(OrganizationKind::Classroom, facility, Some(id))
        }
        (Some(OrganizationKind::LearnerGroup), Some(classroom)) => {
            match load(classroom).await?.parent() {
                Some(facility) => place(OrganizationKind::LearnerGroup, facility, Some(classroom)),
                None => None,
            }
        }
        _ => None,
    })
}

/// Runs `command` on a facility user after `fits` accepted the collection
/// it is about (its kind and facility, given the user's facility); the
/// user's state afterwards.
async fn in_own_facility(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    fits: impl FnOnce(OrganizationKind) -> bool,
    refusal: &'static str,
    command: UserCommand,
    metadata: &Metadata,
) -> Result<User, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let facility = user.state.facility().ok_or(Error::NotFound)?;
    let fitting = place(app, collection)
        .await?
        .is_some_and(|place| place.facility == facility && fits(place.kind));
    if !fitting {
        return Err(Error::invalid_field("collection", "INVALID", refusal));
    }
    let committed = app
        .store
        .execute_on::<User>(&user_id.to_string(), user, command, metadata)
        .await?;
    Ok(committed.state)
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
    give_role(app, user_id, collection, kind, &ctx.metadata())
        .await
        .map(drop)
}

/// [`assign_role`] recorded with `metadata`: the role held afterwards (the
/// one held already, if any).
pub async fn give_role(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    kind: RoleKind,
    metadata: &Metadata,
) -> Result<CollectionRole, Error> {
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
    let user = in_own_facility(app, user_id, collection, fits, refusal, command, metadata).await?;
    user.collection_roles()
        .iter()
        .find(|role| role.collection == collection && role.kind == kind)
        .copied()
        .ok_or(Error::NotFound)
}

/// Takes a role away (nothing happens when it is not held).
pub async fn take_role(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    kind: RoleKind,
    metadata: &Metadata,
) -> Result<(), Error> {
    app.store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::RemoveCollectionRole { collection, kind },
            metadata,
        )
        .await?;
    Ok(())
}

/// Makes `user` a member of a classroom or learner group of their facility.
pub async fn enroll(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    join(app, user_id, collection, &ctx.metadata()).await
}

/// [`enroll`] recorded with `metadata`.
pub async fn join(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    metadata: &Metadata,
) -> Result<(), Error> {
    let fits = |target| {
        matches!(
            target,
            OrganizationKind::Classroom | OrganizationKind::LearnerGroup
        )
    };
    let refusal = "members join a classroom or learner group of their own facility";
    let command = UserCommand::JoinCollection { collection };
    in_own_facility(app, user_id, collection, fits, refusal, command, metadata)
        .await
        .map(drop)
}

/// Takes `user` out of a collection (nothing happens when not in it).
pub async fn leave(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    metadata: &Metadata,
) -> Result<(), Error> {
    app.store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::LeaveCollection { collection },
            metadata,
        )
        .await?;
    Ok(())
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
    if let Some(facility) = committed.state.facility() {
        assign_role(app, user_id, facility, RoleKind::Admin, ctx).await?;
    }
    Ok(())
}
