//! What a user's profile holds beyond the names, the subscription they were
//! granted, and the categories an index derives from both.
//!
//! Three rules live here, each a pure function of the user's own state, so
//! the aggregate, the projection and the documentation agree:
//! - a profile update records only the fields that change ([`ProfileChanges::diff`]);
//! - a subscription's status at an instant ([`Subscription::status_at`], in
//!   `subscription`);
//! - a user's categories ([`categories`], in `category`).
//!
//! Each rule has its own file so it can be read with its tests; all their
//! names stay at `aggregates::profile::…`, where the other crates find them.

mod category;
mod subscription;

pub use category::{categories, slug, CategoryInputs, CommunityNames};
pub use subscription::{Subscription, SubscriptionState, SubscriptionStatus};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Personal;

/// A stored profile image: content-addressed, so the key names the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileImage {
    /// `<sha256 hex>.<png|jpg>`: the blob's key and its file type.
    pub key: String,
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Stored size in bytes.
    pub bytes: u64,
}

/// The profile fields besides the names. Text fields are `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Public: what to call the user.
    pub nickname: Option<Personal<String>>,
    /// Public: a few words about the user.
    pub bio: Option<Personal<String>>,
    /// Public: where the user is.
    pub location: Option<Personal<String>>,
    /// Public: the user's web site.
    pub website: Option<Personal<String>>,
    /// Private: phone number.
    pub phone: Option<Personal<String>>,
    /// Private: date of birth.
    pub birth_date: Option<Personal<NaiveDate>>,
    /// Public: preferred language (BCP 47 tag, e.g. `de-CH`).
    pub language: Option<String>,
    /// Public: IANA time zone (e.g. `Europe/Berlin`).
    pub timezone: Option<String>,
    /// Public: the picture.
    pub image: Option<ProfileImage>,
}

/// A change to one clearable field: a new value or none.
pub type Change<T> = Option<Option<T>>;

/// What one profile update changes. `None`: untouched; `Some(None)`:
/// cleared; `Some(Some(v))`: set to `v`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileChanges {
    /// New given name (never cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Personal<String>>,
    /// New family name (never cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Personal<String>>,
    /// Nickname.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub nickname: Change<Personal<String>>,
    /// Bio.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub bio: Change<Personal<String>>,
    /// Location.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub location: Change<Personal<String>>,
    /// Web site.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub website: Change<Personal<String>>,
    /// Phone.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub phone: Change<Personal<String>>,
    /// Date of birth.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub birth_date: Change<Personal<NaiveDate>>,
    /// Language.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub language: Change<String>,
    /// Time zone.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub timezone: Change<String>,
    /// Picture.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub image: Change<ProfileImage>,
}

/// A [`Change`] in JSON: absent = untouched, `null` = cleared, a value =
/// set (serde alone would read `null` as absent).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(Some(value)) => value.serialize(serializer),
            _ => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Keeps `change` only when it differs from `current`.
fn keep_if_new<T: PartialEq>(change: Change<T>, current: &Option<T>) -> Change<T> {
    change.filter(|new| new != current)
}

impl ProfileChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    /// The wire names of the fields this changes (for audit and the public
    /// event schema, which carries names, never values).
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let fields: [(&'static str, bool); 11] = [
            ("firstName", self.first_name.is_some()),
            ("lastName", self.last_name.is_some()),
            ("nickname", self.nickname.is_some()),
            ("bio", self.bio.is_some()),
            ("location", self.location.is_some()),
            ("website", self.website.is_some()),
            ("phone", self.phone.is_some()),
            ("birthDate", self.birth_date.is_some()),
            ("language", self.language.is_some()),
            ("timezone", self.timezone.is_some()),
            ("profileImage", self.image.is_some()),
        ];
        for (name, changed) in fields {
            if changed {
                names.push(name);
            }
        }
        names
    }

    /// Only what differs from the current names and profile.
    pub fn diff(
        self,
        first_name: &Personal<String>,
        last_name: &Personal<String>,
        profile: &Profile,
    ) -> Self {
        Self {
            first_name: self.first_name.filter(|n| n != first_name),
            last_name: self.last_name.filter(|n| n != last_name),
            nickname: keep_if_new(self.nickname, &profile.nickname),
            bio: keep_if_new(self.bio, &profile.bio),
            location: keep_if_new(self.location, &profile.location),
            website: keep_if_new(self.website, &profile.website),
            phone: keep_if_new(self.phone, &profile.phone),
            birth_date: keep_if_new(self.birth_date, &profile.birth_date),
            language: keep_if_new(self.language, &profile.language),
            timezone: keep_if_new(self.timezone, &profile.timezone),
            image: keep_if_new(self.image, &profile.image),
        }
    }

    /// Applies the profile part (the names are the user's own fields).
    pub fn apply_to(self, profile: &mut Profile) {
        fn set<T>(field: &mut Option<T>, change: Change<T>) {
            if let Some(value) = change {
                *field = value;
            }
        }
        set(&mut profile.nickname, self.nickname);
        set(&mut profile.bio, self.bio);
        set(&mut profile.location, self.location);
        set(&mut profile.website, self.website);
        set(&mut profile.phone, self.phone);
        set(&mut profile.birth_date, self.birth_date);
        set(&mut profile.language, self.language);
        set(&mut profile.timezone, self.timezone);
        set(&mut profile.image, self.image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_keeps_only_changed_fields() {
        let profile = Profile {
            nickname: Some(Personal::new("ada".into())),
            ..Profile::default()
        };
        let changes = ProfileChanges {
            first_name: Some(Personal::new("Ada".into())),
            nickname: Some(Some(Personal::new("ada".into()))),
            bio: Some(Some(Personal::new("maths".into()))),
            location: Some(None),
            ..ProfileChanges::default()
        };
        let diff = changes.diff(
            &Personal::new("Ada".into()),
            &Personal::new("Lovelace".into()),
            &profile,
        );
        assert_eq!(diff.names(), vec!["bio"]);
    }

    #[test]
    fn a_cleared_field_survives_the_round_trip_through_json() {
        let changes = ProfileChanges {
            nickname: Some(None),
            bio: Some(Some(Personal::new("maths".into()))),
            ..ProfileChanges::default()
        };
        let json = serde_json::to_string(&changes).expect("serializes");
        assert_eq!(json, r#"{"nickname":null,"bio":{"plain":"maths"}}"#);
        let back: ProfileChanges = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, changes);
    }
}
