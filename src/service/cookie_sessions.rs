//! Cookie sessions (Kolibri's `kolibri` cookie): the cookie holds an opaque
//! secret naming a [`Session`] (only its hash is recorded); the session ends
//! after an idle timeout that a keep-alive slides.
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregates::{EndReason, Session, SessionCommand, TokenHash, User};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use uuid::Uuid;

use super::sessions::{record_session, Started, Verified};
use super::RequestContext;
use crate::auth::tokens::{hash_token, Tokens};
use crate::store::Loaded;
use crate::{App, Error};

/// How long a cached session is trusted before it is checked against the
/// log again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// This instance's cache of live cookie sessions, and of the state of
/// the users behind them (what permission checks read on every request).
///
/// A cached user state is dropped when this instance's security feed sees
/// any event of that user (a role change takes effect as fast as a
/// logout); a state loaded while any user event was being fed is not
/// cached at all, so a load racing an event never outlives it.
#[derive(Debug, Default)]
pub struct CookieSessions {
    live: DashMap<Uuid, Live>,
    users: DashMap<Uuid, (Instant, Arc<Loaded<User>>)>,
    user_events: AtomicU64,
    /// Answers computed from the read models (facility-user lists), with
    /// the read-model position they were read at.
    answers: DashMap<String, (projections::Cursor, bytes::Bytes)>,
    /// The end of the last fed batch that held a user event: an answer
    /// read before the read models passed it may be stale.
    users_changed: std::sync::Mutex<projections::Cursor>,
    /// The most answers kept (`EVENTAUTH_LIST_CACHE`; 0: none).
    answer_capacity: std::sync::atomic::AtomicUsize,
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
    checked_at: Instant,
}

impl CookieSessions {
    /// Forgets sessions that are over, and user states past [`RECHECK`].
    pub fn prune(&self) {
        let now = Utc::now();
        self.live.retain(|_, live| live.expires_at > now);
        self.users.retain(|_, (at, _)| at.elapsed() < RECHECK);
    }

    /// User events up to `cursor` were fed: answers read before the read
    /// models passed it are stale.
    pub fn users_changed_until(&self, cursor: projections::Cursor) {
        if let Ok(mut until) = self.users_changed.lock() {
            if cursor > *until {
                *until = cursor;
            }
        }
    }

    /// A cached answer, if the read models it was read from had applied
    /// every user event fed so far.
    pub fn answer(&self, key: &str) -> Option<bytes::Bytes> {
        let until = *self.users_changed.lock().ok()?;
        let entry = self.answers.get(key)?;
        (entry.0 >= until).then(|| entry.1.clone())
    }

    /// How many answers to keep (0: none, and forget those kept).
    pub fn set_answer_capacity(&self, capacity: usize) {
        self.answer_capacity.store(capacity, Ordering::SeqCst);
        if capacity == 0 {
            self.answers.clear();
        }
    }

    /// Keeps an answer read from the read models at `read_at`.
    pub fn keep_answer(&self, key: String, read_at: projections::Cursor, body: bytes::Bytes) {
        let capacity = self.answer_capacity.load(Ordering::SeqCst);
        if capacity == 0 {
            return;
        }
        if self.answers.len() >= capacity {
            // Crude but bounded: start over (lists are cheap to recompute).
            self.answers.clear();
        }
        self.answers.insert(key, (read_at, body));
    }

    /// A user's state changed (the security feed saw one of their events).
    pub fn forget_user(&self, user_id: Uuid) {
        self.user_events.fetch_add(1, Ordering::SeqCst);
        self.users.remove(&user_id);
    }
}

/// The current state of a signed-in caller: cached (see
/// [`CookieSessions`]), else loaded from their stream.
pub async fn caller_state(app: &App, user_id: Uuid) -> Result<Arc<Loaded<User>>, Error> {
    let cache = &app.cookie_sessions;
    if let Some(entry) = cache.users.get(&user_id) {
        if entry.0.elapsed() < RECHECK {
            return Ok(entry.1.clone());
        }
    }
    let before = cache.user_events.load(Ordering::SeqCst);
    let user = Arc::new(app.store.load::<User>(&user_id.to_string()).await?);
    if cache.user_events.load(Ordering::SeqCst) == before {
        cache.users.insert(user_id, (Instant::now(), user.clone()));
    }
    Ok(user)
}

/// The caller behind a live session cookie (ids only: the secret stays in
/// the cookie).
#[derive(Debug, Clone)]
pub struct CookiePrincipal {
    /// The user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
}

/// Starts a cookie session for verified credentials; the cookie's value is
/// the returned secret.
pub async fn start(
    app: &App,
    verified: &Verified,
    surface: &'static str,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    let idle = app.config.cookie_session_idle;
    let started = record_session(app, verified, idle, false, surface, ctx).await?;
    app.cookie_sessions.live.insert(
        started.session_id,
        Live {
            token_hash: hash_token(&started.secret),
            user_id: verified.user_id,
            auth_time: verified.auth_time,
            expires_at: started.expires_at,
            recorded_expires_at: started.expires_at,
            checked_at: Instant::now(),
        },
    );
    Ok(started)
}

/// The live session a cookie proves, if any: started through `surface`,
/// its current secret, not ended, not idle past its expiry, not cut off.
pub async fn resolve(
    app: &App,
    cookie: &str,
    surface: &str,
) -> Result<Option<CookiePrincipal>, Error> {
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
        .filter(|l| l.token_hash.matches(&presented));
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
            }));
        }
    }
    // This instance's keep-alives may be ahead of the log.
    let later = cached.as_ref().map(|l| l.expires_at);
    let Some(live) = super::sessions::live_session(app, cookie, Some(surface), later).await? else {
        app.cookie_sessions.live.remove(&session_id);
        return Ok(None);
    };
    let (user_id, auth_time, recorded) = (live.user_id, live.auth_time, live.recorded_expires_at);
    let expires_at = later.map_or(recorded, |l| l.max(recorded));
    app.cookie_sessions.live.insert(
        session_id,
        Live {
            token_hash: presented,
            user_id,
            auth_time,
            expires_at,
            recorded_expires_at: recorded,
            checked_at: Instant::now(),
        },
    );
    Ok(Some(CookiePrincipal {
        user_id,
        session_id,
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

/// Ends the session (logout).
pub async fn end(
    app: &App,
    principal: &CookiePrincipal,
    ctx: &RequestContext,
) -> Result<(), Error> {
    app.cookie_sessions.live.remove(&principal.session_id);
    super::sessions::end_session(
        app,
        principal.user_id,
        principal.session_id,
        EndReason::Logout,
        ctx,
    )
    .await
}
