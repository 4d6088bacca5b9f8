//! Password hashes of the systems users migrate from, verified at login and
//! then replaced by argon2id (the login's rehash: `PasswordRehashed`).
//!
//! - Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>` (Kolibri's
//!   default hasher), and `pbkdf2_sha1$…`;
//! - bcrypt: `$2a$`, `$2b$`, `$2y$` (modular crypt), Django's
//!   `bcrypt$<modular crypt>` and `bcrypt_sha256$<modular crypt>` (the
//!   password pre-hashed with SHA-256, hex).
//!
//! Anything else is not a legacy hash ([`Legacy::parse`] answers `None`) and
//! is verified as argon2 (PHC) by the caller.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most PBKDF2 iterations accepted (Django 5 uses 870,000; a hash
/// asking for far more would only burn CPU).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The highest bcrypt cost accepted: each step doubles the work, and a cost
/// of 31 would take hours per login (real systems use 10–13; found by
/// review while fuzzing the import).
const MAX_BCRYPT_COST: u32 = 15;

/// A legacy hash, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Legacy<'a> {
    /// Django PBKDF2.
    Pbkdf2 {
        /// `sha256` or `sha1`.
        sha256: bool,
        /// Iterations.
        iterations: u32,
        /// Salt as stored (its bytes are the salt).
        salt: &'a str,
        /// The expected digest.
        digest: Vec<u8>,
    },
    /// bcrypt (modular crypt string), the password maybe pre-hashed.
    Bcrypt {
        /// The `$2b$…` string.
        crypt: &'a str,
        /// Django's `bcrypt_sha256`: verify hex(SHA-256(password)).
        sha256_first: bool,
    },
}

impl<'a> Legacy<'a> {
    /// Parses a stored hash; `None` when it is not a legacy format (or is
    /// malformed).
    pub fn parse(stored: &'a str) -> Option<Self> {
        if let Some(rest) = stored
            .strip_prefix("pbkdf2_sha256$")
            .map(|r| (true, r))
            .or_else(|| stored.strip_prefix("pbkdf2_sha1$").map(|r| (false, r)))
        {
            let (sha256, rest) = rest;
            let mut parts = rest.splitn(3, '$');
            let iterations: u32 = parts.next()?.parse().ok()?;
            let salt = parts.next()?;
            let digest = STANDARD.decode(parts.next()?).ok()?;
            // Django stores the hash's own output length; a longer digest
            // would multiply the work beyond the iteration cap.
            let length = if sha256 { 32 } else { 20 };
            if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS || digest.len() != length {
                return None;
            }
            return Some(Self::Pbkdf2 {
                sha256,
                iterations,
                salt,
                digest,
            });
        }
        let (crypt, sha256_first) = if let Some(rest) = stored.strip_prefix("bcrypt_sha256$") {
            (rest, true)
        } else if let Some(rest) = stored.strip_prefix("bcrypt$") {
            (rest, false)
        } else {
            (stored, false)
        };
        let modular = ["$2a$", "$2b$", "$2y$", "$2x$"]
            .iter()
            .any(|prefix| crypt.starts_with(prefix));
        let cost: u32 = crypt.get(4..6)?.parse().ok()?;
        (modular && cost <= MAX_BCRYPT_COST).then_some(Self::Bcrypt {
            crypt,
            sha256_first,
        })
    }

