//! Changing one's password (the other sessions end).

use aggregates::{User, UserCommand, UserEvent};

use uuid::Uuid;

use crate::input::Password;
use crate::service::RequestContext;
use crate::{App, Error};

/// Whose password changes, from which of their sessions (the one kept).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The user.
    pub user_id: Uuid,
    /// The session they ask from.
    pub session_id: Uuid,
}

/// Changes the caller's password; every other session of theirs ends.
pub async fn change_password(
    app: &App,
    principal: Caller,
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
    Ok(())
}
