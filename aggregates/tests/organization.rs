//! Given/when/then tests of the Organization aggregate.

#![allow(clippy::unwrap_used)]

use aggregates::{
    DomainError, Organization, OrganizationCommand, OrganizationEvent, OrganizationKind, Services,
};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

fn id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0002_0001)
}

fn create() -> OrganizationCommand {
    OrganizationCommand::Create {
        organization_id: id(),
        kind: OrganizationKind::Community,
        name: "Makers".to_string(),
        description: None,
    }
}

fn created() -> OrganizationEvent {
    OrganizationEvent::OrganizationCreated {
        organization_id: id(),
        kind: OrganizationKind::Community,
        name: "Makers".to_string(),
        description: None,
        at: now(),
    }
}

#[tokio::test]
async fn a_community_is_created_once() {
    TestFramework::<Organization>::with(Services::fixed(now()))
        .given_no_previous_events()
        .when_async(create())
        .await
        .then_expect_events(vec![created()]);
    TestFramework::<Organization>::with(Services::fixed(now()))
        .given(vec![created()])
        .when_async(create())
        .await
        .then_expect_error(DomainError::AlreadyExists);
}
