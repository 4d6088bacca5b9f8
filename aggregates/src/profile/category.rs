//! The category rule: which labels an index run gives a user. It is pure
//! (the community names come in; nothing is looked up), so the same user
//! always gets the same labels and an index run that changes nothing
//! records nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Profile, Subscription};

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
    use crate::profile::ProfileImage;
    use crate::Personal;

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
}
