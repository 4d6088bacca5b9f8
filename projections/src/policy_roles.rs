//! The `policy_roles` read model: roles defined by policies, as lists and
//! lookups by id or slug show them.

use aggregates::PolicyRoleEvent;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{execute, fetch_all, Conn, Db, RecordedEvent};

/// One policy role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRoleRow {
    /// Id.
    pub role_id: Uuid,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// The statements, as JSON text.
    pub policies: String,
    /// Defined.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Folds one policy-role event (idempotent).
pub async fn apply(
    conn: &mut Conn<'_>,
    event: &RecordedEvent,
    payload: PolicyRoleEvent,
) -> Result<(), sqlx::Error> {
    let id = event.aggregate_id.parse::<Uuid>().unwrap_or_default();
    match payload {
        PolicyRoleEvent::PolicyRoleCreated {
            role_id,
            name,
            slug,
            policies,
            at,
        } => {
            execute!(
                conn,
                "INSERT INTO policy_roles (role_id, name, slug, policies, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)
                 ON CONFLICT (role_id) DO NOTHING",
                role_id,
                name,
                slug,
                policies.to_string(),
                at,
                event.sequence
            )?;
        }
        PolicyRoleEvent::PolicyRoleUpdated {
            name,
            slug,
            policies,
            at,
        } => {
            execute!(
                conn,
                "UPDATE policy_roles SET name = $2, slug = $3, policies = $4, updated_at = $5,
                        version = $6
                  WHERE role_id = $1 AND version < $6",
                id,
                name,
                slug,
                policies.to_string(),
                at,
                event.sequence
            )?;
        }
        PolicyRoleEvent::PolicyRoleDeleted { .. } => {
            execute!(conn, "DELETE FROM policy_roles WHERE role_id = $1", id)?;
        }
    }
    Ok(())
}

const COLUMNS: &str = "role_id, name, slug, policies, created_at, updated_at";

/// Every policy role, oldest first.
pub async fn all(db: &Db) -> Result<Vec<PolicyRoleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM policy_roles ORDER BY created_at, role_id");
    fetch_all!(db, PolicyRoleRow, &sql)
}

/// One policy role by id.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<PolicyRoleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM policy_roles WHERE role_id = $1");
    Ok(fetch_all!(db, PolicyRoleRow, &sql, id)?.into_iter().next())
}
