//! Classrooms and learner groups as a signed-in actor sees and changes
//! them: lists of what they may read, creating, renaming and deleting.
//! Every permission is asked of [`crate::access`] about the collection's
//! [`Place`]; anonymous callers read nothing.

use aggregates::{Organization, OrganizationCommand, OrganizationKind};
use projections::collections::{self as read, CollectionRow, HeldRoleRow, HolderRow};
use uuid::Uuid;

use super::collections::{place, Place};
use super::RequestContext;
use crate::access::{self, Action, Actor};
use crate::{App, Error};

/// The longest name Kolibri keeps.
const MAX_NAME: usize = 100;

/// A coach of a classroom, with the role they hold for its facility.
#[derive(Debug, Clone)]
pub struct Coach {
    /// The coach.
    pub holder: HolderRow,
    /// Their role for the classroom's facility, if any.
    pub facility_role: Option<HeldRoleRow>,
}

/// A classroom or learner group as a list shows it.
#[derive(Debug, Clone)]
pub struct CollectionView {
    /// The collection with its live members counted.
    pub row: CollectionRow,
    /// Its coaches (classrooms).
    pub coaches: Vec<Coach>,
    /// Its live members (learner groups).
    pub members: Vec<Uuid>,
}

/// The stored name of a kind.
fn stored(kind: OrganizationKind) -> &'static str {
    kind.as_str()
}

/// Whether `actor` may read a collection at `place`.
fn readable(actor: &Actor, place: &Place) -> bool {
    access::authorize(actor, Action::ReadCollection, &place.resource()).is_ok()
}

/// The place of a listed row.
fn place_of(
    row: &CollectionRow,
    kind: OrganizationKind,
    facility_of: impl Fn(Uuid) -> Option<Uuid>,
) -> Option<Place> {
    let parent = row.parent_id?;
    match kind {
        OrganizationKind::Classroom => Some(Place {
            id: row.organization_id,
            kind,
            facility: parent,
            classroom: Some(row.organization_id),
        }),
        OrganizationKind::LearnerGroup => Some(Place {
            id: row.organization_id,
            kind,
            facility: facility_of(parent)?,
            classroom: Some(parent),
        }),
        _ => None,
    }
}

/// The classrooms (or learner groups) `actor` may read, under `parent`
/// when given, by id; nothing for anonymous callers.
pub async fn list(
    app: &App,
    actor: Option<&Actor>,
    kind: OrganizationKind,
    parent: Option<Uuid>,
) -> Result<Vec<CollectionView>, Error> {
    let Some(actor) = actor else {
        return Ok(Vec::new());
    };
    let rows = read::of_kind(app.read_models().await, stored(kind), parent).await?;
    // A learner group's facility is its classroom's parent.
    let classrooms = if kind == OrganizationKind::LearnerGroup {
        read::of_kind(
            app.read_models().await,
            stored(OrganizationKind::Classroom),
            None,
        )
        .await?
    } else {
        Vec::new()
    };
    let facility_of = |classroom: Uuid| {
        classrooms
            .iter()
            .find(|c| c.organization_id == classroom)
            .and_then(|c| c.parent_id)
    };
    let visible: Vec<CollectionRow> = rows
        .into_iter()
        .filter(|row| place_of(row, kind, facility_of).is_some_and(|p| readable(actor, &p)))
        .collect();
    views(app, visible).await
}

/// One classroom or learner group `actor` may read; 404 otherwise (what
/// one may not read does not exist, as Kolibri answers).
pub async fn get(
    app: &App,
    actor: Option<&Actor>,
    kind: OrganizationKind,
    id: Uuid,
) -> Result<CollectionView, Error> {
    let place = place(app, id).await?.filter(|p| p.kind == kind);
    let (Some(actor), Some(place)) = (actor, place) else {
        return Err(Error::NotFound);
    };
    if !readable(actor, &place) {
        return Err(Error::NotFound);
    }
    let row = read::one(app.read_models().await, id)
        .await?
        .ok_or(Error::NotFound)?;
    let mut views = views(app, vec![row]).await?;
    views.pop().ok_or(Error::NotFound)
}

/// Adds coaches and members to rows.
async fn views(app: &App, rows: Vec<CollectionRow>) -> Result<Vec<CollectionView>, Error> {
    let db = app.read_models().await;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.organization_id).collect();
    let holders = read::holders(db, &ids).await?;
    // The coaches' facility roles: one read per facility, not per coach.
    let mut facility_roles: std::collections::HashMap<Uuid, Vec<HeldRoleRow>> = Default::default();
    for row in &rows {
        let Some(facility) = row.parent_id else {
            continue;
        };
        if row.kind == stored(OrganizationKind::Classroom)
            && !facility_roles.contains_key(&facility)
        {
            let roles = read::roles(db, None, Some(facility), None).await?;
            facility_roles.insert(facility, roles);
        }
    }
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let mut coaches = Vec::new();
        let mut members = Vec::new();
        if row.kind == stored(OrganizationKind::Classroom) {
            for holder in holders
                .iter()
                .filter(|h| h.collection_id == row.organization_id)
            {
                // The last one, as Kolibri's dict keyed by user keeps it.
                let facility_role = row
                    .parent_id
                    .and_then(|facility| facility_roles.get(&facility))
                    .and_then(|roles| roles.iter().rev().find(|r| r.user_id == holder.user_id))
                    .cloned();
                coaches.push(Coach {
                    holder: holder.clone(),
                    facility_role,
                });
            }
        } else {
            members = read::memberships(db, None, Some(row.organization_id))
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect();
        }
        views.push(CollectionView {
            row,
            coaches,
            members,
        });
    }
    Ok(views)
}

