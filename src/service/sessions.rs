//! Logging in and out, refreshing, changing the password.

use aggregates::{
    DomainError, EndReason, IdentifierClaim, IdentifierKind, LoginFailures, LoginFailuresCommand,
    Personal, Session, SessionCommand, SessionEvent, User, UserCommand, UserEvent,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{RequestContext, UserView};
use crate::auth::tokens::{hash_token, AccessClaims, AccessToken, Tokens};
use crate::input::{Email, Password};
use crate::store::Loaded;
use crate::{App, Error};

/// A started or refreshed session's credentials.
pub struct Issued {
    /// The access token.
    pub access: AccessToken,
    /// The refresh token (opaque).
    pub refresh_token: String,
    /// When the session ends at the latest (cookie lifetime).
    pub session_expires_at: DateTime<Utc>,
    /// The session.
    pub session_id: Uuid,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access", &self.access)
            .field("session_id", &self.session_id)
            .field("session_expires_at", &self.session_expires_at)
            .finish_non_exhaustive()
    }
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// Credentials.
    pub issued: Issued,
    /// The user.
    pub user: UserView,
}

/// Who is logging in: an email (the email surfaces) or a username in a
/// facility (Kolibri).
#[derive(Debug, Clone)]
pub enum Identifier {
    /// An email address.
    Email(Email),
    /// A username, unique in its facility.
    Username {
        /// The facility.
        facility: Uuid,
        /// The username.
        username: crate::input::Username,
    },
}

impl From<Email> for Identifier {
    fn from(email: Email) -> Self {
        Self::Email(email)
    }
}

impl Identifier {
    /// The id of the claim that names the user (and keys throttling).
    pub fn claim_id(&self, app: &App) -> String {
        match self {
            Self::Email(email) => app.identifiers.email(email),
            Self::Username { facility, username } => {
                app.identifiers.username(*facility, &username.normalized())
            }
        }
    }

    /// The kind of claim.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::Email(_) => IdentifierKind::Email,
            Self::Username { facility, .. } => IdentifierKind::Username {
                facility: *facility,
            },
        }
    }

    /// The normalized identifier.
    pub fn normalized(&self) -> String {
        match self {
            Self::Email(email) => email.normalized().to_string(),
            Self::Username { username, .. } => username.normalized(),
        }
    }

    /// Whether `user` (live) still goes by this identifier.
    pub fn held_by(&self, user: &User) -> bool {
        user.holds_identifier(self.kind(), &self.normalized())
    }
}

/// The live user who goes by `identifier`, if any: the claim names the
/// user, the user's own stream confirms it (a deleted or renamed owner no
/// longer holds the claim).
pub async fn holder(app: &App, identifier: &Identifier) -> Result<Option<Loaded<User>>, Error> {
    let claim = app
        .store
        .load::<IdentifierClaim>(&identifier.claim_id(app))
        .await?;
    let Some(owner) = claim.state.owner() else {
        return Ok(None);
    };
    let user = app.store.load::<User>(&owner.to_string()).await?;
    Ok(Some(user).filter(|u| identifier.held_by(&u.state)))
}

/// What a login needs.
#[derive(Debug)]
pub struct Login {
    /// The identifier.
    pub identifier: Identifier,
    /// The password.
    pub password: Password,
    /// Longer session.
    pub remember_me: bool,
    /// The surface logging in (recorded on the session).
    pub surface: &'static str,
}

/// Checks a password login and starts a session.
///
/// Unknown identifiers cost the same as known ones (dummy verification) and
/// fail identically; locked identifiers fail with 429 before any hashing.
pub async fn login(app: &App, input: Login, ctx: &RequestContext) -> Result<LoggedIn, Error> {
    let attempt = Attempt {
        identifier: &input.identifier,
        password: Some(&input.password),
        passwordless: false,
    };
    let verified = verify_login(app, attempt, ctx)
        .await?
        .map_err(|_| Error::InvalidCredentials)?;
    let issued = start_session(app, &verified, input.remember_me, input.surface, ctx).await?;
    let user_id = verified.user_id;
    let user = UserView::from_aggregate(&verified.user.state)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("registered user {user_id} incomplete")))?;
    Ok(LoggedIn { issued, user })
}

/// One login attempt.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// Who.
    pub identifier: &'a Identifier,
    /// The password presented (Kolibri allows none).
    pub password: Option<&'a Password>,
    /// Whether the user's facility lets learners (users without any role)
    /// in without a password.
    pub passwordless: bool,
}

