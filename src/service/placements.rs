//! Roles held for collections and memberships of classrooms and learner
//! groups, as a signed-in actor lists, gives and takes them away. Everyone
//! reads their own; the rest as [`crate::access`] lets the actor read the
//! collection. Giving and taking away need the collection's management
//! (roles: `AssignRoles`; classroom members: `ManageClassrooms`; learner
//! group members: `ManageGroups`).

use std::collections::HashMap;

use aggregates::{OrganizationKind, RoleKind};
use projections::collections::{self as read, HeldRoleRow, MembershipRow};
use uuid::Uuid;

use super::collections::{self, place, Place};
use super::RequestContext;
use crate::access::{self, Action, Actor};
use crate::{App, Error};

/// What a list of roles or memberships asks for.
#[derive(Debug, Clone, Default)]
pub struct PlacementQuery {
    /// Of this user.
    pub user: Option<Uuid>,
    /// For this collection.
    pub collection: Option<Uuid>,
    /// Of this kind (roles).
    pub kind: Option<RoleKind>,
    /// Of one of these users.
    pub user_ids: Option<Vec<Uuid>>,
    /// With one of these ids.
    pub by_ids: Option<Vec<Uuid>>,
}

impl PlacementQuery {
    /// Whether it narrows anything (a bulk delete needs it to).
    pub fn narrows(&self) -> bool {
        self.user.is_some()
            || self.collection.is_some()
            || self.kind.is_some()
            || self.user_ids.is_some()
            || self.by_ids.is_some()
    }

    fn keeps(&self, user: Uuid, id: Uuid) -> bool {
        self.user_ids.as_ref().is_none_or(|ids| ids.contains(&user))
            && self.by_ids.as_ref().is_none_or(|ids| ids.contains(&id))
    }
}

/// The places of collections, each looked up once per request.
#[derive(Default)]
struct Places(HashMap<Uuid, Option<Place>>);

impl Places {
    async fn of(&mut self, app: &App, id: Uuid) -> Result<Option<Place>, Error> {
        if let Some(place) = self.0.get(&id) {
            return Ok(*place);
        }
        let found = place(app, id).await?;
        self.0.insert(id, found);
        Ok(found)
    }
}

/// Whether `actor` sees a placement of `user` in the collection at
/// `place`: their own, or one in a collection they may read.
fn visible(actor: &Actor, user: Uuid, place: Option<&Place>) -> bool {
    user == actor.user_id
        || place.is_some_and(|p| {
            access::authorize(actor, Action::ReadCollection, &p.resource()).is_ok()
        })
}

/// A role's kind as stored.
fn stored_kind(kind: RoleKind) -> &'static str {
    access::role_name(kind)
}

/// The roles `actor` sees, narrowed by `query` (nothing for anonymous
/// callers).
pub async fn roles(
    app: &App,
    actor: Option<&Actor>,
    query: &PlacementQuery,
) -> Result<Vec<HeldRoleRow>, Error> {
    let Some(actor) = actor else {
        return Ok(Vec::new());
    };
    let mut places = Places::default();
    let mut shown = Vec::new();
    for row in matching_roles(app, query).await? {
        let place = places.of(app, row.collection_id).await?;
        if visible(actor, row.user_id, place.as_ref()) {
            shown.push(row);
        }
    }
    Ok(shown)
}

/// Every role `query` matches, whoever asks (what a bulk delete takes
/// away, each then checked).
pub async fn matching_roles(app: &App, query: &PlacementQuery) -> Result<Vec<HeldRoleRow>, Error> {
    let rows = read::roles(
        app.read_models().await,
        query.user,
        query.collection,
        query.kind.map(stored_kind),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter(|row| query.keeps(row.user_id, row.role_id))
        .collect())
}

/// The role with this id, whoever asks; 404 for none.
pub async fn find_role(app: &App, id: Uuid) -> Result<HeldRoleRow, Error> {
    read::role(app.read_models().await, id)
        .await?
        .ok_or(Error::NotFound)
}

