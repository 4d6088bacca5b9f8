//! Ending a session.

use aggregates::{EndReason, Session, SessionCommand};
use chrono::Utc;
use uuid::Uuid;

use super::Principal;
use crate::service::RequestContext;
use crate::{App, Error};

/// Ends the caller's session.
pub async fn logout(app: &App, principal: &Principal, ctx: &RequestContext) -> Result<(), Error> {
    end_session(
        app,
        principal.user_id,
        principal.session_id,
        EndReason::Logout,
        ctx,
    )
    .await
}

/// Ends a session of `user_id` (acting as them): recorded, on this
/// instance's deny-list at once, answered once the read models know.
pub async fn end_session(
    app: &App,
    user_id: Uuid,
    session_id: Uuid,
    reason: EndReason,
    ctx: &RequestContext,
) -> Result<(), Error> {
    app.store
        .execute::<Session>(
            &session_id.to_string(),
            SessionCommand::End { reason },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    app.denylist.end_session(session_id, Utc::now());
    Ok(())
}
