//! Bearer access tokens: the hot-path check, no database round trip.

use uuid::Uuid;

use crate::auth::tokens::AccessClaims;
use crate::{App, Error};

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
