//! Cookie sessions ([`Transport::Cookie`]): the cookie holds an opaque
//! secret naming a [`Session`] (only its hash is recorded); the session ends
//! after an idle timeout that a keep-alive slides. Which cookie carries it
//! is the surface's business. Header-token sessions
//! ([`super::header_token`]) are the same kind of opaque secret and share
//! this cache and its checks ([`resolve_secret`]).
//!
//! Checking a cookie costs no database round trip while the session is in
//! this instance's cache (re-validated against the log every
//! [`RECHECK`], well inside the deny-list's memory of ended sessions, so a
//! logout or a cutoff on any instance is seen at once). Keep-alives slide
//! the expiry in memory and record it (`SessionExtended`) only when it moved
//! by a quarter of the idle timeout since the last record: at most four
//! events per idle period, not one per request. Another instance that has
//! not seen the latest keep-alive honours the recorded expiry, so a session
//! may end there up to a quarter of the idle timeout early, never late.

use std::time::{Duration, Instant};

use aggregates::{EndReason, Session, SessionCommand, TokenHash};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use uuid::Uuid;

use super::login::NewSession;
use super::{record_session, Started, Transport, Verified};
use crate::auth::tokens::{hash_token, Tokens};
use crate::service::RequestContext;
use crate::{App, Error};

/// How long a cached session is trusted before it is checked against the
/// log again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// This instance's cache of live cookie sessions.
#[derive(Debug, Default)]
pub struct CookieSessions {
    live: DashMap<Uuid, Live>,
}

#[derive(Debug, Clone)]
struct Live {
    token_hash: TokenHash,
    user_id: Uuid,
    auth_time: DateTime<Utc>,
    /// The expiry as this instance knows it (keep-alives included).
    expires_at: DateTime<Utc>,
    /// The expiry last recorded in the log.
    recorded_expires_at: DateTime<Utc>,
    /// Usable (not waiting for an account to be chosen).
    active: bool,
    /// The account it acts in.
    account: Option<Uuid>,
    /// How its secret travels (a cookie is no header token).
    transport: Transport,
    /// The surface it was started through (a cookie of one surface is no
    /// cookie of another, cached or not).
    surface: std::sync::Arc<str>,
    checked_at: Instant,
}

impl CookieSessions {
    /// Records an expiry this instance just recorded in the log.
    pub(super) fn extended(&self, session: Uuid, expires_at: DateTime<Utc>) {
        if let Some(mut live) = self.live.get_mut(&session) {
            live.expires_at = live.expires_at.max(expires_at);
            live.recorded_expires_at = live.recorded_expires_at.max(expires_at);
        }
    }

    /// Forgets a session (ended here).
    pub(super) fn forget(&self, session: Uuid) {
        self.live.remove(&session);
    }

    /// Forgets sessions that are over.
    pub fn prune(&self) {
        let now = Utc::now();
        self.live.retain(|_, live| live.expires_at > now);
    }
}

impl crate::consumers::feed::FeedListener for CookieSessions {
    fn session_changed(&self, session: Uuid) {
        // Checked against the log again on its next use.
        self.live.remove(&session);
    }
}

/// The caller behind a live session cookie (ids only: the secret stays in
/// the cookie).
#[derive(Debug, Clone)]
pub struct CookiePrincipal {
    /// The user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// When it ends unless kept alive.
    pub expires_at: DateTime<Utc>,
    /// Usable (not waiting for an account to be chosen).
    pub active: bool,
    /// The account it acts in.
    pub account: Option<Uuid>,
}

/// Starts a cookie session for verified credentials; the cookie's value is
/// the returned secret.
pub async fn start(
    app: &App,
    verified: &Verified,
    surface: &'static str,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    start_in(app, verified, surface, Account::None, ctx).await
}

/// Which account a new cookie session acts in.
#[derive(Debug, Clone, Copy)]
pub enum Account {
    /// None: accounts are not this surface's business.
    None,
    /// This one.
    Chosen(Uuid),
    /// One still to be chosen: the session is not active until then.
    ToChoose,
}

/// [`start`], acting in an account.
pub async fn start_in(
    app: &App,
    verified: &Verified,
    surface: &'static str,
    account: Account,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    let (active, account) = match account {
        Account::None => (true, None),
        Account::Chosen(account) => (true, Some(account)),
        Account::ToChoose => (false, None),
    };
    let new = NewSession {
        ttl: app.config.cookie_session_idle,
        remember_me: false,
        surface,
        transport: Transport::Cookie,
        active,
        account,
    };
    let started = record_session(app, verified, new, ctx).await?;
    remember(app, verified, &started, new);
    Ok(started)
}

/// Caches a session just started, so its first uses cost no load.
pub(super) fn remember(app: &App, verified: &Verified, started: &Started, new: NewSession) {
    app.cookie_sessions.live.insert(
        started.session_id,
        Live {
            token_hash: hash_token(&started.secret),
            user_id: verified.user_id,
            auth_time: verified.auth_time,
            expires_at: started.expires_at,
            recorded_expires_at: started.expires_at,
            active: new.active,
            account: new.account,
            transport: new.transport,
            surface: new.surface.into(),
            checked_at: Instant::now(),
        },
    );
}

