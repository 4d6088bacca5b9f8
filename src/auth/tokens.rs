//! Access tokens (EdDSA JWTs) and refresh tokens (opaque).
//!
//! A refresh token is `<session id>.<256 bits>`: the session id lets the
//! service load the Session aggregate directly, and only a SHA-256 of the
//! whole token is ever stored. On rotation the successor is derived from the
//! presented token with an HMAC under a server key, so within the reuse
//! grace period the service can hand out the *same* successor again without
//! having stored it (two tabs refreshing at once both stay logged in).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aggregates::TokenHash;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::keys::KeyMaterial;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Role slugs at issue time.
    pub roles: Vec<String>,
    /// When the session authenticated (seconds, as OpenID Connect has it).
    pub auth_time: i64,
    /// The same in milliseconds: cutoffs are compared at this precision.
    pub auth_time_ms: i64,
}

impl AccessClaims {
    /// The user id.
    pub fn user_id(&self) -> Option<Uuid> {
        self.sub.parse().ok()
    }
    /// The session id.
    pub fn session_id(&self) -> Option<Uuid> {
        self.sid.parse().ok()
    }
    /// When the session authenticated.
    pub fn auth_time(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.auth_time_ms)
    }
}

/// A freshly issued access token.
#[derive(Clone)]
pub struct AccessToken {
    /// The compact JWT.
    pub token: String,
    /// Its expiry.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Issues and verifies tokens.
pub struct Tokens {
    encoding: EncodingKey,
    kid: String,
    decoding: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    refresh_key: [u8; 32],
    /// Tokens whose signature was verified, by SHA-256 of the token, until
    /// they expire: the hot path verifies each signature once.
    verified: DashMap<[u8; 32], Arc<AccessClaims>>,
}

/// Most verified tokens remembered at once; beyond, new ones are verified
/// every time until expired entries are pruned.
const MAX_CACHED: usize = 100_000;

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `keys`.
    pub fn new(keys: &KeyMaterial, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let decoding = keys
            .published
            .iter()
            .map(|(kid, raw)| (kid.clone(), DecodingKey::from_ed_der(raw)))
            .collect();
        let jwks = serde_json::json!({
            "keys": keys.published.iter().map(|(kid, raw)| serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(raw),
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            })).collect::<Vec<_>>()
        });
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_ed_der(&keys.signing.private_der),
            kid: keys.signing.kid.clone(),
            decoding,
            jwks,
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
            refresh_key: keys.derive("refresh-token-successor"),
            verified: DashMap::new(),
        }
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs an access token for a session.
    pub fn issue_access(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: &[String],
        auth_time: DateTime<Utc>,
    ) -> anyhow::Result<AccessToken> {
        let now = Utc::now();
        let expires_at = now + self.ttl;
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            jti: Uuid::now_v7().to_string(),
            roles: roles.to_vec(),
            auth_time: auth_time.timestamp(),
            auth_time_ms: auth_time.timestamp_millis(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_string());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)?;
        Ok(AccessToken { token, expires_at })
    }

    /// Verifies signature, issuer, audience and expiry. Revocation is the
    /// deny-list's job.
    pub fn verify_access(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Utc::now().timestamp();
        if let Some(claims) = self.verified.get(&digest) {
            if claims.exp > now {
                return Some(claims.clone());
            }
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = self.decoding.get(header.kid.as_deref()?)?;
        let claims = Arc::new(
            jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
                .ok()?
                .claims,
        );
        if self.verified.len() < MAX_CACHED {
            self.verified.insert(digest, claims.clone());
        }
        Some(claims)
    }

    /// Forgets verified tokens that have expired.
    pub fn prune_verified(&self) {
        let now = Utc::now().timestamp();
        self.verified.retain(|_, claims| claims.exp > now);
    }

    /// A new random refresh token for a session.
    pub fn new_refresh(&self, session_id: Uuid) -> String {
        new_opaque(session_id)
    }

    /// The successor of a refresh token (deterministic, keyed).
    pub fn successor(&self, presented: &str, session_id: Uuid) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.refresh_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(presented.as_bytes());
        format!(
            "{}.{}",
            session_id.simple(),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// A value bound to a session for `purpose` (64 hex digits): derived
    /// from the session with a server key, so it works only with its own
    /// session and is never stored (a surface's CSRF token, say).
    pub fn session_mac(&self, purpose: &str, session_id: Uuid) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.refresh_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(session_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A key for `purpose` derived from the server secret: the same on
    /// every instance, never stored (a surface's signing key when none is
    /// configured).
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.refresh_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"derived-key:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A login token for `user_id` made at `unix_time`: Django's token
    /// shape (`<base36 time>-<20 hex digits>`, what Kolibri's
    /// `{user_id, auth_token}` login takes), keyed with a server key, good
    /// for [`LOGIN_TOKEN_TTL`] seconds after it was made.
    pub fn login_token(&self, user_id: Uuid, unix_time: i64) -> String {
        let stamp = to_base36(unix_time.max(0) as u64);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.refresh_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        // The tag of the tokens' first version: tokens out there stay good.
        mac.update(b"kolibri-auth-token:");
        mac.update(user_id.simple().to_string().as_bytes());
        mac.update(stamp.as_bytes());
        let digest = hex::encode(mac.finalize().into_bytes());
        format!("{stamp}-{}", &digest[..20])
    }

    /// Whether `token` is a login token of `user_id` made within the last
    /// [`LOGIN_TOKEN_TTL`] seconds before `now`.
    pub fn check_login_token(&self, user_id: Uuid, token: &str, now: i64) -> bool {
        let Some((stamp, _)) = token.split_once('-') else {
            return false;
        };
        let Ok(made) = i64::from_str_radix(stamp, 36) else {
            return false;
        };
        let expected = self.login_token(user_id, made);
        let same: bool = expected.as_bytes().ct_eq(token.as_bytes()).into();
        same && made <= now + 60 && now - made <= LOGIN_TOKEN_TTL
    }

    /// The session a refresh token belongs to, if it is well-formed.
    pub fn refresh_session(token: &str) -> Option<Uuid> {
        opaque_owner(token)
    }
}

/// How long a login token logs in (Kolibri's `TOKEN_EXPIRE_LIMIT`),
/// seconds.
pub const LOGIN_TOKEN_TTL: i64 = 900;

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A new opaque token naming the aggregate it belongs to:
/// `<owner id, 32 hex>.<256 random bits, base64url>` (refresh tokens,
/// email-verification and password-reset tokens). Only its hash is stored.
pub fn new_opaque(owner: Uuid) -> String {
    let secret: [u8; 32] = rand::random();
    format!("{}.{}", owner.simple(), URL_SAFE_NO_PAD.encode(secret))
}

/// The owner an opaque token names, if it is well-formed.
pub fn opaque_owner(token: &str) -> Option<Uuid> {
    let (owner, secret) = token.split_once('.')?;
    if owner.len() != 32 || secret.len() != 43 {
        return None;
    }
    Uuid::try_parse(owner).ok()
}

/// The stored form of an opaque token.
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash::new(hex::encode(Sha256::digest(token.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::Ed25519Key;

    fn tokens() -> Tokens {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let public_raw = key.verifying_key().to_bytes();
        let keys = KeyMaterial::for_tests(Ed25519Key {
            kid: "k1".into(),
            private_der: ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
                .expect("der")
                .as_bytes()
                .to_vec(),
            public_raw,
        });
        Tokens::new(&keys, "iss", "aud", Duration::from_secs(60))
    }

    #[test]
    fn login_tokens_work_for_their_user_for_fifteen_minutes() {
        let tokens = tokens();
        let user = Uuid::now_v7();
        let made = 1_800_000_000;
        let token = tokens.login_token(user, made);
        let (stamp, digest) = token.split_once('-').expect("django shape");
        assert_eq!(i64::from_str_radix(stamp, 36).expect("base36"), made);
        assert_eq!(digest.len(), 20);
        assert!(tokens.check_login_token(user, &token, made + 899));
        assert!(!tokens.check_login_token(user, &token, made + 901));
        assert!(!tokens.check_login_token(Uuid::now_v7(), &token, made));
        let forged = format!("{}-{}", to_base36(made as u64 + 100), digest);
        assert!(!tokens.check_login_token(user, &forged, made + 100));
        assert!(!tokens.check_login_token(user, "garbage", made));
    }

    #[test]
    fn an_issued_access_token_verifies_and_carries_the_session() {
        let tokens = tokens();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let auth_time = Utc::now();
        let issued = tokens
            .issue_access(user, session, &["admin".into()], auth_time)
            .expect("issue");
        let claims = tokens.verify_access(&issued.token).expect("verifies");
        assert_eq!(claims.user_id(), Some(user));
        assert_eq!(claims.session_id(), Some(session));
        assert_eq!(claims.roles, vec!["admin".to_string()]);
        assert_eq!(claims.auth_time_ms, auth_time.timestamp_millis());
    }

    #[test]
    fn a_tampered_access_token_does_not_verify() {
        let tokens = tokens();
        let issued = tokens
            .issue_access(Uuid::now_v7(), Uuid::now_v7(), &[], Utc::now())
            .expect("issue");
        let mut tampered = issued.token.clone();
        tampered.pop();
        tampered.push(if issued.token.ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert!(tokens.verify_access(&tampered).is_none());
        assert!(tokens.verify_access("garbage").is_none());
    }

    #[test]
    fn refresh_tokens_name_their_session_and_successors_are_deterministic() {
        let tokens = tokens();
        let session = Uuid::now_v7();
        let token = tokens.new_refresh(session);
        assert_eq!(Tokens::refresh_session(&token), Some(session));
        let next = tokens.successor(&token, session);
        assert_eq!(next, tokens.successor(&token, session));
        assert_ne!(next, token);
        assert_eq!(Tokens::refresh_session(&next), Some(session));
        assert_ne!(hash_token(&token), hash_token(&next));
        assert!(Tokens::refresh_session("nonsense").is_none());
    }
}
