//! `Personal<T>`: the one wrapper for personal data inside event payloads.
//!
//! Every email, name, IP address or user agent that enters an event is
//! wrapped from the first event on, so that per-user encryption (and
//! erasure by destroying a user's key, "crypto-shredding") can arrive later
//! without rewriting the log. Until then the cipher is a pass-through, but the
//! stored form is already tagged (`{"plain": …}`) so encrypted values
//! (`{"enc": …}`) can be told apart from plain ones.
//!
//! `Debug` never prints the value, so personal data stays out of logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Personal data about a user, as stored in an event.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The clear value. Every read of personal data goes through here, so a
    /// later cipher has exactly one place to decrypt.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The clear value, consuming the wrapper.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}

/// The stored form: tagged by how it is protected.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Stored<T> {
    /// Pass-through cipher: the value itself.
    Plain(T),
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored::Plain(&self.0).serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Stored::<T>::deserialize(deserializer)? {
            Stored::Plain(value) => Ok(Self(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stored_tagged_and_round_trips() {
        let value = Personal::new("ada@example.com".to_string());
        let json = serde_json::to_string(&value).expect("serializes");
        assert_eq!(json, r#"{"plain":"ada@example.com"}"#);
        let back: Personal<String> = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, value);
    }

    #[test]
    fn debug_output_hides_the_value() {
        let value = Personal::new("ada@example.com".to_string());
        assert!(!format!("{value:?}").contains("ada"));
    }

    #[test]
    fn untagged_values_are_rejected() {
        assert!(serde_json::from_str::<Personal<String>>(r#""ada@example.com""#).is_err());
    }
}
