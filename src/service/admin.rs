//! What administrators do to a user: disable and enable the account, end
//! all their sessions, force a password reset, grant and revoke roles,
//! grant, extend, cancel and recalculate a subscription, index categories.
//! Every action is an event on the User, with the administrator as actor
//! (an action that changes nothing writes nothing).

use aggregates::{User, UserCommand, UserEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::RequestContext;
use crate::access::{self, Actor, Resource};
use crate::{App, Error};

/// One administrative action on a user.
#[derive(Debug, Clone)]
pub enum Action {
    /// Refuse logins and end every session.
    Disable,
    /// Allow logins again.
    Enable,
    /// End every session (the user may log in again).
    EndSessions,
    /// Mail the user a reset link and end every session.
    ForcePasswordReset,
    /// Grant a role.
    GrantRole(String),
    /// Revoke a role.
    RevokeRole(String),
    /// Grant a plan until an instant.
    GrantSubscription {
        /// Plan slug.
        plan: String,
        /// End.
        valid_until: DateTime<Utc>,
    },
    /// Move the plan's end later.
    ExtendSubscription {
        /// New end.
        valid_until: DateTime<Utc>,
    },
    /// Cancel the plan (at its end, or now).
    CancelSubscription {
        /// End it now.
        immediately: bool,
    },
    /// Recompute the subscription's state now.
    RecalculateSubscription,
    /// Recompute the categories.
    IndexCategories,
}

/// The answer to an action nobody offers: 403 for whoever may not manage
/// accounts (they learn nothing of what exists), else 404.
pub fn no_such_action(actor: &Actor) -> Error {
    match access::authorize(actor, access::Action::ManageAccounts, &Resource::Service) {
        Ok(()) => Error::NotFound,
        Err(refused) => refused,
    }
}

/// Carries out `action` on `user_id` (403 unless the actor manages
/// accounts; 404 when there is no such user).
pub async fn act(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
    action: Action,
    ctx: &RequestContext,
) -> Result<(), Error> {
    access::authorize(actor, access::Action::ManageAccounts, &Resource::Service)?;
    let metadata = ctx.metadata().acting_as(actor.user_id);
    let command = match action {
        Action::Disable => UserCommand::Disable,
        Action::Enable => UserCommand::Enable,
        Action::EndSessions => UserCommand::RevokeSessions { keep_session: None },
        Action::GrantRole(role) => UserCommand::GrantRole { role },
        Action::RevokeRole(role) => UserCommand::RevokeRole { role },
        Action::GrantSubscription { plan, valid_until } => {
            UserCommand::GrantSubscription { plan, valid_until }
        }
        Action::ExtendSubscription { valid_until } => {
            UserCommand::ExtendSubscription { valid_until }
        }
        Action::CancelSubscription { immediately } => {
            UserCommand::CancelSubscription { immediately }
        }
        Action::RecalculateSubscription => UserCommand::RecalculateSubscription,
        Action::IndexCategories => UserCommand::IndexCategories {
            community_names: community_names(app, user_id).await?,
        },
        Action::ForcePasswordReset => {
            if !super::recovery::issue_reset(app, user_id, &metadata).await? {
                return Err(Error::NotFound);
            }
            UserCommand::RevokeSessions { keep_session: None }
        }
    };
    let committed = app
        .store
        .execute::<User>(&user_id.to_string(), command, &metadata)
        .await?;
    if let Some(cutoff) = committed.events.iter().find_map(UserEvent::cutoff) {
        app.denylist.set_cutoff(user_id, cutoff);
    }
    Ok(())
}

/// The names of the communities `user_id` belongs to, as the read model
/// knows them (one query; an unknown user has none, and the command
/// answers 404).
async fn community_names(app: &App, user_id: Uuid) -> Result<Vec<String>, Error> {
    Ok(super::communities::of_user(app, user_id)
        .await?
        .into_iter()
        .map(|community| community.name)
        .collect())
}