/// The live, active cookie session a cookie proves, if any: started
/// through `surface` (any, for `None`: introspection by a trusted client),
/// its current secret, not ended, not idle past its expiry, not cut off,
/// not waiting for an account to be chosen.
pub async fn resolve(
    app: &App,
    cookie: &str,
    surface: Option<&str>,
) -> Result<Option<CookiePrincipal>, Error> {
    Ok(resolve_any(app, cookie, surface)
        .await?
        .filter(|principal| principal.active))
}

/// [`resolve`], also for a session still waiting for its account.
pub async fn resolve_any(
    app: &App,
    cookie: &str,
    surface: Option<&str>,
) -> Result<Option<CookiePrincipal>, Error> {
    resolve_secret(app, cookie, Transport::Cookie, surface).await
}

/// The live session an opaque secret carried by `transport` proves (also
/// one not active yet), from this instance's cache while it is fresh.
pub(super) async fn resolve_secret(
    app: &App,
    secret: &str,
    transport: Transport,
    surface: Option<&str>,
) -> Result<Option<CookiePrincipal>, Error> {
    let cookie = secret;
    let Some(session_id) = Tokens::refresh_session(cookie) else {
        return Ok(None);
    };
    let presented = hash_token(cookie);
    let now = Utc::now();
    let cached = app
        .cookie_sessions
        .live
        .get(&session_id)
        .map(|l| l.clone())
        .filter(|l| l.token_hash.matches(&presented) && l.transport == transport)
        .filter(|l| surface.is_none_or(|wanted| &*l.surface == wanted));
    if let Some(live) = &cached {
        if live.checked_at.elapsed() < RECHECK {
            if live.expires_at <= now
                || app
                    .denylist
                    .denies(live.user_id, session_id, live.auth_time)
            {
                app.cookie_sessions.live.remove(&session_id);
                return Ok(None);
            }
            return Ok(Some(CookiePrincipal {
                user_id: live.user_id,
                session_id,
                expires_at: live.expires_at,
                active: live.active,
                account: live.account,
            }));
        }
    }
    // This instance's keep-alives may be ahead of the log.
    let later = cached.as_ref().map(|l| l.expires_at);
    let Some(live) = super::live_session(app, cookie, transport, surface, later).await? else {
        app.cookie_sessions.live.remove(&session_id);
        return Ok(None);
    };
    let (user_id, auth_time, recorded) = (live.user_id, live.auth_time, live.recorded_expires_at);
    let (active, account) = (live.active, live.account);
    let started_through: std::sync::Arc<str> = live.surface.as_str().into();
    let expires_at = later.map_or(recorded, |l| l.max(recorded));
    app.cookie_sessions.live.insert(
        session_id,
        Live {
            token_hash: presented,
            user_id,
            auth_time,
            expires_at,
            recorded_expires_at: recorded,
            active,
            account,
            transport,
            surface: started_through,
            checked_at: Instant::now(),
        },
    );
    Ok(Some(CookiePrincipal {
        user_id,
        session_id,
        expires_at,
        active,
        account,
    }))
}

/// Slides the session's expiry to a full idle timeout from now; recorded
/// when it moved a quarter of the timeout since the last record.
pub async fn keep_alive(
    app: &App,
    principal: &CookiePrincipal,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let idle = app.config.cookie_session_idle as i64;
    let expires_at = Utc::now() + chrono::Duration::seconds(idle);
    let recorded = {
        let Some(mut live) = app.cookie_sessions.live.get_mut(&principal.session_id) else {
            return Ok(());
        };
        live.expires_at = live.expires_at.max(expires_at);
        live.recorded_expires_at
    };
    if expires_at - recorded < chrono::Duration::seconds(idle / 4) {
        return Ok(());
    }
    let committed = app
        .store
        .execute::<Session>(
            &principal.session_id.to_string(),
            SessionCommand::Extend { expires_at },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await;
    match committed {
        Ok(_) => {
            if let Some(mut live) = app.cookie_sessions.live.get_mut(&principal.session_id) {
                live.recorded_expires_at = live.recorded_expires_at.max(expires_at);
            }
            Ok(())
        }
        // Ended or expired meanwhile: the next request finds out.
        Err(Error::Unauthenticated) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Makes the session act in `account` (the caller checked it is the
/// user's), activating it if it was waiting for the choice.
pub async fn select_account(
    app: &App,
    principal: &CookiePrincipal,
    account: Uuid,
    ctx: &RequestContext,
) -> Result<CookiePrincipal, Error> {
    app.store
        .execute::<Session>(
            &principal.session_id.to_string(),
            SessionCommand::SelectAccount { account },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    if let Some(mut live) = app.cookie_sessions.live.get_mut(&principal.session_id) {
        live.active = true;
        live.account = Some(account);
    }
    Ok(CookiePrincipal {
        active: true,
        account: Some(account),
        ..principal.clone()
    })
}

/// Ends the session (logout).
pub async fn end(
    app: &App,
    principal: &CookiePrincipal,
    ctx: &RequestContext,
) -> Result<(), Error> {
    app.cookie_sessions.live.remove(&principal.session_id);
    super::end_session(
        app,
        principal.user_id,
        principal.session_id,
        EndReason::Logout,
        ctx,
    )
    .await
}