/// One role `actor` sees; 404 otherwise.
pub async fn role(app: &App, actor: Option<&Actor>, id: Uuid) -> Result<HeldRoleRow, Error> {
    let query = PlacementQuery {
        by_ids: Some(vec![id]),
        ..Default::default()
    };
    roles(app, actor, &query)
        .await?
        .pop()
        .ok_or(Error::NotFound)
}

/// A role or membership asked for: who, and where.
#[derive(Debug, Clone, Copy)]
pub struct Placing {
    /// The user.
    pub user: Uuid,
    /// The collection.
    pub collection: Uuid,
    /// The role's kind (roles).
    pub kind: Option<RoleKind>,
}

/// The user's facility, and the place of the collection, both existing:
/// `DOES_NOT_EXIST` on the field that names nothing.
async fn resolve(app: &App, placing: &Placing) -> Result<(Uuid, Place), Error> {
    let user = projections::facility_users::find(app.read_models().await, placing.user)
        .await?
        .ok_or_else(|| Error::invalid_field("user", "DOES_NOT_EXIST", "object does not exist"))?;
    let place = place(app, placing.collection).await?.ok_or_else(|| {
        Error::invalid_field("collection", "DOES_NOT_EXIST", "object does not exist")
    })?;
    Ok((user.facility_id, place))
}

/// Every item resolved (400 for one naming nothing, before anything else),
/// then every one permitted: the actor signed in, user and collection of
/// one facility, `action` of the place allowed (403 otherwise).
async fn permitted<'a, 'i>(
    app: &App,
    actor: Option<&'a Actor>,
    items: &'i [Placing],
    action: impl Fn(&Place) -> Action,
) -> Result<(&'a Actor, Vec<(&'i Placing, (Uuid, Place))>), Error> {
    let mut resolved = Vec::with_capacity(items.len());
    for item in items {
        resolved.push((item, resolve(app, item).await?));
    }
    let actor = actor.ok_or(Error::Unauthenticated)?;
    for (_, (facility, place)) in &resolved {
        if *facility != place.facility {
            return Err(Error::Forbidden);
        }
        access::authorize(actor, action(place), &place.resource())?;
    }
    Ok((actor, resolved))
}

/// Whether a role of `kind` may be held for a collection of `kind`
/// (Kolibri's `validate_role`).
fn role_fits(kind: RoleKind, place: &Place) -> bool {
    match place.kind {
        OrganizationKind::Facility => true,
        OrganizationKind::Classroom => kind == RoleKind::Coach,
        _ => false,
    }
}

/// Gives roles as `actor` (Kolibri: one object, or a list): the roles
/// (with their holders) held afterwards — for a list only those that are new. Every item is
/// checked before any is given: the users and collections must exist
/// (400), the actor must manage roles for each collection, in the user's
/// own facility (403), the kind must fit the collection (400
/// `INVALID_ROLE_KIND`). A classroom coach without a role for the
/// facility also becomes its assignable coach (not in the answer), as in
/// Kolibri.
pub async fn give_roles(
    app: &App,
    actor: Option<&Actor>,
    items: Result<Vec<Placing>, Error>,
    only_new: bool,
    ctx: &RequestContext,
) -> Result<Vec<(Uuid, aggregates::CollectionRole)>, Error> {
    let items = items?;
    let (actor, resolved) = permitted(app, actor, &items, |_| Action::AssignRoles).await?;
    for (item, (_, place)) in &resolved {
        let kind = item.kind.ok_or(Error::NotFound)?;
        if !role_fits(kind, place) {
            return Err(Error::invalid("INVALID_ROLE_KIND", "Invalid role kind"));
        }
    }
    let metadata = ctx.metadata().acting_as(actor.user_id);
    let mut given = Vec::new();
    for (item, (facility, place)) in resolved {
        let kind = item.kind.ok_or(Error::NotFound)?;
        let before = read::roles(
            app.read_models().await,
            Some(item.user),
            Some(item.collection),
            Some(stored_kind(kind)),
        )
        .await?;
        let role = collections::give_role(app, item.user, item.collection, kind, &metadata).await?;
        if place.kind == OrganizationKind::Classroom {
            let facility_roles = read::roles(
                app.read_models().await,
                Some(item.user),
                Some(facility),
                None,
            )
            .await?;
            if facility_roles.is_empty() {
                collections::give_role(
                    app,
                    item.user,
                    facility,
                    RoleKind::AssignableCoach,
                    &metadata,
                )
                .await?;
            }
        }
        if !only_new || before.is_empty() {
            given.push((item.user, role));
        }
    }
    Ok(given)
}

