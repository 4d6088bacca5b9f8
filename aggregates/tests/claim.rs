//! Given/when/then tests of identifier claims: uniqueness of emails and
//! usernames, and the take-over of claims orphaned by a failed registration.

#![allow(clippy::unwrap_used)]

use aggregates::{
    CheckedOwner, ClaimCommand, ClaimEvent, DomainError, IdentifierClaim, IdentifierKind, Services,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::DomainEvent;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

fn ada() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001)
}

fn bob() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0002)
}

fn carol() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0003)
}

fn facility() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_00f0_0001)
}

fn stale_after() -> Duration {
    Duration::minutes(10)
}

fn claim() -> TestFramework<IdentifierClaim> {
    TestFramework::<IdentifierClaim>::with(Services::fixed(now()))
}

/// `user_id` claims, having found `ada()` as the owner, registered or not.
fn claim_by(user_id: Uuid, owner_registered: bool) -> ClaimCommand {
    claim_checking(user_id, Some((ada(), owner_registered)))
}

fn claim_checking(user_id: Uuid, checked: Option<(Uuid, bool)>) -> ClaimCommand {
    ClaimCommand::Claim {
        user_id,
        kind: IdentifierKind::Email,
        checked_owner: checked.map(|(user_id, registered)| CheckedOwner {
            user_id,
            registered,
            released: false,
        }),
        stale_after: stale_after(),
    }
}

fn claimed(user_id: Uuid, at: DateTime<Utc>) -> ClaimEvent {
    ClaimEvent::IdentifierClaimed {
        user_id,
        kind: IdentifierKind::Email,
        previous_owner: None,
        at,
    }
}

#[tokio::test]
async fn an_unclaimed_identifier_is_claimed_by_the_first_user() {
    claim()
        .given_no_previous_events()
        .when_async(claim_by(ada(), false))
        .await
        .then_expect_events(vec![claimed(ada(), now())]);
}

#[tokio::test]
async fn a_username_claim_records_the_facility_it_is_unique_in() {
    claim()
        .given_no_previous_events()
        .when_async(ClaimCommand::Claim {
            user_id: ada(),
            kind: IdentifierKind::Username {
                facility: facility(),
            },
            checked_owner: None,
            stale_after: stale_after(),
        })
        .await
        .then_expect_events(vec![ClaimEvent::IdentifierClaimed {
            user_id: ada(),
            kind: IdentifierKind::Username {
                facility: facility(),
            },
            previous_owner: None,
            at: now(),
        }]);
}

#[tokio::test]
async fn the_owner_claiming_its_identifier_again_writes_nothing() {
    claim()
        .given(vec![claimed(ada(), now() - Duration::seconds(3))])
        .when_async(claim_by(ada(), false))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn the_registered_owner_claiming_its_identifier_again_writes_nothing() {
    claim()
        .given(vec![claimed(ada(), now() - Duration::days(3))])
        .when_async(claim_by(ada(), true))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn another_user_cannot_take_an_identifier_whose_owner_is_registered() {
    claim()
        .given(vec![claimed(ada(), now() - Duration::days(365))])
        .when_async(claim_by(bob(), true))
        .await
        .then_expect_error(DomainError::IdentifierTaken);
}

#[tokio::test]
async fn another_user_cannot_take_an_orphaned_claim_younger_than_the_staleness_window() {
    claim()
        .given(vec![claimed(
            ada(),
            now() - stale_after() + Duration::seconds(1),
        )])
        .when_async(claim_by(bob(), false))
        .await
        .then_expect_error(DomainError::IdentifierTaken);
}

#[tokio::test]
async fn another_user_takes_over_an_orphaned_claim_older_than_the_staleness_window() {
    claim()
        .given(vec![claimed(
            ada(),
            now() - stale_after() - Duration::minutes(1),
        )])
        .when_async(claim_by(bob(), false))
        .await
        .then_expect_events(vec![ClaimEvent::IdentifierClaimed {
            user_id: bob(),
            kind: IdentifierKind::Email,
            previous_owner: Some(ada()),
            at: now(),
        }]);
}

#[tokio::test]
async fn an_orphaned_claim_exactly_as_old_as_the_staleness_window_may_be_taken_over() {
    claim()
        .given(vec![claimed(ada(), now() - stale_after())])
        .when_async(claim_by(bob(), false))
        .await
        .then_expect_events(vec![ClaimEvent::IdentifierClaimed {
            user_id: bob(),
            kind: IdentifierKind::Email,
            previous_owner: Some(ada()),
            at: now(),
        }]);
}

#[tokio::test]
async fn after_a_take_over_the_previous_owner_is_just_another_user() {
    claim()
        .given(vec![
            claimed(ada(), now() - Duration::days(1)),
            ClaimEvent::IdentifierClaimed {
                user_id: bob(),
                kind: IdentifierKind::Email,
                previous_owner: Some(ada()),
                at: now() - Duration::seconds(5),
            },
        ])
        .when_async(claim_checking(ada(), Some((bob(), false))))
        .await
        .then_expect_error(DomainError::IdentifierTaken);
}

#[tokio::test]
async fn after_a_take_over_the_new_owner_claiming_again_writes_nothing() {
    claim()
        .given(vec![
            claimed(ada(), now() - Duration::days(1)),
            ClaimEvent::IdentifierClaimed {
                user_id: bob(),
                kind: IdentifierKind::Email,
                previous_owner: Some(ada()),
                at: now() - Duration::seconds(5),
            },
        ])
        .when_async(claim_by(bob(), false))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_claim_that_changed_hands_since_it_was_checked_is_not_taken_over() {
    // bob checked the claim while it was free (or held by someone else);
    // meanwhile ada claimed it long enough ago to look stale.
    claim()
        .given(vec![claimed(ada(), now() - Duration::days(1))])
        .when_async(claim_checking(bob(), None))
        .await
        .then_expect_error(DomainError::IdentifierTaken);
    claim()
        .given(vec![claimed(ada(), now() - Duration::days(1))])
        .when_async(claim_checking(bob(), Some((carol(), false))))
        .await
        .then_expect_error(DomainError::IdentifierTaken);
}

#[test]
fn the_claim_event_keeps_its_stored_type_name_at_version_one() {
    let event = claimed(ada(), now());
    assert_eq!(event.event_type(), "IdentifierClaimed");
    assert_eq!(event.event_version(), "1");
}

#[test]
fn identifier_kinds_are_stored_with_a_kind_tag() {
    assert_eq!(
        serde_json::to_value(IdentifierKind::Email).unwrap(),
        serde_json::json!({ "kind": "email" })
    );
    assert_eq!(
        serde_json::to_value(IdentifierKind::Username {
            facility: facility()
        })
        .unwrap(),
        serde_json::json!({ "kind": "username", "facility": facility() })
    );
}