/// Why credentials were refused (surfaces that say it, like Kolibri, tell
/// these apart; the others answer `InvalidCredentials` to all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No live user goes by the identifier.
    UnknownIdentifier,
    /// The user has no password (and may not log in without one).
    NoPasswordSet,
    /// No password was presented.
    MissingPassword,
    /// The password is wrong.
    WrongPassword,
}

/// Credentials that checked out.
#[derive(Debug)]
pub struct Verified {
    /// The user as loaded.
    pub user: Loaded<User>,
    /// Their id.
    pub user_id: Uuid,
    /// When the credentials were checked.
    pub auth_time: DateTime<Utc>,
}

/// Checks an attempt's credentials: throttling first (429 before any
/// hashing), then the password (unknown identifiers cost a dummy
/// verification), then whether the account may log in now. A refusal is
/// counted for throttling and recorded for audit.
pub async fn verify_login(
    app: &App,
    attempt: Attempt<'_>,
    ctx: &RequestContext,
) -> Result<Result<Verified, Refused>, Error> {
    let claim_id = attempt.identifier.claim_id(app);
    if let Some(retry_after) = app.throttle.locked(&claim_id, ctx.client_ip) {
        return Err(Error::TooManyAttempts { retry_after });
    }
    // Taken before the user is loaded: a password change racing this login
    // sets a cutoff after it, which then revokes the new session.
    let auth_time = Utc::now();
    let user = holder(app, attempt.identifier).await?;
    // A user without a password (Kolibri allows them) has an empty hash:
    // verified like an unknown identifier, at the same cost, never matching.
    let hash = user
        .as_ref()
        .map(|u| u.state.password_hash().clone())
        .filter(|hash| !hash.phc().is_empty());
    // Kolibri's rule: a learner (no role, not a superuser) of a facility
    // that allows it needs no password.
    let without_password = attempt.passwordless
        && user
            .as_ref()
            .is_some_and(|u| u.state.collection_roles().is_empty() && !u.state.is_superuser());
    let verified = match (attempt.password, without_password) {
        (_, true) => None,
        (Some(password), false) => Some(app.passwords.verify(password, hash.as_ref()).await?),
        (None, false) => None,
    };
    // Normally the identifier lock above already answered; this backstop
    // comes after the verification so it costs what an unknown identifier
    // costs.
    if let Some(until) = user.as_ref().and_then(|u| u.state.locked_until(auth_time)) {
        return Err(DomainError::AccountLocked { until }.into());
    }
    let refused = match (&user, &hash, &verified) {
        (None, ..) => Some(Refused::UnknownIdentifier),
        (Some(_), _, _) if without_password => None,
        (Some(_), None, _) => Some(Refused::NoPasswordSet),
        (Some(_), Some(_), None) => Some(Refused::MissingPassword),
        (Some(_), Some(_), Some(v)) if !v.ok => Some(Refused::WrongPassword),
        _ => None,
    };
    let owner = user.as_ref().and_then(|u| u.state.id());
    let (Some(user), None) = (user, refused) else {
        if let Some(lockout) = app.throttle.record_failure(&claim_id, ctx.client_ip) {
            lock_out(app, &claim_id, owner, lockout, ctx).await;
        }
        record_failure(app, &claim_id, ctx).await;
        return Ok(Err(refused.unwrap_or(Refused::UnknownIdentifier)));
    };
    app.throttle.record_success(&claim_id);
    let user_id = user
        .state
        .id()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("registered user without id")))?;
    let rehash = match (&verified, attempt.password) {
        // Best effort: a busy pool only postpones the upgrade.
        (Some(v), Some(password)) if v.needs_rehash => app.passwords.hash(password).await.ok(),
        _ => None,
    };
    let authorize = UserCommand::AuthorizeLogin {
        verified_against: user.state.password_hash().clone(),
        rehash,
    };
    // Without a rehash the command writes nothing: decide it on the state
    // loaded above instead of loading the user again.
    let authorized = match authorize {
        UserCommand::AuthorizeLogin { rehash: None, .. } => {
            app.store.check(&user.state, authorize).await.map(drop)
        }
        _ => app
            .store
            .execute::<User>(
                &user_id.to_string(),
                authorize,
                &ctx.metadata().acting_as(user_id),
            )
            .await
            .map(drop),
    };
    authorized.map_err(|error| match error {
        // The password changed while we verified the old one.
        Error::Conflict => Error::InvalidCredentials,
        other => other,
    })?;
    Ok(Ok(Verified {
        user,
        user_id,
        auth_time,
    }))
}

