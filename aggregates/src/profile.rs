//! What a user's profile holds beyond the names, the subscription they were
//! granted, and the categories an index derives from both.
//!
//! Three rules live here, each a pure function of the user's own state, so
//! the aggregate, the projection and the documentation agree:
//! - a profile update records only the fields that change ([`ProfileChanges::diff`]);
//! - a subscription's status at an instant ([`Subscription::status_at`]);
//! - a user's categories ([`categories`]).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
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

/// Where a subscription stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    /// No plan was ever granted.
    None,
    /// Granted, not canceled, before its end.
    Active,
    /// Canceled, but paid up until its end: still usable until then.
    Canceled,
    /// Past its end.
    Expired,
}

impl SubscriptionStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Active => "active",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }

    /// Whether the plan's features are available.
    pub fn grants_access(self) -> bool {
        matches!(self, Self::Active | Self::Canceled)
    }
}

/// A user's subscription as its events leave it.
///
/// The rule (documented in docs/ARCHITECTURE.md): a grant sets the plan and
/// its end and clears a cancellation; an extension moves the end later
/// (never earlier) and renews (clears a cancellation); a cancellation keeps the plan until its end, or ends it
/// at once when immediate. At instant `t` the status is `none` without a
/// plan, `expired` when `t` is at or past the end, else `canceled` if
/// canceled, else `active`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The plan's slug, once one was granted.
    pub plan: Option<String>,
    /// When it ends.
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether it was canceled.
    pub canceled: bool,
}

impl Subscription {
    /// The status at `at`.
    pub fn status_at(&self, at: DateTime<Utc>) -> SubscriptionStatus {
        match (&self.plan, self.valid_until) {
            (Some(_), Some(until)) => SubscriptionStatus::of_plan(until, self.canceled, at),
            _ => SubscriptionStatus::None,
        }
    }
}

impl SubscriptionStatus {
    /// The status at `at` of a plan ending at `valid_until` (the rule of
    /// [`Subscription`], for callers that know only the event at hand).
    pub fn of_plan(valid_until: DateTime<Utc>, canceled: bool, at: DateTime<Utc>) -> Self {
        if at >= valid_until {
            Self::Expired
        } else if canceled {
            Self::Canceled
        } else {
            Self::Active
        }
    }
}

/// The state a recalculation records: plan, status and end at that instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    /// The plan, if any.
    pub plan: Option<String>,
    /// Its status when recalculated.
    pub status: SubscriptionStatus,
    /// Its end.
    pub valid_until: Option<DateTime<Utc>>,
}

/// What the category rule looks at besides the user's own state: the names
/// of the communities the user belongs to.
pub type CommunityNames<'a> = &'a [String];

/// The category slug of a free-text name: lowercase ASCII letters and
/// digits, other runs of characters become one `-`.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

/// What the category rule reads of a user.
#[derive(Debug, Clone, Copy)]
pub struct CategoryInputs<'a> {
    /// The profile.
    pub profile: &'a Profile,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Whether the tutorial is done.
    pub tutorial_completed: bool,
    /// The subscription.
    pub subscription: &'a Subscription,
    /// Names of the communities the user belongs to.
    pub communities: CommunityNames<'a>,
}

/// A user's categories at `at`, sorted and distinct. The rule:
/// - `community:<slug of the name>` for each community the user joined;
/// - `profile:complete` when nickname, bio and picture are all set, else
///   `profile:incomplete`;
/// - `language:<primary subtag>` when a language is set (`de-CH` → `de`);
/// - `email:verified` once the email is verified;
/// - `tutorial:completed` once the tutorial is done;
/// - `subscriber:<plan>` while the subscription grants access (active, or
///   canceled but before its end).
///
/// Only public or non-personal facts become categories: location, phone
/// and birth date never do.
pub fn categories(inputs: CategoryInputs<'_>, at: DateTime<Utc>) -> Vec<String> {
    let mut set = BTreeSet::new();
    for name in inputs.communities {
        let slug = slug(name);
        if !slug.is_empty() {
            set.insert(format!("community:{slug}"));
        }
    }
    let profile = inputs.profile;
    let complete = profile.nickname.is_some() && profile.bio.is_some() && profile.image.is_some();
    set.insert(
        if complete {
            "profile:complete"
        } else {
            "profile:incomplete"
        }
        .to_string(),
    );
    if let Some(language) = &profile.language {
        let primary = language
            .split('-')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        if !primary.is_empty() {
            set.insert(format!("language:{primary}"));
        }
    }
    if inputs.email_verified {
        set.insert("email:verified".to_string());
    }
    if inputs.tutorial_completed {
        set.insert("tutorial:completed".to_string());
    }
    if inputs.subscription.status_at(at).grants_access() {
        if let Some(plan) = &inputs.subscription.plan {
            set.insert(format!("subscriber:{plan}"));
        }
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn slugs_keep_letters_and_digits_only() {
        assert_eq!(slug("Rust Berlin!"), "rust-berlin");
        assert_eq!(slug("  C++ / Go  2024 "), "c-go-2024");
        assert_eq!(slug("!!!"), "");
    }

    #[test]
    fn subscription_status_follows_the_documented_rule() {
        let mut sub = Subscription::default();
        assert_eq!(
            sub.status_at(at("2026-01-01T00:00:00Z")),
            SubscriptionStatus::None
        );
        sub.plan = Some("pro".into());
        sub.valid_until = Some(at("2026-02-01T00:00:00Z"));
        assert_eq!(
            sub.status_at(at("2026-01-01T00:00:00Z")),
            SubscriptionStatus::Active
        );
        assert_eq!(
            sub.status_at(at("2026-02-01T00:00:00Z")),
            SubscriptionStatus::Expired
        );
        sub.canceled = true;
        assert_eq!(
            sub.status_at(at("2026-01-15T00:00:00Z")),
            SubscriptionStatus::Canceled
        );
        assert!(SubscriptionStatus::Canceled.grants_access());
        assert!(!SubscriptionStatus::Expired.grants_access());
    }

    #[test]
    fn categories_come_from_communities_and_profile_only_public_facts() {
        let profile = Profile {
            nickname: Some(Personal::new("ada".into())),
            bio: Some(Personal::new("maths".into())),
            location: Some(Personal::new("London".into())),
            language: Some("en-GB".into()),
            image: Some(ProfileImage {
                key: "k.png".into(),
                content_type: "image/png".into(),
                width: 1,
                height: 1,
                bytes: 1,
            }),
            ..Profile::default()
        };
        let subscription = Subscription {
            plan: Some("pro".into()),
            valid_until: Some(at("2026-02-01T00:00:00Z")),
            canceled: true,
        };
        let communities = ["Rust Berlin".to_string(), "Analytical Engines".to_string()];
        let inputs = CategoryInputs {
            profile: &profile,
            email_verified: true,
            tutorial_completed: false,
            subscription: &subscription,
            communities: &communities,
        };
        assert_eq!(
            categories(inputs, at("2026-01-01T00:00:00Z")),
            vec![
                "community:analytical-engines",
                "community:rust-berlin",
                "email:verified",
                "language:en",
                "profile:complete",
                "subscriber:pro",
            ]
        );
        // Past the end the subscription no longer counts.
        let later = categories(inputs, at("2026-03-01T00:00:00Z"));
        assert!(
            !later.iter().any(|c| c.starts_with("subscriber:")),
            "{later:?}"
        );
        assert!(!later.iter().any(|c| c.contains("london")), "{later:?}");
    }

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
