//! Communities joined and roles granted: each recorded once, so a retried
//! request changes nothing.

use aggregates::{DomainError, UserCommand, UserEvent};
use chrono::Duration;
use uuid::Uuid;

use crate::helpers::{given_registered, now, registered, user};

// --- Communities ------------------------------------------------------------

#[tokio::test]
async fn joining_a_community_twice_records_one_membership() {
    let community = Uuid::from_u128(7);
    given_registered()
        .when_async(UserCommand::JoinCommunity {
            community_id: community,
        })
        .await
        .then_expect_events(vec![UserEvent::CommunityJoined {
            community_id: community,
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::CommunityJoined {
                community_id: community,
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::JoinCommunity {
            community_id: community,
        })
        .await
        .then_expect_events(vec![]);
    user()
        .given_no_previous_events()
        .when_async(UserCommand::JoinCommunity {
            community_id: community,
        })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

// --- Roles ------------------------------------------------------------------

#[tokio::test]
async fn roles_are_granted_and_revoked_once_and_must_be_slugs() {
    given_registered()
        .when_async(UserCommand::GrantRole {
            role: "editor".to_string(),
        })
        .await
        .then_expect_events(vec![UserEvent::RoleGranted {
            role: "editor".to_string(),
            at: now(),
        }]);
    // Registered with `admin` already.
    given_registered()
        .when_async(UserCommand::GrantRole {
            role: "admin".to_string(),
        })
        .await
        .then_expect_events(vec![]);
    given_registered()
        .when_async(UserCommand::RevokeRole {
            role: "admin".to_string(),
        })
        .await
        .then_expect_events(vec![UserEvent::RoleRevoked {
            role: "admin".to_string(),
            at: now(),
        }]);
    given_registered()
        .when_async(UserCommand::RevokeRole {
            role: "editor".to_string(),
        })
        .await
        .then_expect_events(vec![]);
    for bad in ["", "Admin", "two words", &"x".repeat(33)] {
        given_registered()
            .when_async(UserCommand::GrantRole {
                role: bad.to_string(),
            })
            .await
            .then_expect_error(DomainError::InvalidRole);
    }
}

// --- Accounts ---------------------------------------------------------------

#[tokio::test]
async fn account_memberships_carry_their_roles_and_change_only_when_they_differ() {
    let account = Uuid::from_u128(9);
    let joined = |roles: &[&str]| UserEvent::AccountJoined {
        account,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        at: now(),
    };
    // Roles are kept sorted and once each.
    given_registered()
        .when_async(UserCommand::JoinAccount {
            account,
            roles: vec!["member".into(), "admin".into(), "admin".into()],
        })
        .await
        .then_expect_events(vec![joined(&["admin", "member"])]);
    user()
        .given(vec![registered(), joined(&["admin", "member"])])
        .when_async(UserCommand::JoinAccount {
            account,
            roles: vec!["member".into(), "admin".into()],
        })
        .await
        .then_expect_events(vec![]);
    user()
        .given(vec![registered(), joined(&["member"])])
        .when_async(UserCommand::JoinAccount {
            account,
            roles: vec!["admin".into()],
        })
        .await
        .then_expect_events(vec![joined(&["admin"])]);
    given_registered()
        .when_async(UserCommand::JoinAccount {
            account,
            roles: vec!["Not A Slug".into()],
        })
        .await
        .then_expect_error(DomainError::InvalidRole);
    user()
        .given(vec![registered(), joined(&["member"])])
        .when_async(UserCommand::LeaveAccount { account })
        .await
        .then_expect_events(vec![UserEvent::AccountLeft { account, at: now() }]);
    given_registered()
        .when_async(UserCommand::LeaveAccount { account })
        .await
        .then_expect_events(vec![]);
}
