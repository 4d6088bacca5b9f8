//! The user's number and external identities: each recorded once, for good.

use aggregates::{DomainError, ExternalIdentity, IdentifierKind, Personal, UserCommand, UserEvent};
use cqrs_es::Aggregate;

use crate::helpers::{given_registered, now, registered, user};

fn identity(subject: &str) -> ExternalIdentity {
    ExternalIdentity {
        issuer: "https://idp.test".to_string(),
        subject: Personal::new(subject.to_string()),
    }
}

#[tokio::test]
async fn a_user_gets_one_number_and_keeps_it() {
    given_registered()
        .when_async(UserCommand::AssignNumber { number: 7 })
        .await
        .then_expect_events(vec![UserEvent::NumberAssigned {
            number: 7,
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::NumberAssigned {
                number: 7,
                at: now(),
            },
        ])
        .when_async(UserCommand::AssignNumber { number: 8 })
        .await
        .then_expect_events(vec![]);
    user()
        .given_no_previous_events()
        .when_async(UserCommand::AssignNumber { number: 1 })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

#[tokio::test]
async fn an_identity_is_linked_once_and_then_identifies_the_user() {
    given_registered()
        .when_async(UserCommand::LinkIdentity {
            issuer: "https://idp.test".to_string(),
            subject: Personal::new("grace@uni.test".to_string()),
        })
        .await
        .then_expect_events(vec![UserEvent::IdentityLinked {
            identity: identity("grace@uni.test"),
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::IdentityLinked {
                identity: identity("grace@uni.test"),
                at: now(),
            },
        ])
        .when_async(UserCommand::LinkIdentity {
            issuer: "https://idp.test".to_string(),
            subject: Personal::new("grace@uni.test".to_string()),
        })
        .await
        .then_expect_events(vec![]);
    given_registered()
        .when_async(UserCommand::LinkIdentity {
            issuer: String::new(),
            subject: Personal::new("grace@uni.test".to_string()),
        })
        .await
        .then_expect_error(DomainError::InvalidIdentity);

    let mut state = aggregates::User::default();
    state.apply(registered());
    state.apply(UserEvent::IdentityLinked {
        identity: identity("grace@uni.test"),
        at: now(),
    });
    let held = |subject: &str| {
        state.holds_identifier(
            IdentifierKind::External,
            &ExternalIdentity::normalized("https://idp.test", subject),
        )
    };
    assert!(held("grace@uni.test"));
    assert!(!held("eve@uni.test"));
    assert_eq!(state.identities().len(), 1);
}
