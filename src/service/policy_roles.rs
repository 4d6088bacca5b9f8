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
use crate::access::policies;
use crate::access::{self, Actor, Resource, ADMINISTRATOR};
use crate::{App, Error};

pub use crate::access::policies::SUPER_ADMIN;

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
    for row in projections::policy_roles::all(app.read_models().await).await? {
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
    Ok(held_among(&all(app).await?, roles))
}

/// [`held`] among roles read once (listing many users).
pub fn held_among(every: &[RoleView], roles: &[String]) -> Vec<RoleView> {
    every
        .iter()
        .filter(|role| {
            roles.iter().any(|held| {
                held == &role.slug || (held == ADMINISTRATOR && role.slug == SUPER_ADMIN)
            })
        })
        .cloned()
        .collect()
}

/// Every role, unchecked (for answers about users who hold them).
pub async fn every_role(app: &App) -> Result<Vec<RoleView>, Error> {
    all(app).await
}

/// 403 unless `actor`'s policies let them do `verb` on `subject`.
fn authorize(actor: &Actor, verb: &'static str, subject: &'static str) -> Result<(), Error> {
    access::authorize(
        actor,
        access::Action::Policy(verb, subject),
        &Resource::Service,
    )
}

/// Every role, for those who may read roles.
pub async fn list(app: &App, actor: &Actor) -> Result<Vec<RoleView>, Error> {
    authorize(actor, "read", "roles")?;
    all(app).await
}

