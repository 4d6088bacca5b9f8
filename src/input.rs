//! Parse, don't validate: the newtypes every surface builds at the edge.
//! Once a value of these types exists, it is known to be well-formed.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// Longest email accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest password accepted, bytes: argon2's cost grows with length.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest new password, characters (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest name accepted, characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A syntactically valid email address.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    /// Parses an address; `field` names it in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Error> {
        let display = trimmed(raw, field)?;
        if display.len() > MAX_EMAIL_LEN || email_address::EmailAddress::from_str(display).is_err()
        {
            return Err(Error::invalid_field(
                field,
                "INVALID_EMAIL",
                format!("{field} is not a valid email address"),
            ));
        }
        Ok(Self {
            display: display.to_string(),
            normalized: display.to_lowercase(),
        })
    }

    /// As entered (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form uniqueness is decided on (lowercase).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A password as presented: non-empty, at most [`MAX_PASSWORD_BYTES`].
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// A password presented to log in (any non-empty one).
    pub fn presented(raw: String, field: &'static str) -> Result<Self, Error> {
        if raw.is_empty() {
            return Err(Error::invalid_field(
                field,
                "REQUIRED",
                format!("{field} is required"),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid_field(
                field,
                "PASSWORD_TOO_LONG",
                format!("{field} must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A new password: also at least [`MIN_PASSWORD_CHARS`] characters.
    pub fn new_password(raw: String, field: &'static str) -> Result<Self, Error> {
        let chars = raw.chars().count();
        let password = Self::presented(raw, field)?;
        if chars < MIN_PASSWORD_CHARS {
            return Err(Error::invalid_field(
                field,
                "PASSWORD_TOO_SHORT",
                format!("{field} must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(password)
    }

    /// The clear password, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A person's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name; `field` names it in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Error> {
        let name = trimmed(raw, field)?;
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(Error::invalid_field(
                field,
                "INVALID_NAME",
                format!("{field} must be 1 to {MAX_NAME_CHARS} printable characters"),
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

/// A Kolibri username: a valid email address (up to 254 characters), or
/// up to 30 characters without whitespace or any of
/// `` `~!@#$%^&*()-+={}[]|\/:;"'<>,.? `` (Kolibri 0.19.5's rule). Unique
/// per facility regardless of case.
#[derive(Clone, PartialEq, Eq)]
pub struct Username(String);

/// Characters Kolibri refuses in a username that is not an email address.
pub const USERNAME_FORBIDDEN: &str = "`~!@#$%^&*()-+={}[]|\\/:;\"'<>,.?";

impl Username {
    /// Parses a username; `field` names it in the error.
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Error> {
        let name = trimmed(raw, field)?;
        let email = name.chars().count() <= 254 && Email::parse(name, field).is_ok();
        let plain = name.chars().count() <= 30
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || USERNAME_FORBIDDEN.contains(c));
        if email || plain {
            Ok(Self(name.to_string()))
        } else {
            Err(Error::invalid_field(
                field,
                "INVALID",
                "Enter a valid username. This value can contain only letters, numbers, and underscores.",
            ))
        }
    }

    /// As entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on (lowercase).
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Username(<redacted>)")
    }
}

/// A field the request must carry: its value, or a 400 naming it.
pub fn required<T>(value: Option<T>, field: &'static str) -> Result<T, Error> {
    value.ok_or_else(|| Error::invalid_field(field, "REQUIRED", format!("{field} is required")))
}

/// `raw` trimmed, or `REQUIRED` when nothing is left.
fn trimmed<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, Error> {
    required(
        Some(plain(raw.trim(), field)?).filter(|t| !t.is_empty()),
        field,
    )
}

/// Free text a client sent (a search, an id number, a name): no control
/// characters — NUL cannot even be stored (PostgreSQL's `jsonb` and `text`
/// refuse it), and the rest have no place on one line.
pub fn plain<'a>(raw: &'a str, field: &'static str) -> Result<&'a str, Error> {
    if raw.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            field,
            "CONTROL_CHARACTER",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(raw)
}

/// An id from a path or body: a UUID, or a 400 naming `field` (every
/// surface parses its ids through here).
pub fn parse_id(raw: &str, field: &'static str) -> Result<uuid::Uuid, crate::Error> {
    uuid::Uuid::try_parse(raw.trim()).map_err(|_| {
        crate::Error::invalid_field(field, "INVALID_ID", format!("{field} must be a UUID"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_kolibris_rule() {
        for good in [
            "ada",
            "Ada_Lovelace",
            "ada@example.com",
            "learner1",
            "ñandú",
        ] {
            assert!(Username::parse(good, "username").is_ok(), "{good}");
        }
        for bad in ["", "ada lovelace", "ada.l", "a-b", "x'y", &"a".repeat(31)] {
            assert!(Username::parse(bad, "username").is_err(), "{bad}");
        }
        assert_eq!(
            Username::parse("Ada", "username")
                .expect("valid")
                .normalized(),
            "ada"
        );
    }

    #[test]
    fn emails_are_trimmed_and_normalized_to_lowercase() {
        let email = Email::parse("  Ada@Example.COM ", "email").expect("valid");
        assert_eq!(email.as_str(), "Ada@Example.COM");
        assert_eq!(email.normalized(), "ada@example.com");
    }

    #[test]
    fn malformed_or_overlong_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "not-an-email",
            "a@",
            "@b.c",
            &format!("{}@x.io", "a".repeat(250)),
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn new_passwords_need_eight_characters_and_at_most_1_kib() {
        assert!(Password::new_password("short".into(), "password").is_err());
        assert!(Password::new_password("long enough".into(), "password").is_ok());
        assert!(Password::new_password("x".repeat(1025), "password").is_err());
        assert!(Password::new_password("x".repeat(1024), "password").is_ok());
    }

    #[test]
    fn presented_passwords_must_not_be_empty() {
        assert!(Password::presented(String::new(), "password").is_err());
        assert!(Password::presented("x".into(), "password").is_ok());
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(PersonName::parse("  Ada ", "firstName").is_ok_and(|n| n.as_str() == "Ada"));
        assert!(PersonName::parse("", "firstName").is_err());
        assert!(PersonName::parse("a\u{0}b", "firstName").is_err());
        assert!(PersonName::parse(&"a".repeat(101), "firstName").is_err());
    }

    #[test]
    fn debug_output_hides_personal_data_and_secrets() {
        let email = Email::parse("ada@example.com", "email").expect("valid");
        let password = Password::presented("hunter22".into(), "password").expect("valid");
        assert!(!format!("{email:?}{password:?}").contains("ada"));
        assert!(!format!("{password:?}").contains("hunter"));
    }
}