    /// Whether `password` matches (constant-time comparison).
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Pbkdf2 {
                sha256,
                iterations,
                salt,
                digest,
            } => {
                let mut derived = vec![0u8; digest.len()];
                if *sha256 {
                    pbkdf2::pbkdf2_hmac::<Sha256>(
                        password,
                        salt.as_bytes(),
                        *iterations,
                        &mut derived,
                    );
                } else {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                        password,
                        salt.as_bytes(),
                        *iterations,
                        &mut derived,
                    );
                }
                // Constant time: how much of the digest matched must not
                // show (a length difference may: lengths are not secret).
                bool::from(derived[..].ct_eq(&digest[..]))
            }
            Self::Bcrypt {
                crypt,
                sha256_first,
            } => {
                let input = if *sha256_first {
                    hex::encode(Sha256::digest(password)).into_bytes()
                } else {
                    password.to_vec()
                };
                bcrypt::verify(input, crypt).unwrap_or(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_pbkdf2_hashes_verify_their_password_only() {
        // Computed by Python's hashlib.pbkdf2_hmac, which Django's
        // PBKDF2PasswordHasher (Kolibri's) uses; 260,000 iterations is
        // Django 3.2's default.
        let vectors = [
            (
                "pbkdf2_sha256$1000$kolibrisalt$ERcl1XQ+eDsnymjij9XNoXJsbZAxueW67ymG1BhWqLw=",
                "correct horse",
            ),
            (
                "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
                "lètmein",
            ),
            // Exported from a real Kolibri 0.19.5.
            (
                "pbkdf2_sha256$260000$TSjnaHncskKbHa0da9WGUx$tyVzzCt6eAa0dPp1OMHbq+PFYDSh57FFaQuWXRsa0VQ=",
                "Kolibri export 2026!",
            ),
            (
                "pbkdf2_sha1$1000$salt1$v1sY7XVH70vcmoRIvfYFoCRwboE=",
                "correct horse",
            ),
        ];
        for (stored, password) in vectors {
            let legacy = Legacy::parse(stored).expect("parses");
            assert!(legacy.verify(password.as_bytes()), "{stored}");
            assert!(!legacy.verify(b"correct horsf"), "{stored}");
        }
        assert!(Legacy::parse("pbkdf2_sha256$0$salt$AAAA").is_none());
        assert!(Legacy::parse("pbkdf2_sha256$abc$salt$AAAA").is_none());
        assert!(Legacy::parse("pbkdf2_sha256$99999999999$salt$AAAA").is_none());
        assert!(Legacy::parse("pbkdf2_sha256$1000$salt$not base64!").is_none());
        assert!(Legacy::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_none());
    }

    #[test]
    fn bcrypt_hashes_verify_in_every_wrapping() {
        // crypt_blowfish's published test vector.
        let known = Legacy::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
            .expect("parses");
        assert!(known.verify(b"U*U"));
        assert!(!known.verify(b"U*V"));
        let crypt = bcrypt::hash("hunter22", 4).expect("bcrypt");
        for stored in [crypt.clone(), format!("bcrypt${crypt}")] {
            let legacy = Legacy::parse(&stored).expect("parses");
            assert!(legacy.verify(b"hunter22"), "{stored}");
            assert!(!legacy.verify(b"hunter23"), "{stored}");
        }
        let prehashed = bcrypt::hash(hex::encode(Sha256::digest(b"hunter22")), 4).expect("bcrypt");
        let stored = format!("bcrypt_sha256${prehashed}");
        let legacy = Legacy::parse(&stored).expect("parses");
        assert!(legacy.verify(b"hunter22"));
        assert!(!legacy.verify(b"hunter23"));
    }

    #[test]
    fn hashes_asking_for_unbounded_work_are_not_accepted() {
        // bcrypt cost 31: hours per login.
        let crypt = bcrypt::hash("hunter22", 4).expect("bcrypt");
        let costly = format!("$2b$31${}", &crypt[7..]);
        assert_eq!(Legacy::parse(&costly), None);
        assert!(Legacy::parse(&crypt).is_some());
        // A PBKDF2 digest longer than the hash's output multiplies the work.
        let long = STANDARD.encode([7u8; 4096]);
        assert_eq!(
            Legacy::parse(&format!("pbkdf2_sha256$1000$salt${long}")),
            None
        );
        let right = STANDARD.encode([7u8; 32]);
        assert!(Legacy::parse(&format!("pbkdf2_sha256$1000$salt${right}")).is_some());
        let sha1 = STANDARD.encode([7u8; 20]);
        assert!(Legacy::parse(&format!("pbkdf2_sha1$1000$salt${sha1}")).is_some());
    }
}
