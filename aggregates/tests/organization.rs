//! Given/when/then tests of the Organization aggregate.

#![allow(clippy::unwrap_used)]

use aggregates::{
    DomainError, FacilitySettings, Organization, OrganizationCommand, OrganizationEvent,
    OrganizationKind, Services,
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
        parent: None,
        settings: None,
    }
}

fn created() -> OrganizationEvent {
    OrganizationEvent::OrganizationCreated {
        organization_id: id(),
        kind: OrganizationKind::Community,
        name: "Makers".to_string(),
        description: None,
        parent: None,
        settings: None,
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

fn organization() -> TestFramework<Organization> {
    TestFramework::<Organization>::with(Services::fixed(now()))
}

fn facility_created(settings: FacilitySettings) -> OrganizationEvent {
    OrganizationEvent::OrganizationCreated {
        organization_id: id(),
        kind: OrganizationKind::Facility,
        name: "School".to_string(),
        description: None,
        parent: None,
        settings: Some(settings),
        at: now(),
    }
}

#[test]
fn the_presets_are_kolibris() {
    let formal = FacilitySettings::preset("formal").unwrap();
    assert!(formal.learner_can_login_with_no_password && !formal.learner_can_sign_up);
    let default = FacilitySettings::default();
    assert_eq!(Some(default), FacilitySettings::preset("nonformal"));
    assert!(default.learner_can_sign_up && !default.learner_can_login_with_no_password);
    assert_eq!(FacilitySettings::preset("anarchic"), None);
}

#[tokio::test]
async fn a_facility_has_settings_and_no_parent_and_a_classroom_a_parent_and_no_settings() {
    let settings = FacilitySettings::default();
    organization()
        .given_no_previous_events()
        .when_async(OrganizationCommand::Create {
            organization_id: id(),
            kind: OrganizationKind::Facility,
            name: "School".to_string(),
            description: None,
            parent: None,
            settings: Some(settings),
        })
        .await
        .then_expect_events(vec![facility_created(settings)]);
    let facility = Uuid::from_u128(7);
    for (kind, parent, settings) in [
        (OrganizationKind::Facility, None, None),
        (OrganizationKind::Facility, Some(facility), Some(settings)),
        (OrganizationKind::Classroom, None, None),
        (OrganizationKind::Classroom, Some(facility), Some(settings)),
        (OrganizationKind::Community, Some(facility), None),
    ] {
        organization()
            .given_no_previous_events()
            .when_async(OrganizationCommand::Create {
                organization_id: id(),
                kind,
                name: "x".to_string(),
                description: None,
                parent,
                settings,
            })
            .await
            .then_expect_error(DomainError::InvalidOrganization);
    }
}

#[tokio::test]
async fn settings_change_only_on_facilities_and_only_when_different() {
    let nonformal = FacilitySettings::default();
    let formal = FacilitySettings::preset("formal").unwrap();
    organization()
        .given(vec![facility_created(nonformal)])
        .when_async(OrganizationCommand::ChangeSettings { settings: formal })
        .await
        .then_expect_events(vec![OrganizationEvent::FacilitySettingsChanged {
            settings: formal,
            at: now(),
        }]);
    organization()
        .given(vec![facility_created(nonformal)])
        .when_async(OrganizationCommand::ChangeSettings {
            settings: nonformal,
        })
        .await
        .then_expect_events(vec![]);
    organization()
        .given(vec![created()])
        .when_async(OrganizationCommand::ChangeSettings { settings: formal })
        .await
        .then_expect_error(DomainError::OrganizationNotFound);
}
