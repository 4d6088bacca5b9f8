//! One's own sessions: listing them, ending one, ending all but this one.

use aggregates::{EndReason, Session, SessionCommand, User, UserCommand, UserEvent};
use chrono::Utc;
use uuid::Uuid;

use super::Principal;
use crate::service::RequestContext;
use crate::{App, Error};

/// The caller's sessions that are still live (not ended, not expired),
/// newest first, from the read model.
pub async fn list_own(
    app: &App,
    principal: &Principal,
) -> Result<Vec<projections::sessions::SessionRow>, Error> {
    Ok(
        projections::sessions::live_of_user(app.read_models().await, principal.user_id, Utc::now())
            .await?,
    )
}

/// Ends one of the caller's own sessions (404 for anyone else's).
pub async fn end_own(
    app: &App,
    principal: &Principal,
    session_id: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let id = session_id.to_string();
    let session = app.store.load::<Session>(&id).await?;
    if session.state.user_id() != Some(principal.user_id) {
        return Err(Error::NotFound);
    }
    if session.state.ended().is_some() {
        return Ok(());
    }
    app.store
        .execute_on::<Session>(
            &id,
            session,
            SessionCommand::End {
                reason: EndReason::Revoked,
            },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    app.denylist.end_session(session_id, Utc::now());
    Ok(())
}

/// Ends every session of the caller but the one they act from.
pub async fn end_others(
    app: &App,
    principal: &Principal,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let committed = app
        .store
        .execute::<User>(
            &principal.user_id.to_string(),
            UserCommand::RevokeSessions {
                keep_session: Some(principal.session_id),
            },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    if let Some(cutoff) = committed.events.iter().find_map(UserEvent::cutoff) {
        app.denylist.set_cutoff(principal.user_id, cutoff);
    }
    Ok(())
}
