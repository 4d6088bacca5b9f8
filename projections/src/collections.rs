//! Reads of Kolibri's collections inside a facility (classrooms, learner
//! groups), who is in them and the roles held for them, from the
//! `organizations`, `memberships`, `collection_roles` and `facility_users`
//! read models. Soft-deleted users count nowhere, as in Kolibri.

use uuid::Uuid;

use crate::{fetch_all, Db};

/// A classroom or learner group, with its live members counted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CollectionRow {
    /// Id.
    pub organization_id: Uuid,
    /// `classroom` or `learner_group`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// The facility (classroom) or classroom (learner group) it is in.
    pub parent_id: Option<Uuid>,
    /// Members who are not deleted.
    pub learners: i64,
}

const COLLECTION: &str = "SELECT o.organization_id, o.kind, o.name, o.parent_id,
        (SELECT count(*) FROM memberships m JOIN facility_users fu ON fu.user_id = m.user_id
          WHERE m.organization_id = o.organization_id AND fu.deleted_at IS NULL) AS learners
   FROM organizations o";

/// The collections of `kind` (under `parent`, when given), by id.
pub async fn of_kind(
    db: &Db,
    kind: &str,
    parent: Option<Uuid>,
) -> Result<Vec<CollectionRow>, sqlx::Error> {
    let sql = format!(
        "{COLLECTION} WHERE o.kind = $1 AND ($2 IS NULL OR o.parent_id = $2)
          ORDER BY o.organization_id"
    );
    fetch_all!(db, CollectionRow, &sql, kind, parent)
}

/// One classroom or learner group.
pub async fn one(db: &Db, id: Uuid) -> Result<Option<CollectionRow>, sqlx::Error> {
    let sql = format!(
        "{COLLECTION} WHERE o.organization_id = $1 AND o.kind IN ('classroom', 'learner_group')"
    );
    Ok(fetch_all!(db, CollectionRow, &sql, id)?.into_iter().next())
}

/// Whether a sibling of `parent` other than `except` is called `name`.
pub async fn name_taken(
    db: &Db,
    parent: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Found {
        organization_id: Uuid,
    }
    let found = fetch_all!(
        db,
        Found,
        "SELECT organization_id FROM organizations WHERE parent_id = $1 AND name = $2",
        parent,
        name
    )?;
    Ok(found.iter().any(|f| Some(f.organization_id) != except))
}

/// A live user holding a role for a collection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HolderRow {
    /// The collection.
    pub collection_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
    /// Their full name.
    pub full_name: String,
    /// Whether they are the superuser.
    pub is_superuser: bool,
}

/// The live users holding a role for one of `collections`, in assignment
/// order.
pub async fn holders(db: &Db, collections: &[Uuid]) -> Result<Vec<HolderRow>, sqlx::Error> {
    let mut rows = Vec::new();
    for id in collections {
        rows.extend(fetch_all!(
            db,
            HolderRow,
            "SELECT r.collection_id, r.user_id, fu.username, fu.full_name, fu.is_superuser
               FROM collection_roles r JOIN facility_users fu ON fu.user_id = r.user_id
              WHERE r.collection_id = $1 AND fu.deleted_at IS NULL
              ORDER BY r.assigned_at, r.role_id",
            *id
        )?);
    }
    Ok(rows)
}

/// A live member of a collection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    /// The membership's id.
    pub membership_id: Uuid,
    /// The classroom or learner group.
    pub organization_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// The member's facility.
    pub facility_id: Uuid,
}

const MEMBERSHIP: &str = "SELECT m.membership_id, m.organization_id, m.user_id, fu.facility_id
   FROM memberships m
   JOIN facility_users fu ON fu.user_id = m.user_id AND fu.deleted_at IS NULL
   JOIN organizations o ON o.organization_id = m.organization_id
  WHERE o.kind IN ('classroom', 'learner_group')";

/// The memberships of live users in classrooms and learner groups, of
/// `user` and in `collection` when given, in joining order.
pub async fn memberships(
    db: &Db,
    user: Option<Uuid>,
    collection: Option<Uuid>,
) -> Result<Vec<MembershipRow>, sqlx::Error> {
    let sql = format!(
        "{MEMBERSHIP} AND ($1 IS NULL OR m.user_id = $1) AND ($2 IS NULL OR m.organization_id = $2)
          ORDER BY m.joined_at, m.membership_id"
    );
    fetch_all!(db, MembershipRow, &sql, user, collection)
}

/// One membership by its id.
pub async fn membership(db: &Db, id: Uuid) -> Result<Option<MembershipRow>, sqlx::Error> {
    let sql = format!("{MEMBERSHIP} AND m.membership_id = $1");
    Ok(fetch_all!(db, MembershipRow, &sql, id)?.into_iter().next())
}

/// A role held by a live facility user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldRoleRow {
    /// The role's id.
    pub role_id: Uuid,
    /// Its holder.
    pub user_id: Uuid,
    /// The collection it is held for.
    pub collection_id: Uuid,
    /// `admin`, `coach`, `assignable_coach`.
    pub kind: String,
    /// The holder's facility.
    pub facility_id: Uuid,
}

/// The roles of live users, of `user`, for `collection` and of `kind` when
/// given, in assignment order.
pub async fn roles(
    db: &Db,
    user: Option<Uuid>,
    collection: Option<Uuid>,
    kind: Option<&str>,
) -> Result<Vec<HeldRoleRow>, sqlx::Error> {
    fetch_all!(
        db,
        HeldRoleRow,
        "SELECT r.role_id, r.user_id, r.collection_id, r.kind, r.facility_id
           FROM collection_roles r
           JOIN facility_users fu ON fu.user_id = r.user_id AND fu.deleted_at IS NULL
          WHERE ($1 IS NULL OR r.user_id = $1) AND ($2 IS NULL OR r.collection_id = $2)
            AND ($3 IS NULL OR r.kind = $3)
          ORDER BY r.assigned_at, r.role_id",
        user,
        collection,
        kind
    )
}

/// One role by its id.
pub async fn role(db: &Db, id: Uuid) -> Result<Option<HeldRoleRow>, sqlx::Error> {
    Ok(fetch_all!(
        db,
        HeldRoleRow,
        "SELECT r.role_id, r.user_id, r.collection_id, r.kind, r.facility_id
           FROM collection_roles r
           JOIN facility_users fu ON fu.user_id = r.user_id AND fu.deleted_at IS NULL
          WHERE r.role_id = $1",
        id
    )?
    .into_iter()
    .next())
}
