//! Password logins: throttling, verification (a dummy one for unknown
//! identifiers), the audit of failures, and recording the new session.

use aggregates::{
    DomainError, LoginFailures, LoginFailuresCommand, Personal, Session, SessionCommand, User,
    UserCommand,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{holder, Identifier, Issued, LoggedIn, Transport};
use crate::auth::tokens::hash_token;
use crate::input::Password;
use crate::service::{RequestContext, UserView};
use crate::store::Loaded;
use crate::{App, Error};

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
/// verification), then whether the account may log in now. A refusal of a
/// presented password is counted for throttling and recorded for audit.
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
        // Only a password that was checked can fail: an attempt without
        // one (Kolibri's "Next" step, asking whether the name needs a
        // password) guesses nothing and is neither counted nor audited.
        if attempt.password.is_some() {
            if let Some(lockout) = app.throttle.record_failure(&claim_id, ctx.client_ip) {
                lock_out(app, &claim_id, owner, lockout, ctx).await;
            }
            record_failure(app, &claim_id, ctx).await;
        }
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
    let started = record_session(
        app,
        verified,
        NewSession {
            ttl,
            remember_me,
            surface,
            transport: Transport::Bearer,
            active: true,
            account: None,
        },
        ctx,
    )
    .await?;
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

/// What a new session is.
#[derive(Debug, Clone, Copy)]
pub struct NewSession {
    /// Seconds from the credentials' check to its end (an idle timeout for
    /// cookie sessions).
    pub ttl: u64,
    /// Remember-me asked for.
    pub remember_me: bool,
    /// The surface starting it (recorded, shown in session lists).
    pub surface: &'static str,
    /// How its credential travels.
    pub transport: Transport,
    /// Usable at once (`false`: an account is still to be chosen).
    pub active: bool,
    /// The account it acts in from the start.
    pub account: Option<Uuid>,
}

/// Records a new session of a verified user, ending `ttl` seconds after the
/// credentials were checked; answers once the deny-list and read models
/// know it.
pub async fn record_session(
    app: &App,
    verified: &Verified,
    new: NewSession,
    ctx: &RequestContext,
) -> Result<Started, Error> {
    let NewSession {
        ttl,
        remember_me,
        surface,
        transport,
        active,
        account,
    } = new;
    let session_id = Uuid::now_v7();
    let secret = app.tokens.new_refresh(session_id);
    let user_id = verified.user_id;
    let expires_at = verified.auth_time + chrono::Duration::seconds(ttl as i64);
    app.store
        .create::<Session>(
            &session_id.to_string(),
            SessionCommand::Start {
                session_id,
                user_id,
                surface: surface.to_string(),
                transport,
                active,
                account,
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
    Ok(Started {
        session_id,
        secret,
        expires_at,
    })
}
