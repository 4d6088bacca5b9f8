//! Secrets that events must carry but no log may show.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// An argon2id (or other) password hash in PHC string form.
///
/// It lives in the User's events because the event log is the source of
/// truth; it never leaves the service (responses, logs and the public NATS
/// schema all omit it), and `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string, for verification.
    pub fn phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A hash of an opaque token (refresh token, session token). The token
/// itself is never stored; `Debug` does not print the hash either.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// Wraps a hex digest.
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is the same digest. The bytes are compared in
    /// constant time, so the time a presented token takes to be refused
    /// does not tell how much of its hash was right; an empty digest (the
    /// default, which no issued token has) matches nothing.
    pub fn matches(&self, other: &TokenHash) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        // `ct_eq` on slices of different lengths is false without looking
        // at the bytes: lengths are not secret (every digest has the same).
        !a.is_empty() && bool::from(a.ct_eq(b))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}