/// Keeps the failure for audit in the identifier's stream of the day (never
/// the user's). Best effort: the answer to the client does not depend on it.
async fn record_failure(app: &App, claim_id: &str, ctx: &RequestContext) {
    let id = aggregates::login_failures::stream_id(claim_id, Utc::now().date_naive());
    let command = LoginFailuresCommand::Record {
        client_ip: Personal::new(ctx.client_ip.map(|ip| ip.to_string())),
        user_agent: Personal::new(ctx.user_agent.clone()),
    };
    if let Err(error) = app
        .store
        .execute::<LoginFailures>(&id, command, &ctx.metadata())
        .await
    {
        tracing::warn!(%error, "could not record a failed login");
    }
}

/// Records a lock: on the identifier's stream always (every instance's
/// throttle follows those, for known and unknown identifiers alike), and on
/// the user when the identifier has one.
async fn lock_out(
    app: &App,
    claim_id: &str,
    owner: Option<Uuid>,
    lockout: std::time::Duration,
    ctx: &RequestContext,
) {
    let until = Utc::now() + chrono::Duration::from_std(lockout).unwrap_or_default();
    let id = aggregates::login_failures::stream_id(claim_id, Utc::now().date_naive());
    if let Err(error) = app
        .store
        .execute::<LoginFailures>(&id, LoginFailuresCommand::Lock { until }, &ctx.metadata())
        .await
    {
        tracing::warn!(%error, "could not record an identifier lock");
    }
    let Some(owner) = owner else {
        return;
    };
    let command = UserCommand::LockOut {
        until,
        failed_attempts: app.throttle.policy().max_failures,
    };
    match app
        .store
        .execute::<User>(&owner.to_string(), command, &ctx.metadata())
        .await
    {
        Ok(_) | Err(Error::NotFound) => {}
        Err(error) => tracing::warn!(%error, "could not record a lockout"),
    }
}

async fn start_session(
    app: &App,
    verified: &Verified,
    remember_me: bool,
    surface: &'static str,
    ctx: &RequestContext,
) -> Result<Issued, Error> {
    let ttl = if remember_me {
        app.config.remember_me_ttl
    } else {
        app.config.session_ttl
    };
    let started = record_session(app, verified, ttl, remember_me, surface, ctx).await?;
    let access = app.tokens.issue_access(
        verified.user_id,
        started.session_id,
        verified.user.state.roles(),
        verified.auth_time,
    )?;
    Ok(Issued {
        access,
        refresh_token: started.secret,
        session_expires_at: started.expires_at,
        session_id: started.session_id,
    })
}

