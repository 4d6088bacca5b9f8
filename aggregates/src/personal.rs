//! `Personal<T>`: the one wrapper for personal data inside event payloads.
//!
//! Every email, name, IP address or user agent that enters an event is
//! wrapped, so the store can encrypt it with a key of the person's own and
//! erase it by destroying that key ("crypto-shredding"). This crate never
//! sees a key: a value serializes tagged as `{"plain": …}`, the store's
//! codec (`src/vault` in the service) turns each such object into
//! `{"enc": …}` on the way to the database and back on the way out, and a
//! value whose key is gone comes back as `{"erased": true}`: an erased
//! `Personal`, holding `T`'s default, that says so ([`Personal::is_erased`]).
//!
//! `Debug` never prints the value, so personal data stays out of logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Personal data about a user, as stored in an event.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Personal<T> {
    value: T,
    /// The value was erased (its key destroyed); `value` is `T`'s default.
    erased: bool,
}

impl<T> Personal<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self {
            value,
            erased: false,
        }
    }

    /// The clear value (`T`'s default once erased). Every read of personal
    /// data goes through here.
    pub fn expose(&self) -> &T {
        &self.value
    }

    /// The clear value, consuming the wrapper.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Whether the value was erased.
    pub fn is_erased(&self) -> bool {
        self.erased
    }
}

impl<T: Default> Personal<T> {
    /// An erased value (what a state keeps once its person was erased).
    pub fn erased() -> Self {
        Self {
            value: T::default(),
            erased: true,
        }
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}

/// The clear form, tagged: what the store's codec encrypts (`plain`) and
/// what it gives back for a destroyed key (`erased`). Encrypted values
/// (`enc`) never reach this crate.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Stored<T> {
    /// The value.
    Plain(T),
    /// Its key was destroyed.
    Erased(bool),
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.erased {
            Stored::<&T>::Erased(true).serialize(serializer)
        } else {
            Stored::Plain(&self.value).serialize(serializer)
        }
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Stored::<T>::deserialize(deserializer)? {
            Stored::Plain(value) => Ok(Self::new(value)),
            Stored::Erased(_) => Ok(Self::erased()),
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
    fn an_erased_value_says_so_and_round_trips() {
        let back: Personal<String> =
            serde_json::from_str(r#"{"erased":true}"#).expect("deserializes");
        assert!(back.is_erased());
        assert_eq!(back.expose(), "");
        assert_eq!(
            serde_json::to_string(&back).expect("serializes"),
            r#"{"erased":true}"#
        );
        assert!(!Personal::new(String::new()).is_erased());
    }

    #[test]
    fn untagged_values_are_rejected() {
        assert!(serde_json::from_str::<Personal<String>>(r#""ada@example.com""#).is_err());
    }
}
