//! Which sessions a secret proves live: refresh tokens and cookies alike
//! (each only as its own transport), introspection (RFC 7662) and
//! revocation (RFC 7009).

use aggregates::{EndReason, Session, User};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{authenticate, end_session, Transport};
use crate::auth::tokens::{hash_token, AccessClaims, Tokens};
use crate::service::RequestContext;
use crate::{App, Error};

/// What introspection (RFC 7662) tells about a token.
#[derive(Debug, Clone)]
pub enum Introspected {
    /// A live access token.
    Access(std::sync::Arc<AccessClaims>),
    /// A live refresh token (the current one of a live session).
    Refresh {
        /// Its user.
        user_id: Uuid,
        /// Its session.
        session_id: Uuid,
        /// When the session ends at the latest.
        expires_at: DateTime<Utc>,
    },
    /// A live session cookie (a cookie surface's session).
    Cookie(super::cookie::CookiePrincipal),
}

/// A live session as its secret proves it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// Its user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// When the credentials were checked.
    pub auth_time: DateTime<Utc>,
    /// Its expiry as recorded in the log.
    pub recorded_expires_at: DateTime<Utc>,
    /// Usable (not waiting for an account to be chosen).
    pub active: bool,
    /// The account it acts in.
    pub account: Option<Uuid>,
    /// The surface it was started through.
    pub surface: String,
}

/// The live session `secret` (a refresh token, or a session cookie) is the
/// current secret of, if any: carried by `transport` (cookie sessions only
/// through their cookie, bearer sessions only through their refresh token)
/// and, when given, started through `surface` (a cookie of one surface is
/// no cookie of another); not ended, not expired — `later_expiry` is an
/// expiry this instance knows of but has not recorded yet —, not cut off,
/// its user live. One check for refresh tokens and cookies alike; whether
/// it is active yet (an account chosen, where one is to be) is the
/// caller's to ask.
pub async fn live_session(
    app: &App,
    secret: &str,
    transport: Transport,
    surface: Option<&str>,
    later_expiry: Option<DateTime<Utc>>,
) -> Result<Option<LiveSession>, Error> {
    let Some(session_id) = Tokens::refresh_session(secret) else {
        return Ok(None);
    };
    let session = app
        .store
        .load::<Session>(&session_id.to_string())
        .await?
        .state;
    let (Some(user_id), Some(auth_time), Some(recorded)) =
        (session.user_id(), session.auth_time(), session.expires_at())
    else {
        return Ok(None);
    };
    let right_kind = session.transport() == transport
        && surface.is_none_or(|surface| session.surface() == surface);
    let expires_at = later_expiry.map_or(recorded, |later| later.max(recorded));
    if !right_kind
        || !session.current_refresh_token_is(&hash_token(secret))
        || session.ended().is_some()
        || expires_at <= Utc::now()
        || app.denylist.denies(user_id, session_id, auth_time)
    {
        return Ok(None);
    }
    let user = app.store.load::<User>(&user_id.to_string()).await?.state;
    let cut_off = user
        .cutoff()
        .is_some_and(|cutoff| cutoff.revokes(session_id, auth_time));
    if cut_off || !user.is_active() || user.is_disabled() {
        return Ok(None);
    }
    Ok(Some(LiveSession {
        user_id,
        session_id,
        auth_time,
        recorded_expires_at: recorded,
        active: session.is_active(),
        account: session.account().map(|(account, _)| account),
        surface: session.surface().to_string(),
    }))
}

/// The live session a refresh token is the current token of, if any.
async fn live_refresh(
    app: &App,
    token: &str,
) -> Result<Option<(Uuid, Uuid, DateTime<Utc>)>, Error> {
    Ok(live_session(app, token, Transport::Bearer, None, None)
        .await?
        .filter(|live| live.active)
        .map(|live| (live.user_id, live.session_id, live.recorded_expires_at)))
}

/// Introspects an access or refresh token, or a session cookie's value
/// (hint `session_cookie`: what an application behind the same proxy, such
/// as Kolibri with its plugin, checks a signed-in browser by), with the
/// service's own checks (signature, expiry, deny-list, cutoffs; for
/// refresh tokens and cookies the Session aggregate). `None`: not active,
/// for whatever reason.
pub async fn introspect(
    app: &App,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<Introspected>, Error> {
    if hint == Some("session_cookie") {
        let live = super::cookie::resolve(app, token, None).await?;
        return Ok(live.map(Introspected::Cookie));
    }
    let access_first = hint != Some("refresh_token");
    if access_first {
        if let Ok(principal) = authenticate(app, token) {
            return Ok(Some(Introspected::Access(principal.claims)));
        }
    }
    if let Some((user_id, session_id, expires_at)) = live_refresh(app, token).await? {
        return Ok(Some(Introspected::Refresh {
            user_id,
            session_id,
            expires_at,
        }));
    }
    if !access_first {
        if let Ok(principal) = authenticate(app, token) {
            return Ok(Some(Introspected::Access(principal.claims)));
        }
    }
    Ok(None)
}

/// Revokes (RFC 7009) the session of an access or refresh token: all its
/// tokens stop working at once. Unknown or inactive tokens are ignored.
pub async fn revoke(app: &App, token: &str, ctx: &RequestContext) -> Result<(), Error> {
    let target = match authenticate(app, token) {
        Ok(principal) => Some((principal.user_id, principal.session_id)),
        Err(_) => live_refresh(app, token)
            .await?
            .map(|(user_id, session_id, _)| (user_id, session_id)),
    };
    let Some((user_id, session_id)) = target else {
        return Ok(());
    };
    end_session(app, user_id, session_id, EndReason::Revoked, ctx).await
}
