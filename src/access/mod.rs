//! Who may do what: the one authorization path of every surface.
//!
//! An [`Actor`] (the signed-in user, their session and their grants) is
//! built once per request from live state ([`actors::Actors`], a cache the
//! security feed keeps fresh), and [`authorize`] answers every permission
//! question against the rules in [`rules`]. Use cases call it; handlers
//! never decide who may do what, so an answer is the same on every
//! surface. A surface only chooses how a refusal reads (403, or 404 where
//! its system hides what a caller may not see).
//!
//! Grants are one list: the global roles (`admin`, ILD's role slugs) and
//! the roles held for a collection (Kolibri's facility admin, coach,
//! assignable coach) are each a role with a [`Scope`]. Policies (Open
//! Archiver's CASL rules, Doubtfire's system roles) become more rules.

pub mod actors;
mod defined_roles;
pub mod policies;
pub mod rules;
pub mod system_roles;

use std::sync::Arc;

use aggregates::User;
use uuid::Uuid;

use crate::store::Loaded;
use crate::Error;

pub use actors::Actors;
pub use rules::{authorize, visible_users, Visibility};
pub use system_roles::SystemRole;

/// Where a grant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere (a global role).
    Everywhere,
    /// One collection: a facility or a classroom.
    Collection(Uuid),
}

/// A role held somewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role's name: a global slug (`admin`, `editor`, …) or a
    /// collection role (`admin`, `coach`, `assignable_coach`).
    pub role: String,
    /// Where it holds.
    pub scope: Scope,
}

/// The global role that administers the whole service (ILD's `admin`,
/// Kolibri's superuser).
pub const ADMINISTRATOR: &str = aggregates::SUPERUSER_ROLE;

/// The grants `user` holds, one list.
pub fn grants_of(user: &User) -> Vec<Grant> {
    let global = user.roles().iter().map(|role| Grant {
        role: role.clone(),
        scope: Scope::Everywhere,
    });
    let scoped = user.collection_roles().iter().map(|held| Grant {
        role: role_name(held.kind).to_string(),
        scope: Scope::Collection(held.collection),
    });
    global.chain(scoped).collect()
}

/// The name a collection role goes by in grants.
pub fn role_name(kind: aggregates::RoleKind) -> &'static str {
    match kind {
        aggregates::RoleKind::Admin => "admin",
        aggregates::RoleKind::Coach => "coach",
        aggregates::RoleKind::AssignableCoach => "assignable_coach",
    }
}

/// The signed-in caller of one request.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user.
    pub user_id: Uuid,
    /// The session they act from.
    pub session_id: Uuid,
    /// What they hold.
    pub grants: Vec<Grant>,
    /// Their facility (facility users).
    pub facility: Option<Uuid>,
    /// The state the actor was built from (what session objects show).
    pub user: Arc<Loaded<User>>,
    /// The policy statements of their global roles (see [`Action::Policy`]).
    pub policies: Vec<policies::Statement>,
}

impl Actor {
    /// The actor of `user` (live) acting from `session_id`.
    pub fn new(user_id: Uuid, session_id: Uuid, user: Arc<Loaded<User>>) -> Result<Self, Error> {
        if !user.state.is_active() {
            return Err(Error::Unauthenticated);
        }
        Ok(Self {
            user_id,
            session_id,
            grants: grants_of(&user.state),
            facility: user.state.facility(),
            user,
            policies: Vec::new(),
        })
    }

    /// Whether the actor holds `role` in `scope`.
    pub fn holds(&self, role: &str, scope: Scope) -> bool {
        self.grants
            .iter()
            .any(|grant| grant.role == role && grant.scope == scope)
    }
}

/// What an actor asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Administer accounts service-wide: list and read accounts with their
    /// private data, disable, enable, end sessions, force password resets,
    /// grant roles and subscriptions, index categories.
    ManageAccounts,
    /// Create communities.
    ManageCommunities,
    /// Change a facility's settings.
    ManageFacility,
    /// List the users of a facility (or of the whole service).
    ListUsers,
    /// Read one user.
    ReadUser,
    /// Create a user in a facility.
    CreateUser,
    /// Edit a user's account fields (password included).
    EditUser,
    /// Delete a user.
    DeleteUser,
    /// Erase a user's personal data for good (their keys destroyed).
    EraseUser,
    /// Read a classroom or learner group, its members and the roles held
    /// for it.
    ReadCollection,
    /// Create, rename and delete classrooms; place users in them.
    ManageClassrooms,
    /// Create, rename and delete learner groups; place a classroom's
    /// members in its groups.
    ManageGroups,
    /// Give and take away roles for a facility or classroom.
    AssignRoles,
    /// A policy's action on a policy's subject (`("read", "users")`,
    /// `("manage", "all")`): answered by the statements of the roles the
    /// actor holds ([`policies`]), the way Open Archiver's CASL does — on
    /// the kind when the resource is [`Resource::Service`], else on the
    /// resource's attributes.
    Policy(&'static str, &'static str),
}

/// What an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The whole service.
    Service,
    /// A facility (listing its users, creating one in it).
    Facility(Uuid),
    /// One user, with their facility (if any).
    User {
        /// The user.
        id: Uuid,
        /// Their facility.
        facility: Option<Uuid>,
    },
    /// A collection of a facility: the facility itself (no classroom), a
    /// classroom, or a learner group (with its classroom).
    Collection {
        /// The facility it is (in).
        facility: Uuid,
        /// The classroom it is (in).
        classroom: Option<Uuid>,
    },
}

/// Builds the actor behind a session of `user_id`, from live state.
pub async fn actor(app: &crate::App, user_id: Uuid, session_id: Uuid) -> Result<Actor, Error> {
    let user = app.actors.state(app, user_id).await?;
    let mut actor = Actor::new(user_id, session_id, user)?;
    actor.policies = app.actors.policies(app, &actor.grants).await?;
    Ok(actor)
}
