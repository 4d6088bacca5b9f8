//! What administrators do to a user: disable and enable the account, end
//! all their sessions, force a password reset, grant and revoke roles.
//! Every action is an event on the User, with the administrator as actor.

use aggregates::{User, UserCommand, UserEvent};
use uuid::Uuid;

use super::sessions::Principal;
use super::{require_admin, RequestContext};
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
}

/// Carries out `action` on `user_id` (404 when there is no such user).
pub async fn act(
    app: &App,
    principal: &Principal,
    user_id: Uuid,
    action: Action,
    ctx: &RequestContext,
) -> Result<(), Error> {
    require_admin(principal)?;
    let metadata = ctx.metadata().acting_as(principal.user_id);
    let command = match action {
        Action::Disable => UserCommand::Disable,
        Action::Enable => UserCommand::Enable,
        Action::EndSessions => UserCommand::RevokeSessions { keep_session: None },
        Action::GrantRole(role) => UserCommand::GrantRole { role },
        Action::RevokeRole(role) => UserCommand::RevokeRole { role },
        Action::ForcePasswordReset => {
            let admin_ctx = ctx.clone();
            if !super::recovery::issue_reset(app, user_id, &admin_ctx).await? {
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
    app.settle(committed.written.as_ref()).await
}
