//! A user's subscription: grants, extensions and cancellations by an
//! administrator, and the recalculation that records a change of state
//! nobody commanded (an expiry). The status rule itself is
//! [`crate::profile::Subscription::status_at`], shared with the projection.

use chrono::{DateTime, Utc};

use super::{is_slug, Decision, User, UserEvent};
use crate::profile::{SubscriptionState, SubscriptionStatus};
use crate::DomainError;

impl User {
    pub(super) fn handle_grant_subscription(
        &self,
        plan: String,
        valid_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if !is_slug(&plan) {
            return Err(DomainError::InvalidSubscription(
                "plan must be 1 to 32 of a-z, 0-9, _ and -",
            ));
        }
        if valid_until <= now {
            return Err(DomainError::InvalidSubscription(
                "validUntil must be in the future",
            ));
        }
        Ok(Some(UserEvent::SubscriptionGranted {
            plan,
            valid_until,
            at: now,
        }))
    }

    pub(super) fn handle_extend_subscription(
        &self,
        valid_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let current = match (&self.subscription.plan, self.subscription.valid_until) {
            (Some(_), Some(current)) => current,
            _ => return Err(DomainError::NoSubscription),
        };
        if valid_until <= current || valid_until <= now {
            return Err(DomainError::InvalidSubscription(
                "validUntil must be later than the current end and in the future",
            ));
        }
        Ok(Some(UserEvent::SubscriptionExtended {
            valid_until,
            at: now,
        }))
    }

    /// Canceling what is already canceled to the same end, or a plan
    /// already over, records nothing: cancellation is safe to repeat.
    pub(super) fn handle_cancel_subscription(
        &self,
        immediately: bool,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let Some(until) = self.subscription.valid_until else {
            return Err(DomainError::NoSubscription);
        };
        let valid_until = if immediately { until.min(now) } else { until };
        let unchanged = self.subscription.canceled && valid_until == until;
        if unchanged || until <= now {
            return Ok(None);
        }
        Ok(Some(UserEvent::SubscriptionCanceled {
            immediately,
            valid_until,
            at: now,
        }))
    }

    /// With nothing recorded yet, "no subscription" is the state a user
    /// starts in, so it is not recorded either.
    pub(super) fn handle_recalculate_subscription(&self, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        let state = self.subscription_at(now);
        let recorded = self.subscription_recorded.as_ref();
        let unchanged = recorded.map_or(state.status == SubscriptionStatus::None, |r| *r == state);
        if unchanged {
            return Ok(None);
        }
        Ok(Some(UserEvent::SubscriptionRecalculated { state, at: now }))
    }

    /// A subscription event at `at` records the state it leaves (called by
    /// the fold), so a later recalculation only records a change of state
    /// that no event made, such as an expiry.
    pub(super) fn record_subscription(&mut self, at: DateTime<Utc>) {
        self.subscription_recorded = Some(self.subscription_at(at));
        self.updated_at = Some(at);
    }

    /// The subscription state at `at`.
    fn subscription_at(&self, at: DateTime<Utc>) -> SubscriptionState {
        SubscriptionState {
            plan: self.subscription.plan.clone(),
            status: self.subscription.status_at(at),
            valid_until: self.subscription.valid_until,
        }
    }
}