/// One role, for those who may read roles; `NotFound` for none.
pub async fn get(app: &App, actor: &Actor, id: Uuid) -> Result<RoleView, Error> {
    authorize(actor, "read", "roles")?;
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

/// A role's slug: its name lowercased, spaces as `_` (Open Archiver's) —
/// when that is a role name users can hold (1–32 of `a-z 0-9 _ -`), else
/// one made from the role's id. Kept for the role's life: holders hold
/// it, so renaming a role (Open Archiver keeps the slug too) takes nothing
/// from them.
fn slug_for(name: &str, id: Uuid) -> String {
    let slug = name.trim().to_lowercase().replace(' ', "_");
    if aggregates::user::is_slug(&slug) {
        slug
    } else {
        // The random tail of the UUIDv7 (its head is the clock).
        let simple = id.simple().to_string();
        format!("role-{}", &simple[simple.len() - 12..])
    }
}

fn checked(policies: &Value) -> Result<(), Error> {
    policies::parse(policies).map(drop).map_err(|reason| {
        Error::invalid(
            "INVALID_POLICY",
            format!("Invalid policy statement: {reason}"),
        )
    })
}

/// A name no other role has: compared by slug, and never `admin` (held,
/// it would make the holder the service's administrator).
async fn require_free_name(app: &App, name: &str, except: Option<Uuid>) -> Result<(), Error> {
    let wanted = name.trim().to_lowercase().replace(' ', "_");
    let taken = wanted == ADMINISTRATOR
        || all(app).await?.iter().any(|role| {
            Some(role.id) != except
                && (role.slug == wanted || role.name.trim().eq_ignore_ascii_case(name.trim()))
        });
    if taken {
        return Err(Error::invalid(
            "ROLE_EXISTS",
            "A role with this name already exists.",
        ));
    }
    Ok(())
}

/// The refusal to change or delete a predefined role: a request that can
/// never succeed, whoever asks.
fn predefined_stays() -> Error {
    Error::invalid(
        "PREDEFINED_ROLE",
        "Predefined roles cannot be changed or deleted.",
    )
}

/// Role definitions are the Super Admin's (Open Archiver: `manage all`).
fn authorize_definition(actor: &Actor) -> Result<(), Error> {
    authorize(actor, "manage", "all")
}

/// Defines a role: 403 unless the actor may manage everything (asked
/// before the body is, as Open Archiver's permission check runs first);
/// 400 "Missing required fields: name and policy." or "Invalid policy
/// statement: …".
pub async fn create(
    app: &App,
    actor: &Actor,
    input: RoleInput,
    ctx: &RequestContext,
) -> Result<RoleView, Error> {
    authorize_definition(actor)?;
    let (Some(name), Some(statements)) =
        (input.name.filter(|n| !n.trim().is_empty()), input.policies)
    else {
        return Err(Error::invalid(
            "MISSING_FIELDS",
            "Missing required fields: name and policy.",
        ));
    };
    checked(&statements)?;
    require_free_name(app, &name, None).await?;
    let id = Uuid::now_v7();
    let slug = slug_for(&name, id);
    // A slug someone holds already (a deleted role's holders keep it; an
    // ILD role of that name) would hand the new role's policies to them.
    if projections::users::role_held(app.read_models().await, &slug).await? {
        return Err(Error::invalid(
            "ROLE_EXISTS",
            "A role with this name already exists.",
        ));
    }
    app.store
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
    get(app, actor, id).await
}

/// Changes a defined role's name or policies (predefined ones: 400); 400
/// "Missing fields to update: name or policies." with neither. The slug
/// stays.
pub async fn update(
    app: &App,
    actor: &Actor,
    id: Uuid,
    input: RoleInput,
    ctx: &RequestContext,
) -> Result<RoleView, Error> {
    authorize_definition(actor)?;
    let name = input.name.filter(|n| !n.trim().is_empty());
    if name.is_none() && input.policies.is_none() {
        return Err(Error::invalid(
            "MISSING_FIELDS",
            "Missing fields to update: name or policies.",
        ));
    }
    if let Some(statements) = &input.policies {
        checked(statements)?;
    }
    let current = get(app, actor, id).await?;
    if current.predefined {
        return Err(predefined_stays());
    }
    if let Some(name) = &name {
        require_free_name(app, name, Some(id)).await?;
    }
    app.store
        .execute::<PolicyRole>(
            &id.to_string(),
            PolicyRoleCommand::Update {
                name: name.map_or(current.name, |n| n.trim().to_string()),
                slug: current.slug,
                policies: input.policies.unwrap_or(current.policies),
            },
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    get(app, actor, id).await
}

/// Deletes a defined role (predefined ones: 400). Its holders keep the
/// slug and lose what it allowed.
pub async fn delete(app: &App, actor: &Actor, id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    authorize_definition(actor)?;
    if get(app, actor, id).await?.predefined {
        return Err(predefined_stays());
    }
    app.store
        .execute::<PolicyRole>(
            &id.to_string(),
            PolicyRoleCommand::Delete,
            &ctx.metadata().acting_as(actor.user_id),
        )
        .await?;
    Ok(())
}

/// The global role that holding `role` means: the administrator's for
/// Super Admin, else the role's slug.
fn grant_for(role: &RoleView) -> String {
    if role.slug == SUPER_ADMIN {
        ADMINISTRATOR.to_string()
    } else {
        role.slug.clone()
    }
}

/// The role `id` names, to be given to a user: 400 "Role not found." when
/// none (the role is part of the request's body, not its path).
pub async fn to_give(app: &App, id: Uuid) -> Result<RoleView, Error> {
    all(app)
        .await?
        .into_iter()
        .find(|role| role.id == id)
        .ok_or_else(|| Error::invalid("ROLE_NOT_FOUND", "Role not found."))
}

/// The global roles a new holder of `role` starts with.
pub fn initial_grants(role: Option<&RoleView>) -> Vec<String> {
    role.map(grant_for).into_iter().collect()
}

/// Makes `role` the one policy role `user` holds, as Open Archiver's
/// `roleId` does: granted first, then the others revoked, each an event
/// with the actor's metadata. Roles that carry no policies (ILD's) stay.
pub async fn give(
    app: &App,
    actor: &Actor,
    user: &crate::service::UserView,
    role: &RoleView,
    ctx: &RequestContext,
) -> Result<(), Error> {
    authorize(actor, "manage", "all")?;
    let wanted = grant_for(role);
    let every = all(app).await?;
    let others = user.roles.iter().filter(|held| {
        **held != wanted
            && (held.as_str() == ADMINISTRATOR || every.iter().any(|r| &r.slug == *held))
    });
    let mut commands = vec![aggregates::UserCommand::GrantRole {
        role: wanted.clone(),
    }];
    commands.extend(others.map(|role| aggregates::UserCommand::RevokeRole { role: role.clone() }));
    let metadata = ctx.metadata().acting_as(actor.user_id);
    for command in commands {
        app.store
            .execute::<aggregates::User>(&user.id.to_string(), command, &metadata)
            .await?;
    }
    Ok(())
}
