//! Open Archiver's access tokens: HS256 JWTs signed with the `JWT_SECRET`
//! its web front end shares (the front end verifies them itself, so they
//! must be exactly such tokens — unlike the other surfaces' EdDSA tokens,
//! whose public keys anyone may fetch). Each names a Session (`sid`): a
//! logout, a revocation or a password change ends it on every instance at
//! once through the deny-list, though the token itself runs for days.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::service::sessions::Caller;

use crate::App;

/// The claims Open Archiver puts in its tokens, plus the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// Their email.
    pub email: String,
    /// Their roles' names.
    pub roles: Vec<String>,
    /// Issued (seconds since the epoch): when the credentials were checked.
    pub iat: i64,
    /// Expires.
    pub exp: i64,
    /// The session the token belongs to.
    pub sid: String,
    /// When the credentials were checked, in milliseconds (`iat` is whole
    /// seconds: too coarse to tell a session from a cutoff in the same
    /// second).
    pub auth_ms: i64,
}

/// The signing secret: configured, or derived from the server secret
/// (one per app, handed to handlers as an extension).
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer of `app`'s configuration; says in the log when no secret
    /// is configured.
    pub fn new(app: &App) -> Self {
        Self::with_warning(app, true)
    }

    /// [`Signer::new`] for another route of the same app (the warning was
    /// logged once already).
    pub fn again(app: &App) -> Self {
        Self::with_warning(app, false)
    }

    fn with_warning(app: &App, warn: bool) -> Self {
        let secret = match &app.config.openarchiver_jwt_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => {
                if warn {
                    tracing::warn!(
                    "EVENTAUTH_OPENARCHIVER_JWT_SECRET is not set: Open Archiver tokens are signed \
                     with a key derived from the server secret, which Open Archiver's front end \
                     does not know; set it to the front end's JWT_SECRET"
                    );
                }
                app.tokens.derived_key("openarchiver-jwt").to_vec()
            }
        };
        Self::with_secret(&secret)
    }

    /// A token for these claims.
    pub fn issue(&self, claims: &Claims) -> Result<String, crate::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| crate::Error::Internal(e.into()))
    }

    /// The caller a token proves: signature (HS256 only), expiry, then the
    /// deny-list (the session not ended, the user not cut off). No
    /// database round trip.
    pub fn verify(&self, app: &App, token: &str) -> Option<Caller> {
        let (caller, auth_time) = self.read(token)?;
        if app
            .denylist
            .denies(caller.user_id, caller.session_id, auth_time)
        {
            return None;
        }
        Some(caller)
    }

    /// What a token says, once its signature and expiry hold: the caller and
    /// when they authenticated (the deny-list decides the rest).
    pub fn read(&self, token: &str) -> Option<(Caller, DateTime<Utc>)> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        let caller = Caller {
            user_id: Uuid::try_parse(&claims.sub).ok()?,
            session_id: Uuid::try_parse(&claims.sid).ok()?,
        };
        Some((
            caller,
            DateTime::<Utc>::from_timestamp_millis(claims.auth_ms)?,
        ))
    }

    /// A signer of this secret (the fuzz target's).
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}
