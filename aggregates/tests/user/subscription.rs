//! Plans granted, extended and canceled by an administrator, and the
//! recalculation that records an expiry nobody commanded.

use aggregates::{DomainError, UserCommand, UserEvent};
use chrono::Duration;

use crate::helpers::{given_registered, granted, now, registered, user};

// --- Subscriptions ----------------------------------------------------------

#[tokio::test]
async fn a_plan_is_granted_until_a_future_instant_with_a_valid_name() {
    given_registered()
        .when_async(UserCommand::GrantSubscription {
            plan: "pro".to_string(),
            valid_until: now() + Duration::days(30),
        })
        .await
        .then_expect_events(vec![UserEvent::SubscriptionGranted {
            plan: "pro".to_string(),
            valid_until: now() + Duration::days(30),
            at: now(),
        }]);
    for (plan, until) in [("Pro!", 30), ("pro", -1)] {
        let result = given_registered()
            .when_async(UserCommand::GrantSubscription {
                plan: plan.to_string(),
                valid_until: now() + Duration::days(until),
            })
            .await
            .inspect_result();
        assert!(
            matches!(result, Err(DomainError::InvalidSubscription(_))),
            "{plan} {until}: {result:?}"
        );
    }
}

#[tokio::test]
async fn extending_needs_a_plan_and_a_later_end() {
    given_registered()
        .when_async(UserCommand::ExtendSubscription {
            valid_until: now() + Duration::days(60),
        })
        .await
        .then_expect_error(DomainError::NoSubscription);
    let result = user()
        .given(vec![registered(), granted("pro", 30)])
        .when_async(UserCommand::ExtendSubscription {
            valid_until: now() + Duration::days(10),
        })
        .await
        .inspect_result();
    assert!(matches!(result, Err(DomainError::InvalidSubscription(_))));
    user()
        .given(vec![registered(), granted("pro", 30)])
        .when_async(UserCommand::ExtendSubscription {
            valid_until: now() + Duration::days(60),
        })
        .await
        .then_expect_events(vec![UserEvent::SubscriptionExtended {
            valid_until: now() + Duration::days(60),
            at: now(),
        }]);
}

#[tokio::test]
async fn canceling_keeps_the_plan_to_its_end_unless_immediate_and_twice_is_once() {
    user()
        .given(vec![registered(), granted("pro", 30)])
        .when_async(UserCommand::CancelSubscription { immediately: false })
        .await
        .then_expect_events(vec![UserEvent::SubscriptionCanceled {
            immediately: false,
            valid_until: now() + Duration::days(30),
            at: now(),
        }]);
    user()
        .given(vec![registered(), granted("pro", 30)])
        .when_async(UserCommand::CancelSubscription { immediately: true })
        .await
        .then_expect_events(vec![UserEvent::SubscriptionCanceled {
            immediately: true,
            valid_until: now(),
            at: now(),
        }]);
    let canceled = UserEvent::SubscriptionCanceled {
        immediately: false,
        valid_until: now() + Duration::days(30),
        at: now() - Duration::hours(1),
    };
    user()
        .given(vec![registered(), granted("pro", 30), canceled])
        .when_async(UserCommand::CancelSubscription { immediately: false })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_recalculation_records_an_expiry_once_and_nothing_while_unchanged() {
    use aggregates::{SubscriptionState, SubscriptionStatus};
    let expired_grant = UserEvent::SubscriptionGranted {
        plan: "pro".to_string(),
        valid_until: now() - Duration::days(1),
        at: now() - Duration::days(31),
    };
    let expired = SubscriptionState {
        plan: Some("pro".to_string()),
        status: SubscriptionStatus::Expired,
        valid_until: Some(now() - Duration::days(1)),
    };
    user()
        .given(vec![registered(), expired_grant.clone()])
        .when_async(UserCommand::RecalculateSubscription)
        .await
        .then_expect_events(vec![UserEvent::SubscriptionRecalculated {
            state: expired.clone(),
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            expired_grant,
            UserEvent::SubscriptionRecalculated {
                state: expired,
                at: now() - Duration::hours(1),
            },
        ])
        .when_async(UserCommand::RecalculateSubscription)
        .await
        .then_expect_events(vec![]);
    // Active as granted: nothing new to record; no plan at all: nothing either.
    user()
        .given(vec![registered(), granted("pro", 30)])
        .when_async(UserCommand::RecalculateSubscription)
        .await
        .then_expect_events(vec![]);
    given_registered()
        .when_async(UserCommand::RecalculateSubscription)
        .await
        .then_expect_events(vec![]);
}