/// A session just recorded.
pub struct Started {
    /// Its id.
    pub session_id: Uuid,
    /// The opaque secret that proves it (a refresh token, a cookie); only
    /// its hash is recorded.
    pub secret: String,
    /// When it ends unless extended.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Records a new session of a verified user, ending `ttl` seconds after the
/// credentials were checked; answers once the deny-list and read models
/// know it.
pub async fn record_session(
    app: &App,
    verified: &Verified,
    ttl: u64,
    remember_me: bool,
    surface: &'static str,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    let session_id = Uuid::now_v7();
    let secret = app.tokens.new_refresh(session_id);
    let user_id = verified.user_id;
    let expires_at = verified.auth_time + chrono::Duration::seconds(ttl as i64);
    let committed = app
        .store
        .create::<Session>(
            &session_id.to_string(),
            SessionCommand::Start {
                session_id,
                user_id,
                surface: surface.to_string(),
                remember_me,
                refresh_token_hash: hash_token(&secret),
                auth_time: verified.auth_time,
                expires_at,
                client_ip: Personal::new(ctx.client_ip.map(|ip| ip.to_string())),
                user_agent: Personal::new(ctx.user_agent.clone()),
            },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    Ok(Started {
        session_id,
        secret,
        expires_at,
    })
}

/// Exchanges a refresh token for a new access token and its successor.
///
/// A token that was already rotated away ends the session (after the grace
/// period), and every token of the session stops working at once.
pub async fn refresh(app: &App, presented: &str, ctx: &RequestContext) -> Result<Issued, Error> {
    let session_id = Tokens::refresh_session(presented).ok_or(Error::Unauthenticated)?;
    let session = app.store.load::<Session>(&session_id.to_string()).await?;
    // A cookie session's secret is not a refresh token.
    if is_cookie_surface(session.state.surface()) {
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
        app.settle(committed.written.as_ref()).await?;
        return Err(Error::Unauthenticated);
    }
    app.settle(committed.written.as_ref()).await?;
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

/// The caller behind a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User.
    pub user_id: Uuid,
    /// Session.
    pub session_id: Uuid,
    /// Roles at token issue.
    pub roles: Vec<String>,
    /// The token's claims.
    pub claims: std::sync::Arc<AccessClaims>,
}

/// Resolves a bearer access token: signature, expiry, then the deny-list.
/// No database round trip.
pub fn authenticate(app: &App, token: &str) -> Result<Principal, Error> {
    let claims = app
        .tokens
        .verify_access(token)
        .ok_or(Error::Unauthenticated)?;
    let (Some(user_id), Some(session_id), Some(auth_time)) =
        (claims.user_id(), claims.session_id(), claims.auth_time())
    else {
        return Err(Error::Unauthenticated);
    };
    if app.denylist.denies(user_id, session_id, auth_time) {
        return Err(Error::Unauthenticated);
    }
    Ok(Principal {
        user_id,
        session_id,
        roles: claims.roles.clone(),
        claims,
    })
}

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
    let committed = app
        .store
        .execute::<Session>(
            &session_id.to_string(),
            SessionCommand::End { reason },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    app.denylist.end_session(session_id, Utc::now());
    app.settle(committed.written.as_ref()).await
}

/// Changes the caller's password; every other session of theirs ends.
pub async fn change_password(
    app: &App,
    principal: &Principal,
    current: &Password,
    new: &Password,
    ctx: &RequestContext,
) -> Result<(), Error> {
    // A stolen access token must not turn into unlimited guesses at the
    // current password: failures count like login failures, per user.
    let throttle_key = format!("change-password:{}", principal.user_id);
    if let Some(retry_after) = app.throttle.locked(&throttle_key, ctx.client_ip) {
        return Err(Error::TooManyAttempts { retry_after });
    }
    let user = app
        .store
        .load::<User>(&principal.user_id.to_string())
        .await?;
    if !user.state.is_registered() {
        return Err(Error::Unauthenticated);
    }
    let hash = user.state.password_hash().clone();
    if !app.passwords.verify(current, Some(&hash)).await?.ok {
        app.throttle.record_failure(&throttle_key, ctx.client_ip);
        return Err(Error::invalid_field(
            "currentPassword",
            "INVALID_PASSWORD",
            "Current password is incorrect",
        ));
    }
    let new_password_hash = app.passwords.hash(new).await?;
    let committed = app
        .store
        .execute_on::<User>(
            &principal.user_id.to_string(),
            user,
            UserCommand::ChangePassword {
                verified_against: hash,
                new_password_hash,
                keep_session: Some(principal.session_id),
            },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    if let Some(cutoff) = committed.events.iter().find_map(UserEvent::cutoff) {
        app.denylist.set_cutoff(principal.user_id, cutoff);
    }
    app.settle(committed.written.as_ref()).await
}

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
}

/// A live session as its secret proves it.
#[derive(Debug, Clone, Copy)]
pub struct LiveSession {
    /// Its user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// When the credentials were checked.
    pub auth_time: DateTime<Utc>,
    /// Its expiry as recorded in the log.
    pub recorded_expires_at: DateTime<Utc>,
}

/// The live session `secret` (a refresh token, or a cookie of a cookie
/// surface) is the current secret of, if any: of the right kind (cookie
/// sessions only through their cookie, token sessions only through their
/// refresh token), not ended, not expired — `later_expiry` is an expiry
/// this instance knows of but has not recorded yet —, not cut off, its
/// user live. One check for refresh tokens and cookies alike.
pub async fn live_session(
    app: &App,
    secret: &str,
    cookie_surface: Option<&str>,
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
    let right_kind = match cookie_surface {
        Some(surface) => session.surface() == surface,
        None => !is_cookie_surface(session.surface()),
    };
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
    }))
}

/// Whether sessions of `surface` live in a cookie (their secret is no
/// refresh token).
fn is_cookie_surface(surface: &str) -> bool {
    surface == super::kolibri::SURFACE
}

/// The live session a refresh token is the current token of, if any.
async fn live_refresh(
    app: &App,
    token: &str,
) -> Result<Option<(Uuid, Uuid, DateTime<Utc>)>, Error> {
    Ok(live_session(app, token, None, None)
        .await?
        .map(|live| (live.user_id, live.session_id, live.recorded_expires_at)))
}

/// Introspects an access or refresh token with the service's own checks
/// (signature, expiry, deny-list, cutoffs; for refresh tokens the Session
/// aggregate). `None`: not active, for whatever reason.
pub async fn introspect(
    app: &App,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<Introspected>, Error> {
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

/// The caller's sessions that are still live (not ended, not expired),
/// newest first, from the read model.
pub async fn list_own(
    app: &App,
    principal: &Principal,
) -> Result<Vec<projections::sessions::SessionRow>, Error> {
    Ok(projections::sessions::live_of_user(app.store.db(), principal.user_id, Utc::now()).await?)
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
    let committed = app
        .store
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
    app.settle(committed.written.as_ref()).await
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
    app.settle(committed.written.as_ref()).await
}
