//! Per-address limits on what anyone may do without signing in: create an
//! account, ask for a password-reset mail, redeem a mailed token. Without
//! them one address made 2,890 accounts in 30 s (squatting names, filling
//! the log and the outbox), and reset requests mail whoever an attacker
//! names.
//!
//! Counted per client address (the trusted proxies' `X-Forwarded-For`
//! decides it) in fixed windows, by the same in-memory counter Open
//! Archiver's request limit uses; past the limit the answer is 429 with
//! `Retry-After`, in the surface's shape. What a signed-in administrator
//! does, and what the CLI does, is not counted: they act for others. The
//! defaults leave room for a classroom signing up behind one address.

use std::time::Duration;

use crate::service::RequestContext;
use crate::{App, Error};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Creating one's own account (ILD sign-up, Kolibri learner sign-up).
    Registration,
    /// Asking for a password-reset mail.
    ResetRequest,
    /// Redeeming a mailed token (email verification, password reset).
    TokenRedemption,
}

impl Action {
    fn scope(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::ResetRequest => "reset-request",
            Self::TokenRedemption => "token-redemption",
        }
    }

    /// The configured number per window (0: not limited).
    fn limit(self, app: &App) -> u32 {
        match self {
            Self::Registration => app.config.registrations_per_ip,
            Self::ResetRequest => app.config.reset_requests_per_ip,
            Self::TokenRedemption => app.config.token_redemptions_per_ip,
        }
    }
}

/// Counts `action` for the request's address; 429 past the limit.
pub fn check(app: &App, action: Action, ctx: &RequestContext) -> Result<(), Error> {
    let limit = action.limit(app);
    let (Some(ip), None) = (ctx.client_ip, ctx.actor) else {
        return Ok(());
    };
    if limit == 0 {
        return Ok(());
    }
    let window = Duration::from_secs(app.config.anonymous_window.max(1));
    let quota = app
        .throttle
        .count_request(action.scope(), ip, limit, window);
    if quota.allowed {
        return Ok(());
    }
    metrics::counter!("eventauth_anonymous_limited_total", "action" => action.scope()).increment(1);
    Err(Error::TooManyAttempts {
        retry_after: quota.reset_after.max(Duration::from_secs(1)),
    })
}
