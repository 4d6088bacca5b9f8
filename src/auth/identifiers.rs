//! Keyed hashes of identifiers: the aggregate ids of identifier claims.
//!
//! A stream id cannot be erased, so it must not be the email itself; an
//! HMAC with a server secret is stable (the same email always finds its
//! claim) yet reveals nothing without the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::input::Email;

/// Derives claim ids.
#[derive(Clone)]
pub struct IdentifierKeys {
    key: [u8; 32],
}

impl std::fmt::Debug for IdentifierKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentifierKeys(<redacted>)")
    }
}

impl IdentifierKeys {
    /// Keys derived from the server secret.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The claim id of an email.
    pub fn email(&self, email: &Email) -> String {
        self.digest(&["email", email.normalized()])
    }

    /// The claim id of a username within a facility.
    pub fn username(&self, facility: Uuid, normalized_username: &str) -> String {
        self.digest(&["username", &facility.to_string(), normalized_username])
    }

    /// The claim id of an identity at an external identity provider.
    pub fn external(&self, issuer: &str, subject: &str) -> String {
        self.digest(&["external", issuer, subject])
    }

    /// The stream id of a one-time value (a SAML assertion's id, with its
    /// issuer): the value never appears in a stream id.
    pub fn one_time(&self, purpose: &str, parts: &[&str]) -> String {
        let mut all = vec!["one-time", purpose];
        all.extend_from_slice(parts);
        self.digest(&all)
    }

    fn digest(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in parts {
            // Length-prefixed, so ("a", "bc") and ("ab", "c") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_email_in_any_case_gives_the_same_id_and_hides_the_email() {
        let keys = IdentifierKeys::new([7; 32]);
        let a = keys.email(&Email::parse("Ada@Example.com", "email").expect("valid"));
        let b = keys.email(&Email::parse("ada@example.com", "email").expect("valid"));
        assert_eq!(a, b);
        assert!(!a.contains("ada"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn another_secret_gives_another_id() {
        let email = Email::parse("ada@example.com", "email").expect("valid");
        assert_ne!(
            IdentifierKeys::new([1; 32]).email(&email),
            IdentifierKeys::new([2; 32]).email(&email)
        );
    }

    #[test]
    fn usernames_are_scoped_by_facility() {
        let keys = IdentifierKeys::new([7; 32]);
        assert_ne!(
            keys.username(Uuid::from_u128(1), "ada"),
            keys.username(Uuid::from_u128(2), "ada")
        );
    }
}
