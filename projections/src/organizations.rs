//! The `organizations` and `memberships` read models: communities (and
//! later facilities), their member counts, and who belongs where.

use aggregates::OrganizationEvent;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{execute, fetch_all, Conn, Db, RecordedEvent};

/// One organization.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    /// Id.
    pub organization_id: Uuid,
    /// `community`, …
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Members (kept by the projection).
    pub members: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Folds one organization event (idempotent).
pub async fn apply(
    conn: &mut Conn<'_>,
    event: &RecordedEvent,
    payload: OrganizationEvent,
) -> Result<(), sqlx::Error> {
    match payload {
        OrganizationEvent::OrganizationCreated {
            organization_id,
            kind,
            name,
            description,
            parent,
            settings,
            at,
        } => {
            execute!(
                conn,
                "INSERT INTO organizations (organization_id, kind, name, description, parent_id,
                                            settings, created_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (organization_id) DO NOTHING",
                organization_id,
                kind.as_str(),
                name,
                description,
                parent,
                settings.map(sqlx::types::Json),
                at,
                event.sequence
            )?;
        }
        OrganizationEvent::FacilitySettingsChanged { settings, .. } => {
            execute!(
                conn,
                "UPDATE organizations SET settings = $2, version = $3
                  WHERE organization_id = $1 AND version < $3",
                event.aggregate_id.parse::<Uuid>().unwrap_or_default(),
                sqlx::types::Json(settings),
                event.sequence
            )?;
        }
        OrganizationEvent::OrganizationRenamed { name, .. } => {
            execute!(
                conn,
                "UPDATE organizations SET name = $2, version = $3
                  WHERE organization_id = $1 AND version < $3",
                event.aggregate_id.parse::<Uuid>().unwrap_or_default(),
                name,
                event.sequence
            )?;
        }
        OrganizationEvent::OrganizationDeleted { .. } => {
            // Its memberships and the roles held for it go with it (the
            // user states that still name it refer to nothing).
            let id = event.aggregate_id.parse::<Uuid>().unwrap_or_default();
            execute!(
                conn,
                "DELETE FROM memberships WHERE organization_id = $1",
                id
            )?;
            execute!(
                conn,
                "DELETE FROM collection_roles WHERE collection_id = $1",
                id
            )?;
            execute!(
                conn,
                "DELETE FROM organizations WHERE organization_id = $1",
                id
            )?;
        }
    }
    Ok(())
}

/// Records a membership; counts it once.
pub async fn add_member(
    conn: &mut Conn<'_>,
    organization_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let added = execute!(
        conn,
        "INSERT INTO memberships (organization_id, user_id, membership_id, joined_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id, user_id) DO NOTHING",
        organization_id,
        user_id,
        aggregates::membership_id(organization_id, user_id),
        at
    )?;
    if added > 0 {
        execute!(
            conn,
            "UPDATE organizations SET members = members + 1 WHERE organization_id = $1",
            organization_id
        )?;
    }
    Ok(())
}

/// Removes a membership (and counts it).
pub async fn remove_member(
    conn: &mut Conn<'_>,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    let removed = execute!(
        conn,
        "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
        organization_id,
        user_id
    )?;
    if removed > 0 {
        execute!(
            conn,
            "UPDATE organizations SET members = members - 1 WHERE organization_id = $1",
            organization_id
        )?;
    }
    Ok(())
}

/// The organizations `user_id` belongs to, in joining order (any kind:
/// what each is, and how it reads, is looked up by id).
pub async fn memberships_of(db: &Db, user_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows = fetch_all!(
        db,
        Id,
        "SELECT organization_id FROM memberships WHERE user_id = $1
          ORDER BY joined_at, organization_id",
        user_id
    )?;
    Ok(rows.into_iter().map(|r| r.organization_id).collect())
}

/// Those of `ids` that are live organizations of `kind`, in no order.
pub async fn of_kind(
    db: &Db,
    ids: &[Uuid],
    kind: &str,
) -> Result<Vec<OrganizationRow>, sqlx::Error> {
    const SELECT: &str = "SELECT organization_id, kind, name, description, members, created_at
                            FROM organizations WHERE organization_id {which} AND kind = $2";
    match db {
        Db::Postgres(pool) => {
            sqlx::query_as(&SELECT.replace("{which}", "= ANY($1)"))
                .bind(ids)
                .bind(kind)
                .fetch_all(pool)
                .await
        }
        // No arrays: one (in-process) statement each.
        Db::Sqlite { reader, .. } => {
            let sql = crate::db::sqlite_sql(SELECT).replace("{which}", "= ?1");
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                rows.extend(
                    sqlx::query_as(&sql)
                        .bind(id)
                        .bind(kind)
                        .fetch_optional(reader)
                        .await?,
                );
            }
            Ok(rows)
        }
    }
}

#[derive(sqlx::FromRow)]
struct Id {
    organization_id: Uuid,
}

/// Every facility, the default (oldest) first.
pub async fn facilities(db: &Db) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows = fetch_all!(
        db,
        Id,
        "SELECT organization_id FROM organizations WHERE kind = 'facility'
          ORDER BY created_at, organization_id"
    )?;
    Ok(rows.into_iter().map(|r| r.organization_id).collect())
}

#[derive(sqlx::FromRow)]
struct Named {
    organization_id: Uuid,
    name: String,
}

/// The classrooms of a facility: `(name, id)`.
pub async fn classrooms(db: &Db, facility: Uuid) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let rows = fetch_all!(
        db,
        Named,
        "SELECT organization_id, name FROM organizations
          WHERE kind = 'classroom' AND parent_id = $1",
        facility
    )?;
    Ok(rows
        .into_iter()
        .map(|r| (r.name, r.organization_id))
        .collect())
}
