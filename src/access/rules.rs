//! The permission rules, as data: who (a role in a scope, or anyone), may
//! do which actions, on what. A request is allowed when any rule allows
//! it; nothing is allowed by default.
//!
//! The rules of the surfaces served today:
//! - the service administrator (global `admin`: ILD's admin, Kolibri's
//!   superuser) does anything;
//! - everyone reads, edits and deletes themselves (Kolibri's `own`);
//! - a facility's admins change its settings, and list, read, create,
//!   edit and delete its users (Kolibri's `admin` role);
//! - a facility's admins also create, rename and delete its classrooms
//!   and learner groups, place its users in them and give roles in it;
//! - a facility's coaches and assignable coaches list and read its users
//!   (Kolibri's `role` permission for coaches); its coaches also read its
//!   classrooms and groups and manage the groups;
//! - a classroom's coaches read it (its groups, members and roles) and
//!   manage its groups — no facility-wide reading.

use super::{Action, Actor, Resource, Scope, ADMINISTRATOR};
use crate::Error;

/// Who a rule is for.
#[derive(Debug, Clone, Copy)]
enum Holder {
    /// Any signed-in actor.
    Anyone,
    /// Holders of a global role.
    Global(&'static str),
    /// Holders of a role for the facility the resource belongs to.
    InFacility(&'static str),
    /// Holders of a role for the classroom the resource is or is in.
    InClassroom(&'static str),
}

/// What a rule is about.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Any resource.
    Anything,
    /// The actor's own user.
    Themselves,
    /// A facility, a user of it or a collection in it (the facility of
    /// [`Holder::InFacility`]).
    FacilityAndWithin,
    /// A collection of a facility.
    Collections,
}

/// One rule.
#[derive(Debug)]
struct Rule {
    holder: Holder,
    actions: &'static [Action],
    target: Target,
}

use Action::*;

/// Every action (the administrator's rule).
const EVERY: &[Action] = &[
    ManageAccounts,
    ManageCommunities,
    ManageFacility,
    ListUsers,
    ReadUser,
    CreateUser,
    EditUser,
    DeleteUser,
    EraseUser,
    ReadCollection,
    ManageClassrooms,
    ManageGroups,
    AssignRoles,
];

const RULES: &[Rule] = &[
    Rule {
        holder: Holder::Global(ADMINISTRATOR),
        actions: EVERY,
        target: Target::Anything,
    },
    Rule {
        holder: Holder::Anyone,
        actions: &[ReadUser, EditUser, DeleteUser],
        target: Target::Themselves,
    },
    Rule {
        holder: Holder::InFacility("admin"),
        actions: &[
            ManageFacility,
            ListUsers,
            ReadUser,
            CreateUser,
            EditUser,
            DeleteUser,
            EraseUser,
            ReadCollection,
            ManageClassrooms,
            ManageGroups,
            AssignRoles,
        ],
        target: Target::FacilityAndWithin,
    },
    Rule {
        holder: Holder::InFacility("coach"),
        actions: &[ListUsers, ReadUser],
        target: Target::FacilityAndWithin,
    },
    Rule {
        holder: Holder::InFacility("coach"),
        actions: &[ReadCollection, ManageGroups],
        target: Target::Collections,
    },
    Rule {
        holder: Holder::InFacility("assignable_coach"),
        actions: &[ListUsers, ReadUser],
        target: Target::FacilityAndWithin,
    },
    Rule {
        holder: Holder::InClassroom("coach"),
        actions: &[ReadCollection, ManageGroups],
        target: Target::Collections,
    },
];

/// The attributes policy conditions are matched against: none for the
/// whole service (a check on the kind), a user's id for a user.
fn attributes(resource: &Resource) -> Option<serde_json::Value> {
    match resource {
        Resource::Service => None,
        Resource::User { id, .. } => Some(serde_json::json!({ "id": id })),
        Resource::Facility(id) => Some(serde_json::json!({ "id": id })),
        Resource::Collection {
            facility,
            classroom,
        } => Some(serde_json::json!({
            "facility": facility,
            "classroom": classroom,
        })),
    }
}

/// The facility a resource belongs to.
fn facility_of(resource: &Resource) -> Option<uuid::Uuid> {
    match resource {
        Resource::Service => None,
        Resource::Facility(facility) => Some(*facility),
        Resource::User { facility, .. } => *facility,
        Resource::Collection { facility, .. } => Some(*facility),
    }
}

/// The classroom a resource is or is in.
fn classroom_of(resource: &Resource) -> Option<uuid::Uuid> {
    match resource {
        Resource::Collection { classroom, .. } => *classroom,
        _ => None,
    }
}

fn allows(rule: &Rule, actor: &Actor, action: Action, resource: &Resource) -> bool {
    if !rule.actions.contains(&action) {
        return false;
    }
    let held = match rule.holder {
        Holder::Anyone => true,
        Holder::Global(role) => actor.holds(role, Scope::Everywhere),
        Holder::InFacility(role) => facility_of(resource)
            .is_some_and(|facility| actor.holds(role, Scope::Collection(facility))),
        Holder::InClassroom(role) => classroom_of(resource)
            .is_some_and(|classroom| actor.holds(role, Scope::Collection(classroom))),
    };
    held && match rule.target {
        Target::Anything => true,
        Target::Themselves => matches!(resource, Resource::User { id, .. } if *id == actor.user_id),
        Target::FacilityAndWithin => matches!(
            resource,
            Resource::Facility(_) | Resource::User { .. } | Resource::Collection { .. }
        ),
        Target::Collections => matches!(resource, Resource::Collection { .. }),
    }
}

/// Whether `actor` may do `action` on `resource`: `Ok`, or 403.
pub fn authorize(actor: &Actor, action: Action, resource: &Resource) -> Result<(), Error> {
    let allowed = match action {
        Policy(verb, subject) => super::policies::allows(
            &actor.policies,
            actor.user_id,
            verb,
            subject,
            attributes(resource).as_ref(),
        ),
        _ => RULES
            .iter()
            .any(|rule| allows(rule, actor, action, resource)),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// Which users a list shows an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every user of every facility.
    Everyone,
    /// The users of one facility.
    Facility(uuid::Uuid),
    /// Only the actor.
    Themselves,
}

/// What a user list shows `actor`: every facility when they may list the
/// service's users, their own facility when they may list it, else only
/// themselves.
pub fn visible_users(actor: &Actor) -> Visibility {
    if authorize(actor, ListUsers, &Resource::Service).is_ok() {
        return Visibility::Everyone;
    }
    match actor.facility {
        Some(facility) if authorize(actor, ListUsers, &Resource::Facility(facility)).is_ok() => {
            Visibility::Facility(facility)
        }
        _ => Visibility::Themselves,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::super::Grant;
    use super::*;
    use crate::store::Loaded;

    fn actor(grants: &[(&str, Scope)], facility: Option<Uuid>) -> Actor {
        Actor {
            user_id: Uuid::from_u128(1),
            session_id: Uuid::from_u128(2),
            grants: grants
                .iter()
                .map(|(role, scope)| Grant {
                    role: role.to_string(),
                    scope: *scope,
                })
                .collect(),
            facility,
            user: Arc::new(Loaded {
                state: aggregates::User::default(),
                version: 0,
                snapshot: 0,
            }),
            policies: Vec::new(),
        }
    }

    const HOME: Uuid = Uuid::from_u128(10);
    const OTHER: Uuid = Uuid::from_u128(11);
    const CLASSROOM: Uuid = Uuid::from_u128(12);
    const ME: Uuid = Uuid::from_u128(1);
    const PEER: Uuid = Uuid::from_u128(3);

    fn peer_in(facility: Uuid) -> Resource {
        Resource::User {
            id: PEER,
            facility: Some(facility),
        }
    }

    const OTHER_ROOM: Uuid = Uuid::from_u128(13);

    fn room(facility: Uuid, classroom: Option<Uuid>) -> Resource {
        Resource::Collection {
            facility,
            classroom,
        }
    }

    fn myself() -> Resource {
        Resource::User {
            id: ME,
            facility: Some(HOME),
        }
    }

    /// Every rule, allowed and denied: (who, action, on what, allowed).
    #[test]
    fn the_rules_as_a_table() {
        let administrator = actor(&[("admin", Scope::Everywhere)], Some(HOME));
        let editor = actor(&[("editor", Scope::Everywhere)], None);
        let plain = actor(&[], None);
        let learner = actor(&[], Some(HOME));
        let facility_admin = actor(&[("admin", Scope::Collection(HOME))], Some(HOME));
        let coach = actor(&[("coach", Scope::Collection(HOME))], Some(HOME));
        let assignable = actor(&[("assignable_coach", Scope::Collection(HOME))], Some(HOME));
        let classroom_coach = actor(&[("coach", Scope::Collection(CLASSROOM))], Some(HOME));
        let table: Vec<(&str, &Actor, Action, Resource, bool)> = vec![
            // The administrator does anything, anywhere.
            (
                "admin",
                &administrator,
                ManageAccounts,
                Resource::Service,
                true,
            ),
            (
                "admin",
                &administrator,
                ManageCommunities,
                Resource::Service,
                true,
            ),
            ("admin", &administrator, ListUsers, Resource::Service, true),
            (
                "admin",
                &administrator,
                ListUsers,
                Resource::Facility(OTHER),
                true,
            ),
            (
                "admin",
                &administrator,
                CreateUser,
                Resource::Facility(OTHER),
                true,
            ),
            ("admin", &administrator, ReadUser, peer_in(OTHER), true),
            ("admin", &administrator, EditUser, peer_in(OTHER), true),
            ("admin", &administrator, DeleteUser, peer_in(OTHER), true),
            ("admin", &administrator, EraseUser, peer_in(OTHER), true),
            // Another global role is no administrator.
            ("editor", &editor, ManageAccounts, Resource::Service, false),
            (
                "editor",
                &editor,
                ManageCommunities,
                Resource::Service,
                false,
            ),
            ("editor", &editor, ListUsers, Resource::Service, false),
            // Without roles: themselves only.
            ("plain", &plain, ManageAccounts, Resource::Service, false),
            ("plain", &plain, ManageCommunities, Resource::Service, false),
            ("learner", &learner, ReadUser, myself(), true),
            ("learner", &learner, EditUser, myself(), true),
            ("learner", &learner, DeleteUser, myself(), true),
            ("learner", &learner, ReadUser, peer_in(HOME), false),
            ("learner", &learner, EditUser, peer_in(HOME), false),
            ("learner", &learner, DeleteUser, peer_in(HOME), false),
            // Erasure is an administrator's act, not even one's own.
            ("learner", &learner, EraseUser, myself(), false),
            (
                "learner",
                &learner,
                ListUsers,
                Resource::Facility(HOME),
                false,
            ),
            (
                "learner",
                &learner,
                CreateUser,
                Resource::Facility(HOME),
                false,
            ),
            // A facility admin manages their facility, nothing else.
            (
                "facility admin",
                &facility_admin,
                ListUsers,
                Resource::Facility(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                CreateUser,
                Resource::Facility(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                ReadUser,
                peer_in(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                EditUser,
                peer_in(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                DeleteUser,
                peer_in(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                EraseUser,
                peer_in(HOME),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                EraseUser,
                peer_in(OTHER),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                ListUsers,
                Resource::Facility(OTHER),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                CreateUser,
                Resource::Facility(OTHER),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                ReadUser,
                peer_in(OTHER),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                EditUser,
                peer_in(OTHER),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                ListUsers,
                Resource::Service,
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                ManageAccounts,
                Resource::Service,
                false,
            ),
            // Coaches read their facility, never change it.
            ("coach", &coach, ListUsers, Resource::Facility(HOME), true),
            ("coach", &coach, ReadUser, peer_in(HOME), true),
            ("coach", &coach, EditUser, peer_in(HOME), false),
            ("coach", &coach, DeleteUser, peer_in(HOME), false),
            ("coach", &coach, EraseUser, peer_in(HOME), false),
            ("coach", &coach, CreateUser, Resource::Facility(HOME), false),
            ("coach", &coach, ReadUser, peer_in(OTHER), false),
            ("coach", &coach, EditUser, myself(), true),
            (
                "assignable coach",
                &assignable,
                ListUsers,
                Resource::Facility(HOME),
                true,
            ),
            (
                "assignable coach",
                &assignable,
                ReadUser,
                peer_in(HOME),
                true,
            ),
            (
                "assignable coach",
                &assignable,
                EditUser,
                peer_in(HOME),
                false,
            ),
            (
                "assignable coach",
                &assignable,
                CreateUser,
                Resource::Facility(HOME),
                false,
            ),
            // A classroom's coach holds nothing facility-wide.
            (
                "classroom coach",
                &classroom_coach,
                ListUsers,
                Resource::Facility(HOME),
                false,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ReadUser,
                peer_in(HOME),
                false,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ReadUser,
                myself(),
                true,
            ),
            // Collections: admins manage them, coaches read them and
            // manage groups, each where they hold their role.
            (
                "admin",
                &administrator,
                ManageClassrooms,
                room(OTHER, Some(OTHER_ROOM)),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                ManageClassrooms,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                ManageClassrooms,
                room(HOME, None),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                AssignRoles,
                room(HOME, None),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                ManageGroups,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "facility admin",
                &facility_admin,
                ReadCollection,
                room(OTHER, Some(OTHER_ROOM)),
                false,
            ),
            (
                "facility admin",
                &facility_admin,
                AssignRoles,
                room(OTHER, None),
                false,
            ),
            (
                "coach",
                &coach,
                ReadCollection,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "coach",
                &coach,
                ManageGroups,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "coach",
                &coach,
                ManageClassrooms,
                room(HOME, Some(CLASSROOM)),
                false,
            ),
            ("coach", &coach, AssignRoles, room(HOME, None), false),
            (
                "coach",
                &coach,
                ReadCollection,
                room(OTHER, Some(OTHER_ROOM)),
                false,
            ),
            (
                "assignable coach",
                &assignable,
                ReadCollection,
                room(HOME, Some(CLASSROOM)),
                false,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ReadCollection,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ManageGroups,
                room(HOME, Some(CLASSROOM)),
                true,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ReadCollection,
                room(HOME, Some(OTHER_ROOM)),
                false,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ReadCollection,
                room(HOME, None),
                false,
            ),
            (
                "classroom coach",
                &classroom_coach,
                ManageClassrooms,
                room(HOME, Some(CLASSROOM)),
                false,
            ),
            (
                "learner",
                &learner,
                ReadCollection,
                room(HOME, Some(CLASSROOM)),
                false,
            ),
            // A user of no facility is no facility's user.
            (
                "facility admin",
                &facility_admin,
                ReadUser,
                Resource::User {
                    id: PEER,
                    facility: None,
                },
                false,
            ),
        ];
        for (who, actor, action, resource, allowed) in table {
            assert_eq!(
                authorize(actor, action, &resource).is_ok(),
                allowed,
                "{who} {action:?} {resource:?}"
            );
        }
    }

    #[test]
    fn lists_show_what_the_rules_let_an_actor_list() {
        let cases = [
            (
                actor(&[("admin", Scope::Everywhere)], Some(HOME)),
                Visibility::Everyone,
            ),
            (
                actor(&[("admin", Scope::Collection(HOME))], Some(HOME)),
                Visibility::Facility(HOME),
            ),
            (
                actor(&[("coach", Scope::Collection(HOME))], Some(HOME)),
                Visibility::Facility(HOME),
            ),
            (
                actor(&[("assignable_coach", Scope::Collection(HOME))], Some(HOME)),
                Visibility::Facility(HOME),
            ),
            (
                actor(&[("coach", Scope::Collection(CLASSROOM))], Some(HOME)),
                Visibility::Themselves,
            ),
            // A role for another facility than one's own shows nothing more.
            (
                actor(&[("admin", Scope::Collection(OTHER))], Some(HOME)),
                Visibility::Themselves,
            ),
            (actor(&[], Some(HOME)), Visibility::Themselves),
            (
                actor(&[("editor", Scope::Everywhere)], None),
                Visibility::Themselves,
            ),
        ];
        for (actor, expected) in cases {
            assert_eq!(visible_users(&actor), expected, "{:?}", actor.grants);
        }
    }

    /// Policy questions go through the same `authorize`, answered by the
    /// statements the actor carries: on the kind, and on a user resource
    /// (conditions on its `id`); the rule table never answers them, not
    /// even for the administrator without statements.
    #[test]
    fn policy_questions_are_answered_by_the_statements_the_actor_carries() {
        let mut reader = actor(&[], None);
        reader.policies =
            super::super::policies::predefined_statements("predefined_read_only_user")
                .expect("predefined")
                .to_vec();
        assert!(authorize(&reader, Policy("read", "users"), &Resource::Service).is_ok());
        assert!(authorize(&reader, Policy("manage", "all"), &Resource::Service).is_err());
        let mut own = actor(&[], None);
        own.policies = super::super::policies::parse(&serde_json::json!([
            { "action": "update", "subject": "users", "conditions": { "id": "${user.id}" } }
        ]))
        .expect("valid");
        let me = Resource::User {
            id: ME,
            facility: None,
        };
        let peer = Resource::User {
            id: PEER,
            facility: None,
        };
        assert!(authorize(&own, Policy("update", "users"), &me).is_ok());
        assert!(authorize(&own, Policy("update", "users"), &peer).is_err());
        let bare_admin = actor(&[(ADMINISTRATOR, Scope::Everywhere)], None);
        assert!(authorize(&bare_admin, Policy("read", "users"), &Resource::Service).is_err());
    }
}