/// Takes away roles as `actor`: every one must be theirs to manage (403,
/// nothing taken otherwise). Taking away a facility's assignable-coach
/// role also takes away the user's classroom coach roles in it (Kolibri).
pub async fn take_roles(
    app: &App,
    actor: Option<&Actor>,
    roles: &[HeldRoleRow],
    ctx: &RequestContext,
) -> Result<(), Error> {
    let actor = actor.ok_or(Error::Unauthenticated)?;
    let mut places = Places::default();
    for role in roles {
        let place = places
            .of(app, role.collection_id)
            .await?
            .ok_or(Error::NotFound)?;
        access::authorize(actor, Action::AssignRoles, &place.resource())?;
    }
    let metadata = ctx.metadata().acting_as(actor.user_id);
    for role in roles {
        let kind = aggregates::RoleKind::parse(&role.kind).ok_or(Error::NotFound)?;
        collections::take_role(app, role.user_id, role.collection_id, kind, &metadata).await?;
        if kind == RoleKind::AssignableCoach {
            for coached in read::roles(
                app.read_models().await,
                Some(role.user_id),
                None,
                Some("coach"),
            )
            .await?
            {
                let place = places.of(app, coached.collection_id).await?;
                if place.is_some_and(|p| {
                    p.kind == OrganizationKind::Classroom && p.facility == role.collection_id
                }) {
                    collections::take_role(
                        app,
                        role.user_id,
                        coached.collection_id,
                        RoleKind::Coach,
                        &metadata,
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

/// The memberships `actor` sees, narrowed by `query` (nothing for
/// anonymous callers).
pub async fn memberships(
    app: &App,
    actor: Option<&Actor>,
    query: &PlacementQuery,
) -> Result<Vec<MembershipRow>, Error> {
    let Some(actor) = actor else {
        return Ok(Vec::new());
    };
    let mut places = Places::default();
    let mut shown = Vec::new();
    for row in matching_memberships(app, query).await? {
        let place = places.of(app, row.organization_id).await?;
        if visible(actor, row.user_id, place.as_ref()) {
            shown.push(row);
        }
    }
    Ok(shown)
}

/// Every membership `query` matches, whoever asks (what a bulk delete
/// ends, each then checked).
pub async fn matching_memberships(
    app: &App,
    query: &PlacementQuery,
) -> Result<Vec<MembershipRow>, Error> {
    let rows = read::memberships(app.read_models().await, query.user, query.collection).await?;
    Ok(rows
        .into_iter()
        .filter(|row| query.keeps(row.user_id, row.membership_id))
        .collect())
}

/// The membership with this id, whoever asks; 404 for none.
pub async fn find_membership(app: &App, id: Uuid) -> Result<MembershipRow, Error> {
    read::membership(app.read_models().await, id)
        .await?
        .ok_or(Error::NotFound)
}

/// One membership `actor` sees; 404 otherwise.
pub async fn membership(
    app: &App,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<MembershipRow, Error> {
    let row = read::membership(app.read_models().await, id)
        .await?
        .ok_or(Error::NotFound)?;
    let actor = actor.ok_or(Error::NotFound)?;
    let place = place(app, row.organization_id).await?;
    if visible(actor, row.user_id, place.as_ref()) {
        Ok(row)
    } else {
        Err(Error::NotFound)
    }
}

/// The action placing members in a collection needs.
fn placing_members(place: &Place) -> Action {
    match place.kind {
        OrganizationKind::LearnerGroup => Action::ManageGroups,
        _ => Action::ManageClassrooms,
    }
}

/// Why a membership cannot be: a facility (everyone is in theirs), or a
/// learner group of a classroom the user is not in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// The collection is a facility.
    Facility,
    /// Not in the group's classroom.
    NotInClassroom,
}

/// Places users in classrooms and learner groups as `actor` (Kolibri: one
/// object, or a list): the memberships afterwards — for a list only the
/// new ones. Every item is checked before any is placed: users and
/// collections must exist (400), the actor must manage each collection's
/// members, in the user's facility (403), and the membership must fit
/// (the surface renders [`Unfit`] as Kolibri does for one or a list).
pub async fn join(
    app: &App,
    actor: Option<&Actor>,
    items: Result<Vec<Placing>, Error>,
    only_new: bool,
    ctx: &RequestContext,
) -> Result<Result<Vec<Uuid>, Unfit>, Error> {
    let items = items?;
    let (actor, resolved) = permitted(app, actor, &items, placing_members).await?;
    for (item, (_, place)) in &resolved {
        match place.kind {
            OrganizationKind::Classroom => {}
            OrganizationKind::LearnerGroup => {
                let classroom = place.classroom.unwrap_or_default();
                // Only memberships that exist count, not those asked for in
                // the same list (Kolibri checks before creating any).
                let in_classroom =
                    read::memberships(app.read_models().await, Some(item.user), Some(classroom))
                        .await?;
                if in_classroom.is_empty() {
                    return Ok(Err(Unfit::NotInClassroom));
                }
            }
            _ => return Ok(Err(Unfit::Facility)),
        }
    }
    let metadata = ctx.metadata().acting_as(actor.user_id);
    let mut joined = Vec::new();
    for (item, _) in resolved {
        let before = read::memberships(
            app.read_models().await,
            Some(item.user),
            Some(item.collection),
        )
        .await?;
        collections::join(app, item.user, item.collection, &metadata).await?;
        if !only_new || before.is_empty() {
            joined.push(aggregates::membership_id(item.collection, item.user));
        }
    }
    Ok(Ok(joined))
}

/// Takes users out of collections as `actor`: every membership must be
/// theirs to manage (403, nothing changed otherwise). Leaving a classroom
/// also leaves its learner groups (Kolibri).
pub async fn leave(
    app: &App,
    actor: Option<&Actor>,
    memberships: &[MembershipRow],
    ctx: &RequestContext,
) -> Result<(), Error> {
    let actor = actor.ok_or(Error::Unauthenticated)?;
    let mut places = Places::default();
    for membership in memberships {
        let place = places
            .of(app, membership.organization_id)
            .await?
            .ok_or(Error::NotFound)?;
        access::authorize(actor, placing_members(&place), &place.resource())?;
    }
    let metadata = ctx.metadata().acting_as(actor.user_id);
    for membership in memberships {
        let place = places.of(app, membership.organization_id).await?;
        if place.is_some_and(|p| p.kind == OrganizationKind::Classroom) {
            for other in
                read::memberships(app.read_models().await, Some(membership.user_id), None).await?
            {
                let in_classroom = places
                    .of(app, other.organization_id)
                    .await?
                    .is_some_and(|p| {
                        p.kind == OrganizationKind::LearnerGroup
                            && p.classroom == Some(membership.organization_id)
                    });
                if in_classroom {
                    collections::leave(app, other.user_id, other.organization_id, &metadata)
                        .await?;
                }
            }
        }
        collections::leave(
            app,
            membership.user_id,
            membership.organization_id,
            &metadata,
        )
        .await?;
    }
    Ok(())
}