/// A collection's name as given: required, not blank, at most 100
/// characters (Kolibri's).
pub fn checked_name(name: Option<&str>) -> Result<String, Error> {
    let name =
        name.ok_or_else(|| Error::invalid_field("name", "REQUIRED", "This field is required."))?;
    if name.trim().is_empty() {
        return Err(Error::invalid_field(
            "name",
            "BLANK",
            "This field may not be blank.",
        ));
    }
    if name.chars().count() > MAX_NAME {
        return Err(Error::invalid_field(
            "name",
            "MAX_LENGTH",
            "Ensure this field has no more than 100 characters.",
        ));
    }
    Ok(name.trim().to_string())
}

/// What a new collection asks for, read by the surface (its field errors
/// come first, as Kolibri's do).
#[derive(Debug, Clone)]
pub struct NewCollection {
    /// Name.
    pub name: String,
    /// Parent (a facility for a classroom, a classroom for a group).
    pub parent: Option<Uuid>,
}

/// The action managing collections of `kind` needs.
fn managing(kind: OrganizationKind) -> Action {
    match kind {
        OrganizationKind::LearnerGroup => Action::ManageGroups,
        _ => Action::ManageClassrooms,
    }
}

/// Creates a classroom (in a facility) or learner group (in a classroom)
/// as `actor`. Kolibri's order: field errors, then the parent must exist
/// (`DOES_NOT_EXIST`), then the permission (403, also without a parent),
/// then a sibling's name (`UNIQUE`), then the hierarchy
/// (`INVALID_HIERARCHY`).
pub async fn create(
    app: &App,
    actor: Option<&Actor>,
    kind: OrganizationKind,
    input: Result<NewCollection, Error>,
    ctx: &RequestContext,
) -> Result<CollectionView, Error> {
    let input = input?;
    let parent = match input.parent {
        Some(parent) => Some(place(app, parent).await?.ok_or_else(|| {
            Error::invalid_field("parent", "DOES_NOT_EXIST", "object does not exist")
        })?),
        None => None,
    };
    let actor = actor.ok_or(Error::Unauthenticated)?;
    let parent = parent.ok_or(Error::Forbidden)?;
    access::authorize(actor, managing(kind), &parent.resource())?;
    if read::name_taken(app.read_models().await, parent.id, &input.name, None).await? {
        return Err(unique());
    }
    if kind.parent_kind() != Some(parent.kind) {
        return Err(Error::invalid(
            "INVALID_HIERARCHY",
            "Invalid collection hierarchy",
        ));
    }
    let id = Uuid::now_v7();
    app.store
        .create::<Organization>(
            &id.to_string(),
            OrganizationCommand::Create {
                organization_id: id,
                kind,
                name: input.name,
                description: None,
                parent: Some(parent.id),
                settings: None,
            },
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    get(app, Some(actor), kind, id).await
}

fn unique() -> Error {
    Error::invalid("UNIQUE", "The fields parent, name must make a unique set.")
}

/// Renames a classroom or learner group as `actor` (404 when there is no
/// such collection, 403 when they may not manage it).
pub async fn rename(
    app: &App,
    actor: Option<&Actor>,
    kind: OrganizationKind,
    id: Uuid,
    name: Result<Option<String>, Error>,
    ctx: &RequestContext,
) -> Result<CollectionView, Error> {
    let (actor, place) = managed(app, actor, kind, id).await?;
    if let Some(name) = name? {
        let parent = place.parent();
        if read::name_taken(app.read_models().await, parent, &name, Some(id)).await? {
            return Err(unique());
        }
        app.store
            .execute::<Organization>(
                &id.to_string(),
                OrganizationCommand::Rename { name },
                &ctx.metadata().acting_as(actor.user_id),
            )
            .await?;
    }
    get(app, Some(actor), kind, id).await
}

/// Deletes a classroom (its learner groups first) or a learner group as
/// `actor`; its memberships and the roles held for it go with it.
pub async fn delete(
    app: &App,
    actor: Option<&Actor>,
    kind: OrganizationKind,
    id: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let (actor, _) = managed(app, actor, kind, id).await?;
    let metadata = ctx.metadata().acting_as(actor.user_id);
    let mut doomed = Vec::new();
    if kind == OrganizationKind::Classroom {
        let groups = read::of_kind(
            app.read_models().await,
            stored(OrganizationKind::LearnerGroup),
            Some(id),
        )
        .await?;
        doomed.extend(groups.into_iter().map(|g| g.organization_id));
    }
    doomed.push(id);
    for collection in doomed {
        app.store
            .execute::<Organization>(
                &collection.to_string(),
                OrganizationCommand::Delete,
                &metadata,
            )
            .await?;
        app.collection_kinds.invalidate(&collection);
    }
    Ok(())
}

/// The actor and place of a collection they may manage: 404 when there is
/// no such collection, 403 when they may not manage it (Kolibri filters
/// what one may read only for reads).
async fn managed<'a>(
    app: &App,
    actor: Option<&'a Actor>,
    kind: OrganizationKind,
    id: Uuid,
) -> Result<(&'a Actor, Place), Error> {
    let place = place(app, id)
        .await?
        .filter(|p| p.kind == kind)
        .ok_or(Error::NotFound)?;
    let actor = actor.ok_or(Error::Unauthenticated)?;
    access::authorize(actor, managing(kind), &place.resource())?;
    Ok((actor, place))
}

impl Place {
    /// The collection a classroom or learner group is in.
    fn parent(&self) -> Uuid {
        match self.kind {
            OrganizationKind::LearnerGroup => self.classroom.unwrap_or(self.facility),
            _ => self.facility,
        }
    }
}
