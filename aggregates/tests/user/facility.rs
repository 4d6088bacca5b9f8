//! Kolibri facility users: registered by username, with or without a
//! password.

use aggregates::{DomainError, PasswordHash, Personal, User, UserCommand, UserEvent};
use uuid::Uuid;

use crate::helpers::{hash, now, user, user_id};

// --- Facility users ---------------------------------------------------------

#[tokio::test]
async fn a_facility_user_registers_once_with_or_without_a_password() {
    use aggregates::Demographics;
    let facility = Uuid::from_u128(42);
    let command = |password_hash: Option<PasswordHash>| UserCommand::RegisterInFacility {
        user_id: user_id(),
        facility,
        username: Personal::new("ada".to_string()),
        full_name: Personal::new("Ada Lovelace".to_string()),
        password_hash,
        demographics: Demographics::default(),
    };
    let registered = UserEvent::FacilityUserRegistered {
        user_id: user_id(),
        facility,
        username: Personal::new("ada".to_string()),
        full_name: Personal::new("Ada Lovelace".to_string()),
        password_hash: None,
        demographics: Demographics::default(),
        registered_at: now(),
    };
    user()
        .given_no_previous_events()
        .when_async(command(None))
        .await
        .then_expect_events(vec![registered.clone()]);
    user()
        .given(vec![registered])
        .when_async(command(Some(hash("x"))))
        .await
        .then_expect_error(DomainError::AlreadyRegistered);
    // Without a password nothing verifies: the stored hash is empty.
    let mut state = User::default();
    cqrs_es::Aggregate::apply(
        &mut state,
        UserEvent::FacilityUserRegistered {
            user_id: user_id(),
            facility,
            username: Personal::new("ada".to_string()),
            full_name: Personal::new("Ada Lovelace".to_string()),
            password_hash: None,
            demographics: Demographics::default(),
            registered_at: now(),
        },
    );
    assert_eq!(state.password_hash().phc(), "");
    assert_eq!(state.facility(), Some(facility));
}
