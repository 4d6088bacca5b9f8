//! Secrets that events must carry but no log may show.

use std::fmt;

use serde::{Deserialize, Serialize};

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

    /// Whether `other` is the same digest (compared in constant time; an
    /// empty digest matches nothing).
    pub fn matches(&self, other: &TokenHash) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        !a.is_empty()
            && a.len() == b.len()
            && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}
