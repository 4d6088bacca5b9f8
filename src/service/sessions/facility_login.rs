//! Logging in as a facility user: by username within a facility (a
//! superuser of that name in another facility too), passwordless learners
//! where their facility allows it, and short-lived login tokens.

use aggregates::User;
use uuid::Uuid;

use super::{verify_login, Attempt, Identifier, Refused, Verified};
use crate::input::{Password, Username};
use crate::service::{facilities, RequestContext};
use crate::{App, Error};

/// Checks a facility user's credentials: `username` in `facility`, then
/// (as Kolibri's superuser scope does) a superuser of that name in any
/// other facility. A learner (no role, not a superuser) of a facility that
/// lets learners in without a password needs none. A refusal says why
/// (surfaces that tell the reasons apart say it their way).
pub async fn verify_in_facility(
    app: &App,
    facility: Uuid,
    username: &str,
    password: &str,
    ctx: &RequestContext,
) -> Result<Result<Verified, Refused>, Error> {
    let settings = facilities::settings(app, facility).await?;
    let Ok(username) = Username::parse(username, "username") else {
        return Ok(Err(Refused::UnknownIdentifier));
    };
    let password = match password {
        "" => None,
        raw => Some(Password::presented(raw.to_string(), "password")?),
    };
    let identifier = Identifier::Username { facility, username };
    let attempt = Attempt {
        identifier: &identifier,
        password: password.as_ref(),
        passwordless: settings.learner_can_login_with_no_password,
    };
    let refused = match verify_login(app, attempt, ctx).await? {
        Ok(verified) => return Ok(Ok(verified)),
        Err(refused) => refused,
    };
    if let (Refused::UnknownIdentifier, Some(password)) = (refused, &password) {
        if let Some(verified) = verify_superuser(app, &identifier, password, ctx).await? {
            return Ok(Ok(verified));
        }
    }
    Ok(Err(refused))
}

/// A login with a login token (Kolibri's `{user_id, auth_token}`): the user of `facility` the
/// token was made for, within its fifteen minutes; `None` otherwise (the
/// caller falls back to username and password, as Kolibri does).
pub async fn verify_auth_token(
    app: &App,
    facility: Uuid,
    user_id: &str,
    token: &str,
) -> Result<Option<Verified>, Error> {
    let Ok(user_id) = crate::input::parse_id(user_id, "user_id") else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    if !app
        .tokens
        .check_login_token(user_id, token, now.timestamp())
    {
        return Ok(None);
    }
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let usable = user.state.is_active()
        && !user.state.is_disabled()
        && user.state.facility() == Some(facility);
    Ok(usable.then_some(Verified {
        user,
        user_id,
        auth_time: now,
    }))
}

/// A login token for `user` (Kolibri's `auth_token`, fifteen minutes).
pub async fn login_token(app: &App, user_id: Uuid) -> Result<String, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    if !user.state.is_active() || user.state.facility().is_none() {
        return Err(Error::NotFound);
    }
    Ok(app
        .tokens
        .login_token(user_id, chrono::Utc::now().timestamp()))
}

/// A superuser of the same username in another facility, with this
/// password.
async fn verify_superuser(
    app: &App,
    identifier: &Identifier,
    password: &Password,
    ctx: &RequestContext,
) -> Result<Option<Verified>, Error> {
    let Identifier::Username { facility, username } = identifier else {
        return Ok(None);
    };
    for other in projections::organizations::facilities(app.read_models().await).await? {
        if other == *facility {
            continue;
        }
        let candidate = Identifier::Username {
            facility: other,
            username: username.clone(),
        };
        let is_superuser = super::holder(app, &candidate)
            .await?
            .is_some_and(|u| u.state.is_superuser());
        if !is_superuser {
            continue;
        }
        let attempt = Attempt {
            identifier: &candidate,
            password: Some(password),
            passwordless: false,
        };
        if let Ok(verified) = verify_login(app, attempt, ctx).await? {
            return Ok(Some(verified));
        }
    }
    Ok(None)
}
