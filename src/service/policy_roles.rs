//! Roles defined by policies (Open Archiver's CASL roles): the predefined
//! ones, built in, and those administrators define. What an actor may do
//! with them is asked of their own policies ([`crate::access::policies`]):
//! the service administrator holds the predefined Super Admin; anyone else
//! the roles whose slugs they hold.

use aggregates::{Installation, PolicyRole, PolicyRoleCommand, INSTALLATION_ID};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::RequestContext;
use crate::access::policies::{self, Statement};
use crate::access::{Actor, Scope, ADMINISTRATOR};
use crate::{App, Error};

/// The predefined role the service administrator holds.
pub const SUPER_ADMIN: &str = "predefined_super_admin";

/// A role as lists show it.
#[derive(Debug, Clone)]
pub struct RoleView {
    /// Id (derived from the slug for predefined roles).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Statements.
    pub policies: Value,
    /// Defined.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Built in: not changed, not deleted.
    pub predefined: bool,
}

/// A predefined role's id: derived from its slug, stable everywhere.
pub fn predefined_id(slug: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("policy-role:{slug}").as_bytes(),
    )
}

/// The predefined roles, dated from the installation's setup.
async fn predefined(app: &App) -> Result<Vec<RoleView>, Error> {
    let since = app
        .store
        .load::<Installation>(INSTALLATION_ID)
        .await?
        .state
        .claimed_at()
        .unwrap_or(DateTime::UNIX_EPOCH);
    Ok(policies::predefined()
        .into_iter()
        .map(|(slug, name, statements)| RoleView {
            id: predefined_id(slug),
            name: name.to_string(),
            slug: slug.to_string(),
            policies: statements,
            created_at: since,
            updated_at: since,
            predefined: true,
        })
        .collect())
}

/// Every role: the predefined ones, then those defined, oldest first.
async fn all(app: &App) -> Result<Vec<RoleView>, Error> {
    let mut roles = predefined(app).await?;
    for row in projections::policy_roles::all(app.store.db()).await? {
        roles.push(RoleView {
            id: row.role_id,
            name: row.name,
            slug: row.slug,
            policies: serde_json::from_str(&row.policies).unwrap_or(Value::Array(Vec::new())),
            created_at: row.created_at,
            updated_at: row.updated_at,
            predefined: false,
        });
    }
    Ok(roles)
}

/// The roles a user holds, by what they hold: the administrator role
/// means Super Admin; other global roles by slug.
pub async fn held(app: &App, roles: &[String]) -> Result<Vec<RoleView>, Error> {
    let every = all(app).await?;
    Ok(every
        .into_iter()
        .filter(|role| {
            roles.iter().any(|held| {
                held == &role.slug || (held == ADMINISTRATOR && role.slug == SUPER_ADMIN)
            })
        })
        .collect())
}

/// The statements of every role `actor` holds. Asked on every request of
/// the surface: the predefined roles are read from code, and the read model
/// only when the actor holds a role that may be a defined one (never for
/// the administrator or a user without global roles).
async fn statements_of(app: &App, actor: &Actor) -> Result<Vec<Statement>, Error> {
    let predefined = policies::predefined();
    let mut statements = Vec::new();
    let mut defined = Vec::new();
    for grant in actor.grants.iter().filter(|g| g.scope == Scope::Everywhere) {
        let slug = if grant.role == ADMINISTRATOR {
            SUPER_ADMIN
        } else {
            grant.role.as_str()
        };
        match predefined.iter().find(|(s, _, _)| *s == slug) {
            Some((_, _, policies)) => {
                statements.extend(policies::parse(policies).unwrap_or_default())
            }
            None => defined.push(slug.to_string()),
        }
    }
    if !defined.is_empty() {
        for row in projections::policy_roles::all(app.store.db()).await? {
            if defined.contains(&row.slug) {
                let policies = serde_json::from_str(&row.policies).unwrap_or(Value::Null);
                // Stored statements were checked when written.
                statements.extend(policies::parse(&policies).unwrap_or_default());
            }
        }
    }
    Ok(statements)
}

