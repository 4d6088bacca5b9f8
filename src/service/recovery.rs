//! Email verification and password reset by mailed, single-use links.
//!
//! Tokens are opaque (`<user id>.<256 random bits>`, see
//! [`crate::auth::tokens::new_opaque`]); only their SHA-256 is recorded,
//! in the User's `EmailVerificationIssued` / `PasswordResetIssued` events,
//! each replacing the previous one of its purpose. The plain token exists
//! only in the mail (the outbox row, cleared once sent).

use aggregates::{PasswordHash, User, UserCommand, UserEvent};
use chrono::Utc;
use uuid::Uuid;

use super::anonymous_limits::{self, Action};
use super::RequestContext;
use crate::auth::tokens::{hash_token, new_opaque, opaque_owner};
use crate::input::{Email, Password};
use crate::mail::Mail;
use crate::store::Loaded;
use crate::{App, Error};

fn invalid_token() -> Error {
    aggregates::DomainError::InvalidToken.into()
}

fn link(template: &str, token: &str) -> String {
    template.replace("{token}", token)
}

/// Issues a verification token for `user_id` (its state already loaded)
/// and queues its mail.
pub async fn send_verification(
    app: &App,
    user_id: Uuid,
    user: Loaded<User>,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let email = user.state.email().expose().clone();
    let token = new_opaque(user_id);
    let expires_at = Utc::now() + app.config.mail_token_ttl();
    app.store
        .execute_on::<User>(
            &user_id.to_string(),
            user,
            UserCommand::IssueEmailVerification {
                token_hash: hash_token(&token),
                expires_at,
            },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    app.outbox
        .queue(Mail {
            purpose: "verify_email",
            user_id: Some(user_id),
            to: email,
            subject: "Confirm your email address".to_string(),
            body: format!(
                "Hello,\n\nplease confirm your email address by opening this link:\n\n{}\n\n\
                 The link works once and expires at {} (UTC). If you did not sign up, ignore \
                 this mail.\n",
                link(&app.config.verify_link, &token),
                expires_at.format("%Y-%m-%d %H:%M")
            ),
            expires_at,
        })
        .await?;
    Ok(())
}

/// Verifies the email of the user the token names.
pub async fn verify_email(app: &App, token: &str, ctx: &RequestContext) -> Result<(), Error> {
    anonymous_limits::check(app, Action::TokenRedemption, ctx)?;
    let user_id = opaque_owner(token).ok_or_else(invalid_token)?;
    app.store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::VerifyEmail {
                token_hash: hash_token(token),
            },
            &ctx.metadata().acting_as(user_id),
        )
        .await
        .map_err(|error| match error {
            Error::NotFound => invalid_token(),
            other => other,
        })?;
    Ok(())
}

/// Accepts a request for a reset mail to `email`: counted against the
/// client's limit (429 past it), then handled after the answer
/// ([`request_reset`]), so that neither the answer nor its timing tells
/// whether the account exists.
pub fn accept_reset_request(app: &App, email: Email, ctx: &RequestContext) -> Result<(), Error> {
    anonymous_limits::check(app, Action::ResetRequest, ctx)?;
    let (app, ctx) = (app.clone(), ctx.clone());
    tokio::spawn(async move {
        if let Err(error) = request_reset(&app, &email, &ctx).await {
            tracing::error!(error = %error, "password reset not issued");
        }
    });
    Ok(())
}

/// Issues a reset token for the account of `email`, if there is one, and
/// queues its mail. Says nothing about whether there was one.
pub async fn request_reset(app: &App, email: &Email, ctx: &RequestContext) -> Result<(), Error> {
    let claim = app
        .store
        .load::<aggregates::IdentifierClaim>(&app.identifiers.email(email))
        .await?;
    let Some(user_id) = claim.state.owner() else {
        return Ok(());
    };
    issue_reset(app, user_id, &ctx.metadata()).await?;
    Ok(())
}

/// Issues a reset token for `user_id` and queues its mail, recorded with
/// `metadata` (the user asking, or the administrator forcing it); `false`
/// when there is no such user. A user without an email address (a Kolibri
/// facility user) cannot be mailed: 400.
pub async fn issue_reset(
    app: &App,
    user_id: Uuid,
    metadata: &crate::store::Metadata,
) -> Result<bool, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    if !user.state.is_registered() {
        return Ok(false);
    }
    let to = user.state.email().expose().clone();
    if to.is_empty() {
        return Err(Error::invalid(
            "NO_EMAIL",
            "This account has no email address to send a reset link to",
        ));
    }
    let token = new_opaque(user_id);
    let expires_at = Utc::now() + app.config.mail_token_ttl();
    let issued = app
        .store
        .execute_on::<User>(
            &user_id.to_string(),
            user,
            UserCommand::IssuePasswordReset {
                token_hash: hash_token(&token),
                expires_at,
            },
            metadata,
        )
        .await;
    match issued {
        Ok(_) => {}
        // A reset mail went out a moment ago: that one stands, no new mail.
        Err(Error::TooManyAttempts { .. }) => return Ok(true),
        Err(error) => return Err(error),
    }
    app.outbox
        .queue(Mail {
            purpose: "reset_password",
            user_id: Some(user_id),
            to,
            subject: "Reset your password".to_string(),
            body: format!(
                "Hello,\n\nsomeone asked to reset the password of this account. To choose a new \
                 password, open this link:\n\n{}\n\nThe link works once and expires at {} (UTC). \
                 Setting a new password signs you out everywhere. If it was not you, ignore this \
                 mail: your password stays as it is.\n",
                link(&app.config.reset_link, &token),
                expires_at.format("%Y-%m-%d %H:%M")
            ),
            expires_at,
        })
        .await?;
    Ok(true)
}

/// Sets a new password with a reset token; every session of the user ends.
pub async fn reset_password(
    app: &App,
    token: &str,
    password: &Password,
    ctx: &RequestContext,
) -> Result<(), Error> {
    anonymous_limits::check(app, Action::TokenRedemption, ctx)?;
    let user_id = opaque_owner(token).ok_or_else(invalid_token)?;
    let id = user_id.to_string();
    let user = app.store.load::<User>(&id).await?;
    if !user.state.is_registered() {
        return Err(invalid_token());
    }
    let token_hash = hash_token(token);
    // A wrong, used or expired token costs no hashing.
    app.store
        .check(
            &user.state,
            UserCommand::ResetPassword {
                token_hash: token_hash.clone(),
                new_password_hash: PasswordHash::default(),
            },
        )
        .await?;
    let new_password_hash = app.passwords.hash(password).await?;
    let committed = app
        .store
        .execute_on::<User>(
            &id,
            user,
            UserCommand::ResetPassword {
                token_hash,
                new_password_hash,
            },
            &ctx.metadata().acting_as(user_id),
        )
        .await?;
    if let Some(cutoff) = committed.events.iter().find_map(UserEvent::cutoff) {
        app.denylist.set_cutoff(user_id, cutoff);
    }
    Ok(())
}
