//! A subscription's status at an instant: one rule shared by the aggregate,
//! which records it, and the projection, which reports it, so the two never
//! disagree on whether a plan still grants access.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
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
}
