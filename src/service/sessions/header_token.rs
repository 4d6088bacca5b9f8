//! Header-token sessions ([`Transport::HeaderToken`]): an opaque token the
//! client sends in a header on every request (only its hash is recorded),
//! with an absolute expiry the client extends explicitly (not by use).
//! A user may hold several. Checked like cookie sessions, through the same
//! cache ([`super::cookie::resolve_secret`]): an ended session is refused
//! at once on every instance (the deny-list), a cached one is checked
//! against the log again every minute.
//!
//! A session may start inactive: a one-time sign-in token (single sign-on
//! hands one to the browser) that proves nothing by itself and is only
//! [`exchange`]d, once, for an active session.

use aggregates::{EndReason, Session, SessionCommand, User};
use chrono::{DateTime, Utc};

use super::cookie::{resolve_secret, CookiePrincipal};
use super::login::NewSession;
use super::{record_session, Started, Transport, Verified};
use crate::auth::tokens::{hash_token, Tokens};
use crate::service::RequestContext;
use crate::{App, Error};

/// What a presented token is.
#[derive(Debug, Clone)]
pub enum Checked {
    /// A live, active session's token.
    Live(CookiePrincipal),
    /// The current token of a session that ran past its expiry (and was
    /// not ended): clients tell this apart from a wrong token.
    Expired,
    /// Anything else: unknown, wrong, ended, cut off, of another transport
    /// or surface, not active.
    Invalid,
}

/// A header-token session to start.
#[derive(Debug, Clone, Copy)]
pub struct NewToken {
    /// Seconds from the credentials' check to its expiry.
    pub ttl: u64,
    /// Remember-me asked for (recorded).
    pub remember_me: bool,
    /// The surface starting it.
    pub surface: &'static str,
    /// `false`: a one-time sign-in token, only good for [`exchange`].
    pub active: bool,
}

/// Starts a header-token session for verified credentials; the token is
/// the returned secret.
pub async fn start(
    app: &App,
    verified: &Verified,
    token: NewToken,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    let new = NewSession {
        ttl: token.ttl,
        remember_me: token.remember_me,
        surface: token.surface,
        transport: Transport::HeaderToken,
        active: token.active,
        account: None,
    };
    let started = record_session(app, verified, new, ctx).await?;
    super::cookie::remember(app, verified, &started, new);
    Ok(started)
}

/// What `token` is, for requests through `surface`.
pub async fn check(app: &App, token: &str, surface: &str) -> Result<Checked, Error> {
    let resolved = resolve_secret(app, token, Transport::HeaderToken, Some(surface)).await?;
    match resolved {
        Some(principal) if principal.active => Ok(Checked::Live(principal)),
        Some(_) => Ok(Checked::Invalid),
        None if expired(app, token, surface).await? => Ok(Checked::Expired),
        None => Ok(Checked::Invalid),
    }
}

/// Whether `token` is the current token of a session of `surface` that
/// was not ended but ran past its expiry.
async fn expired(app: &App, token: &str, surface: &str) -> Result<bool, Error> {
    let Some(session_id) = Tokens::refresh_session(token) else {
        return Ok(false);
    };
    let session = app
        .store
        .load::<Session>(&session_id.to_string())
        .await?
        .state;
    Ok(session.transport() == Transport::HeaderToken
        && session.surface() == surface
        && session.current_refresh_token_is(&hash_token(token))
        && session.ended().is_none()
        && session.expires_at().is_some_and(|at| at <= Utc::now()))
}

/// Moves a live session's expiry to `ttl` seconds from now (never
/// earlier than it is); returns the expiry.
pub async fn extend(
    app: &App,
    principal: &CookiePrincipal,
    ttl: u64,
    ctx: &RequestContext,
) -> Result<DateTime<Utc>, Error> {
    let expires_at = Utc::now() + chrono::Duration::seconds(ttl as i64);
    if expires_at <= principal.expires_at {
        return Ok(principal.expires_at);
    }
    app.store
        .execute::<Session>(
            &principal.session_id.to_string(),
            SessionCommand::Extend { expires_at },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    app.cookie_sessions
        .extended(principal.session_id, expires_at);
    Ok(expires_at)
}

/// Ends the session `token` names, live or expired (signing out). A
/// token that names no session of `surface` ends nothing.
pub async fn end(app: &App, token: &str, surface: &str, ctx: &RequestContext) -> Result<(), Error> {
    let Some(session_id) = Tokens::refresh_session(token) else {
        return Ok(());
    };
    let session = app
        .store
        .load::<Session>(&session_id.to_string())
        .await?
        .state;
    let ours = session.transport() == Transport::HeaderToken
        && session.surface() == surface
        && session.current_refresh_token_is(&hash_token(token));
    let (true, Some(user_id), None) = (ours, session.user_id(), session.ended()) else {
        return Ok(());
    };
    app.cookie_sessions.forget(session_id);
    super::end_session(app, user_id, session_id, EndReason::Logout, ctx).await
}

/// Ends the session of `token` (a one-time sign-in token, or a live
/// token) so that it is used once, and answers the credentials it proved,
/// for a new session — when its user is the one the client names
/// (`named`; a wrong name leaves the token alone). Two exchanges of one
/// token: one wins, the other finds it ended.
pub async fn exchange(
    app: &App,
    token: &str,
    surface: &str,
    named: impl FnOnce(&User) -> bool,
    ctx: &RequestContext,
) -> Result<Result<Verified, Checked>, Error> {
    let Some(session_id) = Tokens::refresh_session(token) else {
        return Ok(Err(Checked::Invalid));
    };
    let loaded = app.store.load::<Session>(&session_id.to_string()).await?;
    let session = &loaded.state;
    let ours = session.transport() == Transport::HeaderToken
        && session.surface() == surface
        && session.current_refresh_token_is(&hash_token(token))
        && session.ended().is_none();
    let (true, Some(user_id), Some(auth_time), Some(expires_at)) = (
        ours,
        session.user_id(),
        session.auth_time(),
        session.expires_at(),
    ) else {
        return Ok(Err(Checked::Invalid));
    };
    if expires_at <= Utc::now() {
        return Ok(Err(Checked::Expired));
    }
    if app.denylist.denies(user_id, session_id, auth_time) {
        return Ok(Err(Checked::Invalid));
    }
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let cut_off = user
        .state
        .cutoff()
        .is_some_and(|cutoff| cutoff.revokes(session_id, auth_time));
    if cut_off || !user.state.is_active() || user.state.is_disabled() || !named(&user.state) {
        return Ok(Err(Checked::Invalid));
    }
    let ended = app
        .store
        .execute::<Session>(
            &session_id.to_string(),
            SessionCommand::End {
                reason: EndReason::Exchanged,
            },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    if ended.events.is_empty() {
        // Another exchange ended it first.
        return Ok(Err(Checked::Invalid));
    }
    app.cookie_sessions.forget(session_id);
    app.denylist.end_session(session_id, Utc::now());
    Ok(Ok(Verified {
        user,
        user_id,
        auth_time,
    }))
}
