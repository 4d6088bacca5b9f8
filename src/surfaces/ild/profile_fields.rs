//! ILD's profile fields by their wire names (`firstName`, `birthDate`, …,
//! `profileImage`, `removeProfileImage`), onto the rules of
//! [`crate::service::profile`].
//!
//! Unknown fields are refused (400) rather than silently dropped: a client
//! that sends `email` here learns that it cannot change it this way.

use aggregates::profile::Change;
use aggregates::{Personal, ProfileChanges};
use bytes::Bytes;

use crate::input::PersonName;
use crate::service::profile::{self, Picture, ProfileUpdate};
use crate::Error;

/// A profile update as it arrived: text fields and maybe a picture.
#[derive(Default)]
pub struct ProfileForm {
    /// `(name, value)` pairs, in order (a repeated name: the last wins).
    pub fields: Vec<(String, String)>,
    /// The picture's bytes.
    pub image: Option<Bytes>,
}

impl std::fmt::Debug for ProfileForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProfileForm")
            .field("fields", &names)
            .field("image_bytes", &self.image.as_ref().map(Bytes::len))
            .finish()
    }
}

impl ProfileForm {
    /// The update the form asks for.
    pub fn into_update(self) -> Result<ProfileUpdate, Error> {
        let (changes, remove_image) = parse_fields(&self.fields)?;
        let picture = match (self.image, remove_image) {
            (Some(_), true) => {
                return Err(Error::invalid(
                    "CONFLICTING_FIELDS",
                    "send either profileImage or removeProfileImage",
                ))
            }
            (Some(upload), false) => Picture::Replace(upload),
            (None, true) => Picture::Remove,
            (None, false) => Picture::Keep,
        };
        Ok(ProfileUpdate { changes, picture })
    }
}

fn personal(value: Option<String>) -> Change<Personal<String>> {
    Some(value.map(Personal::new))
}

/// The changes the text fields ask for (the picture is handled apart).
fn parse_fields(fields: &[(String, String)]) -> Result<(ProfileChanges, bool), Error> {
    let mut changes = ProfileChanges::default();
    let mut remove_image = false;
    for (name, raw) in fields {
        match name.as_str() {
            "firstName" => {
                let name = PersonName::parse(raw, "firstName")?;
                changes.first_name = Some(Personal::new(name.as_str().to_string()));
            }
            "lastName" => {
                let name = PersonName::parse(raw, "lastName")?;
                changes.last_name = Some(Personal::new(name.as_str().to_string()));
            }
            "nickname" => changes.nickname = personal(profile::nickname(raw, "nickname")?),
            "bio" => changes.bio = personal(profile::bio(raw, "bio")?),
            "location" => changes.location = personal(profile::location(raw, "location")?),
            "website" => changes.website = personal(profile::website(raw, "website")?),
            "phone" => changes.phone = personal(profile::phone(raw, "phone")?),
            "birthDate" => {
                let date = profile::birth_date(raw, "birthDate")?;
                changes.birth_date = Some(date.map(Personal::new));
            }
            "language" => changes.language = Some(profile::language(raw, "language")?),
            "timezone" => changes.timezone = Some(profile::timezone(raw, "timezone")?),
            "removeProfileImage" => {
                remove_image = match raw.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => {
                        return Err(Error::invalid_field(
                            "removeProfileImage",
                            "INVALID_FORMAT",
                            "removeProfileImage must be true or false",
                        ))
                    }
                };
            }
            _ => {
                return Err(Error::invalid(
                    "UNKNOWN_FIELD",
                    format!(
                        "unknown profile field `{}`",
                        name.chars().take(40).collect::<String>()
                    ),
                ))
            }
        }
    }
    Ok((changes, remove_image))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_field_is_checked_and_empty_clears() {
        let (changes, remove) = parse_fields(&fields(&[
            ("nickname", " ada "),
            ("bio", ""),
            ("website", "https://ada.example"),
            ("language", "pt-BR"),
            ("timezone", "America/Sao_Paulo"),
            ("phone", "+44 (20) 7946-0958"),
            ("birthDate", "1915-12-10"),
        ]))
        .expect("valid");
        assert!(!remove);
        assert_eq!(
            changes.nickname,
            Some(Some(Personal::new("ada".to_string())))
        );
        assert_eq!(changes.bio, Some(None));
        assert_eq!(
            changes.names(),
            vec![
                "nickname",
                "bio",
                "website",
                "phone",
                "birthDate",
                "language",
                "timezone"
            ]
        );
    }

    #[test]
    fn bad_values_and_unknown_fields_are_refused() {
        for (name, value) in [
            ("website", "javascript:alert(1)"),
            ("website", "https:///path"),
            ("phone", "call me"),
            ("language", "english please"),
            ("timezone", "../etc"),
            ("birthDate", "3000-01-01"),
            ("birthDate", "1815-12-10"),
            ("birthDate", "10/12/1915"),
            ("firstName", " "),
            ("nickname", &"x".repeat(51)),
            ("email", "new@example.com"),
            ("removeProfileImage", "maybe"),
        ] {
            let result = parse_fields(&fields(&[(name, value)]));
            let error = result
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        }
    }
}
