//! Refreshing: a refresh token for a new access token and its successor.

use aggregates::{Session, SessionCommand, SessionEvent, User};

use super::{Issued, Transport};
use crate::auth::tokens::{hash_token, Tokens};
use crate::service::RequestContext;
use crate::{App, Error};

/// Exchanges a refresh token for a new access token and its successor.
///
/// A token that was already rotated away ends the session (after the grace
/// period), and every token of the session stops working at once.
pub async fn refresh(app: &App, presented: &str, ctx: &RequestContext) -> Result<Issued, Error> {
    let session_id = Tokens::refresh_session(presented).ok_or(Error::Unauthenticated)?;
    let session = app.store.load::<Session>(&session_id.to_string()).await?;
    // Only a bearer session's secret is a refresh token (a cookie's is not).
    if session.state.transport() != Transport::Bearer {
        return Err(Error::Unauthenticated);
    }
    let (Some(user_id), Some(auth_time), Some(session_expires_at)) = (
        session.state.user_id(),
        session.state.auth_time(),
        session.state.expires_at(),
    ) else {
        return Err(Error::Unauthenticated);
    };
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let successor = app.tokens.successor(presented, session_id);
    let command = SessionCommand::Refresh {
        presented_hash: hash_token(presented),
        successor_hash: hash_token(&successor),
        reuse_grace: chrono::Duration::seconds(app.config.refresh_reuse_grace as i64),
        user_cutoff: user.state.cutoff(),
    };
    let committed = app
        .store
        .execute_on::<Session>(
            &session_id.to_string(),
            session,
            command,
            &ctx.metadata().acting_as(user_id),
        )
        .await
        .map_err(|error| match error {
            Error::NotFound | Error::Conflict => Error::Unauthenticated,
            other => other,
        })?;
    if let Some(SessionEvent::SessionEnded { at, reason }) = committed.events.last() {
        tracing::warn!(%session_id, reason = reason.as_str(), "refresh token reuse; session revoked");
        app.denylist.end_session(session_id, *at);
        return Err(Error::Unauthenticated);
    }
    let access = app
        .tokens
        .issue_access(user_id, session_id, user.state.roles(), auth_time)?;
    Ok(Issued {
        access,
        refresh_token: successor,
        session_expires_at,
        session_id,
    })
}
