//! The user's own profile: fields and picture.
//!
//! Fields (wire names; every one optional, an empty value clears it, names
//! excepted):
//!
//! | field | visibility | rule |
//! |---|---|---|
//! | `firstName`, `lastName` | public | 1–100 printable characters |
//! | `nickname` | public | ≤ 50 characters |
//! | `bio` | public | ≤ 1000 characters (line breaks allowed) |
//! | `location` | public | ≤ 100 characters |
//! | `website` | public | an `http://` or `https://` URL, ≤ 200 characters |
//! | `language` | public | a language tag such as `de` or `pt-BR` |
//! | `timezone` | public | an IANA zone name such as `Europe/Berlin` |
//! | `phone` | private | ≤ 32 of digits, spaces and `+ - ( ) .` |
//! | `birthDate` | private | `YYYY-MM-DD`, after 1900-01-01, not in the future |
//! | `profileImage` | public | a picture file (see [`crate::images`]) |
//! | `removeProfileImage` | — | `true` removes the picture |
//!
//! Unknown fields are refused (400) rather than silently dropped: a client
//! that sends `email` here learns that it cannot change it this way.

use aggregates::profile::Change;
use aggregates::{Personal, ProfileChanges, ProfileImage, User, UserCommand};
use bytes::Bytes;
use chrono::NaiveDate;

use super::sessions::Principal;
use super::users::UserView;
use super::RequestContext;
use crate::blobs::BlobKey;
use crate::input::PersonName;
use crate::{App, Error};

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

fn too_long(field: &'static str, max: usize) -> Error {
    Error::invalid_field(
        field,
        "TOO_LONG",
        format!("{field} must be at most {max} characters"),
    )
}

/// A clearable free-text field: trimmed; empty clears; no control
/// characters but line breaks where `multiline`.
fn free_text(
    raw: &str,
    field: &'static str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, Error> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(too_long(field, max));
    }
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'));
    if value.chars().any(bad) {
        return Err(Error::invalid_field(
            field,
            "INVALID_TEXT",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(value.to_string()))
}

fn checked(
    raw: &str,
    field: &'static str,
    max: usize,
    valid: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<Option<String>, Error> {
    let Some(value) = free_text(raw, field, max, false)? else {
        return Ok(None);
    };
    if valid(&value) {
        Ok(Some(value))
    } else {
        Err(Error::invalid_field(
            field,
            "INVALID_FORMAT",
            format!("{field} must be {expected}"),
        ))
    }
}

fn personal(value: Option<String>) -> Change<Personal<String>> {
    Some(value.map(Personal::new))
}

/// The changes the text fields ask for (the picture is handled apart).
pub fn parse_fields(fields: &[(String, String)]) -> Result<(ProfileChanges, bool), Error> {
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
            "nickname" => changes.nickname = personal(free_text(raw, "nickname", 50, false)?),
            "bio" => changes.bio = personal(free_text(raw, "bio", 1000, true)?),
            "location" => changes.location = personal(free_text(raw, "location", 100, false)?),
            "website" => {
                let url = checked(
                    raw,
                    "website",
                    200,
                    |v| {
                        let rest = v
                            .strip_prefix("https://")
                            .or_else(|| v.strip_prefix("http://"));
                        rest.is_some_and(|r| {
                            !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace)
                        })
                    },
                    "an http:// or https:// URL",
                )?;
                changes.website = personal(url);
            }
            "phone" => {
                let phone = checked(
                    raw,
                    "phone",
                    32,
                    |v| {
                        v.chars().any(|c| c.is_ascii_digit())
                            && v.chars()
                                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                    },
                    "digits, spaces and + - ( ) .",
                )?;
                changes.phone = personal(phone);
            }
            "birthDate" => {
                let date = match raw.trim() {
                    "" => None,
                    value => Some(parse_birth_date(value)?),
                };
                changes.birth_date = Some(date.map(Personal::new));
            }
            "language" => {
                changes.language = Some(checked(
                    raw,
                    "language",
                    35,
                    |v| {
                        let mut parts = v.split('-');
                        let primary = parts.next().unwrap_or_default();
                        (2..=3).contains(&primary.len())
                            && primary.chars().all(|c| c.is_ascii_alphabetic())
                            && parts.all(|p| {
                                (1..=8).contains(&p.len())
                                    && p.chars().all(|c| c.is_ascii_alphanumeric())
                            })
                    },
                    "a language tag such as en or pt-BR",
                )?);
            }
            "timezone" => {
                changes.timezone = Some(checked(
                    raw,
                    "timezone",
                    64,
                    |v| {
                        v.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
                            && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    },
                    "an IANA time zone such as Europe/Berlin",
                )?);
            }
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

fn parse_birth_date(value: &str) -> Result<NaiveDate, Error> {
    let invalid = || {
        Error::invalid_field(
            "birthDate",
            "INVALID_DATE",
            "birthDate must be a date YYYY-MM-DD between 1900-01-01 and today",
        )
    };
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid())?;
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).ok_or_else(invalid)?;
    if date < earliest || date > chrono::Utc::now().date_naive() {
        return Err(invalid());
    }
    Ok(date)
}

/// Checks and stores a picture; its reference for the profile.
async fn store_image(app: &App, upload: Bytes) -> Result<ProfileImage, Error> {
    let _permit = app
        .image_permits
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let max_pixels = app.config.max_image_pixels;
    let normalized =
        tokio::task::spawn_blocking(move || crate::images::normalize(&upload, max_pixels))
            .await
            .map_err(|e| Error::Internal(e.into()))??;
    let key = BlobKey::of(&normalized.bytes, normalized.extension);
    let bytes = normalized.bytes.len() as u64;
    app.blobs
        .put(&key, Bytes::from(normalized.bytes))
        .await
        .map_err(Error::Internal)?;
    Ok(ProfileImage {
        key: key.as_str().to_string(),
        content_type: normalized.content_type.to_string(),
        width: normalized.width,
        height: normalized.height,
        bytes,
    })
}

/// Updates the caller's profile; the updated profile.
///
/// Everything is validated before anything is stored; the picture is stored
/// before the event that references it is written.
pub async fn update(
    app: &App,
    principal: &Principal,
    form: ProfileForm,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    let (mut changes, remove_image) = parse_fields(&form.fields)?;
    match (form.image, remove_image) {
        (Some(_), true) => {
            return Err(Error::invalid(
                "CONFLICTING_FIELDS",
                "send either profileImage or removeProfileImage",
            ))
        }
        (Some(upload), false) => changes.image = Some(Some(store_image(app, upload).await?)),
        (None, true) => changes.image = Some(None),
        (None, false) => {}
    }
    let committed = app
        .store
        .execute::<User>(
            &principal.user_id.to_string(),
            UserCommand::UpdateProfile {
                changes: Box::new(changes),
            },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    // The answer comes from the state the command left, not a query.
    UserView::from_aggregate(&committed.state).ok_or(Error::NotFound)
}

/// A stored picture: its bytes and media type; `None` when the key names
/// nothing stored.
pub async fn image(app: &App, key: &BlobKey) -> Result<Option<Bytes>, Error> {
    app.blobs.get(key).await.map_err(Error::Internal)
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