/// 403 unless `actor`'s policies let them do `action` on `subject`.
pub async fn authorize(app: &App, actor: &Actor, action: &str, subject: &str) -> Result<(), Error> {
    let statements = statements_of(app, actor).await?;
    if policies::allows(&statements, actor.user_id, action, subject, None) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// Every role, for those who may read roles.
pub async fn list(app: &App, actor: &Actor) -> Result<Vec<RoleView>, Error> {
    authorize(app, actor, "read", "roles").await?;
    all(app).await
}

/// One role, for those who may read roles; `NotFound` for none.
pub async fn get(app: &App, actor: &Actor, id: Uuid) -> Result<RoleView, Error> {
    authorize(app, actor, "read", "roles").await?;
    all(app)
        .await?
        .into_iter()
        .find(|role| role.id == id)
        .ok_or(Error::NotFound)
}

/// What a new or changed role asks for (the surface's reading of the body).
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Name.
    pub name: Option<String>,
    /// Statements (checked here).
    pub policies: Option<Value>,
}

/// A role's slug: its name lowercased, spaces as `_` (Open Archiver's).
pub fn slug_of(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

fn missing() -> Error {
    Error::invalid(
        "MISSING_FIELDS",
        "Missing required fields: name and policy.",
    )
}

fn checked(policies: &Value) -> Result<(), Error> {
    policies::parse(policies).map(drop).map_err(|reason| {
        Error::invalid(
            "INVALID_POLICY",
            format!("Invalid policy statement: {reason}"),
        )
    })
}

async fn require_free_slug(app: &App, slug: &str, except: Option<Uuid>) -> Result<(), Error> {
    let taken = all(app)
        .await?
        .iter()
        .any(|role| role.slug == slug && Some(role.id) != except);
    if taken {
        return Err(Error::invalid(
            "ROLE_EXISTS",
            "A role with this name already exists.",
        ));
    }
    Ok(())
}

/// Defines a role, for those who may create roles (asked before the body
/// is, as Open Archiver's permission check runs first).
pub async fn create(
    app: &App,
    actor: &Actor,
    input: RoleInput,
    ctx: &RequestContext,
) -> Result<RoleView, Error> {
    authorize(app, actor, "create", "roles").await?;
    let (Some(name), Some(statements)) =
        (input.name.filter(|n| !n.trim().is_empty()), input.policies)
    else {
        return Err(missing());
    };
    checked(&statements)?;
    let slug = slug_of(&name);
    require_free_slug(app, &slug, None).await?;
    let id = Uuid::now_v7();
    let committed = app
        .store
        .create::<PolicyRole>(
            &id.to_string(),
            PolicyRoleCommand::Create {
                role_id: id,
                name: name.trim().to_string(),
                slug,
                policies: statements,
            },
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    get(app, actor, id).await
}

/// Changes a defined role's name and policies (predefined ones: 403).
pub async fn update(
    app: &App,
    actor: &Actor,
    id: Uuid,
    input: RoleInput,
    ctx: &RequestContext,
) -> Result<RoleView, Error> {
    authorize(app, actor, "update", "roles").await?;
    let current = get(app, actor, id).await?;
    if current.predefined {
        return Err(Error::Forbidden);
    }
    let name = input
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(current.name);
    let statements = input.policies.unwrap_or(current.policies);
    checked(&statements)?;
    let slug = slug_of(&name);
    require_free_slug(app, &slug, Some(id)).await?;
    let committed = app
        .store
        .execute::<PolicyRole>(
            &id.to_string(),
            PolicyRoleCommand::Update {
                name: name.trim().to_string(),
                slug,
                policies: statements,
            },
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    get(app, actor, id).await
}

/// Deletes a defined role (predefined ones: 403).
pub async fn delete(app: &App, actor: &Actor, id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    authorize(app, actor, "delete", "roles").await?;
    if get(app, actor, id).await?.predefined {
        return Err(Error::Forbidden);
    }
    let committed = app
        .store
        .execute::<PolicyRole>(
            &id.to_string(),
            PolicyRoleCommand::Delete,
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await
}
