//! The user's own profile: the rule of each field, and the update.
//!
//! | field | visibility | rule |
//! |---|---|---|
//! | first and last name | public | 1–100 printable characters |
//! | [`nickname`] | public | ≤ 50 characters |
//! | [`bio`] | public | ≤ 1000 characters (line breaks allowed) |
//! | [`location`] | public | ≤ 100 characters |
//! | [`website`] | public | an `http://` or `https://` URL, ≤ 200 characters |
//! | [`language`] | public | a language tag such as `de` or `pt-BR` |
//! | [`timezone`] | public | an IANA zone name such as `Europe/Berlin` |
//! | [`phone`] | private | ≤ 32 of digits, spaces and `+ - ( ) .` |
//! | [`birth_date`] | private | `YYYY-MM-DD`, after 1900-01-01, not in the future |
//! | picture | public | a picture file (see [`crate::images`]) |
//!
//! Every text field is trimmed; an empty one clears it (names excepted).
//! Surfaces map their wire names onto these rules and pass the name an
//! error should say (`field`).

use aggregates::{ProfileChanges, ProfileImage, User, UserCommand};
use bytes::Bytes;
use chrono::NaiveDate;

use super::communities::CommunityView;
use super::sessions::Principal;
use super::users::UserView;
use super::RequestContext;
use crate::blobs::BlobKey;
use crate::{App, Error};

/// What a profile update changes: checked fields, and the picture.
pub struct ProfileUpdate {
    /// The fields' changes.
    pub changes: ProfileChanges,
    /// The picture.
    pub picture: Picture,
}

impl std::fmt::Debug for ProfileUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field names only: the values are personal.
        f.debug_struct("ProfileUpdate")
            .field("fields", &self.changes.names())
            .field("picture", &self.picture)
            .finish()
    }
}

/// What happens to the picture.
pub enum Picture {
    /// It stays as it is.
    Keep,
    /// It is removed.
    Remove,
    /// It is replaced by this upload (checked and normalized here).
    Replace(Bytes),
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keep => f.write_str("Keep"),
            Self::Remove => f.write_str("Remove"),
            Self::Replace(bytes) => write!(f, "Replace({} bytes)", bytes.len()),
        }
    }
}

fn too_long(field: &'static str, max: usize) -> Error {
    Error::invalid_field(
        field,
        "TOO_LONG",
        format!("{field} must be at most {max} characters"),
    )
}

/// A clearable free-text field (what the free-text fields follow): trimmed; empty clears; no control
/// characters but line breaks where `multiline`.
pub fn free_text(
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

/// A nickname: free text, at most 50 characters.
pub fn nickname(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    free_text(raw, field, 50, false)
}

/// A biography: free text with line breaks, at most 1000 characters.
pub fn bio(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    free_text(raw, field, 1000, true)
}

/// A location: free text, at most 100 characters.
pub fn location(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    free_text(raw, field, 100, false)
}

/// A website: an `http://` or `https://` URL with a host.
pub fn website(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    checked(
        raw,
        field,
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
    )
}

/// A phone number: digits, spaces and `+ - ( ) .`.
pub fn phone(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    checked(
        raw,
        field,
        32,
        |v| {
            v.chars().any(|c| c.is_ascii_digit())
                && v.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        },
        "digits, spaces and + - ( ) .",
    )
}

/// A language tag such as `en` or `pt-BR`.
pub fn language(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    checked(
        raw,
        field,
        35,
        |v| {
            let mut parts = v.split('-');
            let primary = parts.next().unwrap_or_default();
            (2..=3).contains(&primary.len())
                && primary.chars().all(|c| c.is_ascii_alphabetic())
                && parts.all(|p| {
                    (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
                })
        },
        "a language tag such as en or pt-BR",
    )
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn timezone(raw: &str, field: &'static str) -> Result<Option<String>, Error> {
    checked(
        raw,
        field,
        64,
        |v| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
                && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        },
        "an IANA time zone such as Europe/Berlin",
    )
}

/// A birth date `YYYY-MM-DD` from 1900-01-01 to today; empty clears.
pub fn birth_date(raw: &str, field: &'static str) -> Result<Option<NaiveDate>, Error> {
    match raw.trim() {
        "" => Ok(None),
        value => parse_birth_date(value, field).map(Some),
    }
}

fn parse_birth_date(value: &str, field: &'static str) -> Result<NaiveDate, Error> {
    let invalid = || {
        Error::invalid_field(
            field,
            "INVALID_DATE",
            format!("{field} must be a date YYYY-MM-DD between 1900-01-01 and today"),
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
    update: ProfileUpdate,
    ctx: &RequestContext,
) -> Result<(UserView, Vec<CommunityView>), Error> {
    let ProfileUpdate {
        mut changes,
        picture,
    } = update;
    match picture {
        Picture::Replace(upload) => changes.image = Some(Some(store_image(app, upload).await?)),
        Picture::Remove => changes.image = Some(None),
        Picture::Keep => {}
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
    // The answer comes from the state the command left, not a query.
    let user = UserView::from_aggregate(&committed.state).ok_or(Error::NotFound)?;
    let communities = super::communities::of_state(app, &committed.state).await?;
    Ok((user, communities))
}

/// A stored picture: its bytes and media type; `None` when the key names
/// nothing stored.
pub async fn image(app: &App, key: &BlobKey) -> Result<Option<Bytes>, Error> {
    app.blobs.get(key).await.map_err(Error::Internal)
}
