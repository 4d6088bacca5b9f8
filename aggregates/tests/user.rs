//! Given/when/then tests of the User aggregate: every command, every refusal.

#![allow(clippy::unwrap_used)]

use aggregates::{
    DomainError, PasswordHash, Personal, Services, SessionCutoff, User, UserCommand, UserEvent,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::DomainEvent;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

fn user_id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001)
}

fn session_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0001_0000 + n)
}

fn hash(name: &str) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${name}"))
}

fn user() -> TestFramework<User> {
    TestFramework::<User>::with(Services::fixed(now()))
}

fn register_command(password_hash: PasswordHash) -> UserCommand {
    UserCommand::Register {
        user_id: user_id(),
        email: Personal::new("Ada@Example.com".to_string()),
        first_name: Personal::new("Ada".to_string()),
        last_name: Personal::new("Lovelace".to_string()),
        password_hash,
        roles: vec!["admin".to_string()],
    }
}

fn registered_at(at: DateTime<Utc>) -> UserEvent {
    UserEvent::UserRegistered {
        user_id: user_id(),
        email: Personal::new("Ada@Example.com".to_string()),
        first_name: Personal::new("Ada".to_string()),
        last_name: Personal::new("Lovelace".to_string()),
        password_hash: hash("original"),
        roles: vec!["admin".to_string()],
        registered_at: at,
    }
}

fn registered() -> UserEvent {
    registered_at(now() - Duration::days(30))
}

fn locked_out(until: DateTime<Utc>) -> UserEvent {
    UserEvent::UserLockedOut {
        until,
        failed_attempts: 5,
        at: now() - Duration::minutes(1),
    }
}

fn given_registered() -> AggregateTestExecutor<User> {
    user().given(vec![registered()])
}

// --- Register ---------------------------------------------------------------

#[tokio::test]
async fn a_new_user_registers_on_an_empty_stream() {
    user()
        .given_no_previous_events()
        .when_async(register_command(hash("original")))
        .await
        .then_expect_events(vec![registered_at(now())]);
}

#[tokio::test]
async fn registering_a_user_that_is_already_registered_is_rejected() {
    given_registered()
        .when_async(register_command(hash("another")))
        .await
        .then_expect_error(DomainError::AlreadyRegistered);
}

// --- AuthorizeLogin ---------------------------------------------------------

#[tokio::test]
async fn a_login_verified_against_the_current_hash_is_authorized_without_writing_anything() {
    given_registered()
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_login_with_outdated_hash_parameters_records_the_rehash() {
    given_registered()
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: Some(hash("rehashed")),
        })
        .await
        .then_expect_events(vec![UserEvent::PasswordRehashed {
            password_hash: hash("rehashed"),
            at: now(),
        }]);
}

#[tokio::test]
async fn a_login_verified_against_a_hash_replaced_by_a_password_change_is_stale() {
    given_registered()
        .and(vec![UserEvent::PasswordChanged {
            password_hash: hash("changed"),
            cutoff: SessionCutoff {
                after: now() - Duration::seconds(1),
                except: None,
            },
            at: now() - Duration::seconds(1),
        }])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_error(DomainError::StaleCredentials);
}

#[tokio::test]
async fn a_login_verified_against_a_hash_replaced_by_a_rehash_is_stale() {
    given_registered()
        .and(vec![UserEvent::PasswordRehashed {
            password_hash: hash("rehashed"),
            at: now() - Duration::seconds(1),
        }])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: Some(hash("rehashed-again")),
        })
        .await
        .then_expect_error(DomainError::StaleCredentials);
}

#[tokio::test]
async fn a_login_verified_against_the_hash_set_by_a_password_change_is_authorized() {
    given_registered()
        .and(vec![UserEvent::PasswordChanged {
            password_hash: hash("changed"),
            cutoff: SessionCutoff {
                after: now() - Duration::seconds(1),
                except: None,
            },
            at: now() - Duration::seconds(1),
        }])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("changed"),
            rehash: None,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_login_during_a_running_lockout_is_refused_with_the_end_of_the_lock() {
    let until = now() + Duration::minutes(15);
    given_registered()
        .and(vec![locked_out(until)])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_error(DomainError::AccountLocked { until });
}

#[tokio::test]
async fn a_running_lockout_is_reported_before_the_credentials_are_checked() {
    let until = now() + Duration::minutes(15);
    given_registered()
        .and(vec![locked_out(until)])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("wrong"),
            rehash: None,
        })
        .await
        .then_expect_error(DomainError::AccountLocked { until });
}

#[tokio::test]
async fn a_login_after_the_lockout_has_expired_is_authorized() {
    given_registered()
        .and(vec![locked_out(now() - Duration::seconds(1))])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_lockout_ending_exactly_now_no_longer_blocks_a_login() {
    given_registered()
        .and(vec![locked_out(now())])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: Some(hash("rehashed")),
        })
        .await
        .then_expect_events(vec![UserEvent::PasswordRehashed {
            password_hash: hash("rehashed"),
            at: now(),
        }]);
}

#[tokio::test]
async fn a_login_for_an_unregistered_user_is_refused() {
    user()
        .given_no_previous_events()
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

// --- LockOut ----------------------------------------------------------------

#[tokio::test]
async fn locking_out_a_user_records_the_lockout() {
    let until = now() + Duration::minutes(15);
    given_registered()
        .when_async(UserCommand::LockOut {
            until,
            failed_attempts: 5,
        })
        .await
        .then_expect_events(vec![UserEvent::UserLockedOut {
            until,
            failed_attempts: 5,
            at: now(),
        }]);
}

#[tokio::test]
async fn a_shorter_lock_while_a_longer_one_runs_writes_nothing() {
    given_registered()
        .and(vec![locked_out(now() + Duration::minutes(30))])
        .when_async(UserCommand::LockOut {
            until: now() + Duration::minutes(15),
            failed_attempts: 6,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_equal_lock_while_one_runs_writes_nothing() {
    let until = now() + Duration::minutes(15);
    given_registered()
        .and(vec![locked_out(until)])
        .when_async(UserCommand::LockOut {
            until,
            failed_attempts: 6,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_longer_lock_while_a_shorter_one_runs_extends_it() {
    let until = now() + Duration::hours(1);
    given_registered()
        .and(vec![locked_out(now() + Duration::minutes(15))])
        .when_async(UserCommand::LockOut {
            until,
            failed_attempts: 10,
        })
        .await
        .then_expect_events(vec![UserEvent::UserLockedOut {
            until,
            failed_attempts: 10,
            at: now(),
        }]);
}

#[tokio::test]
async fn a_new_lock_after_the_previous_one_expired_is_recorded() {
    let until = now() + Duration::minutes(15);
    given_registered()
        .and(vec![locked_out(now() - Duration::minutes(1))])
        .when_async(UserCommand::LockOut {
            until,
            failed_attempts: 5,
        })
        .await
        .then_expect_events(vec![UserEvent::UserLockedOut {
            until,
            failed_attempts: 5,
            at: now(),
        }]);
}

#[tokio::test]
async fn locking_out_an_unregistered_user_is_refused() {
    user()
        .given_no_previous_events()
        .when_async(UserCommand::LockOut {
            until: now() + Duration::minutes(15),
            failed_attempts: 5,
        })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

// --- ChangePassword ---------------------------------------------------------

#[tokio::test]
async fn changing_the_password_records_the_new_hash_and_a_cutoff_that_keeps_the_current_session() {
    given_registered()
        .when_async(UserCommand::ChangePassword {
            verified_against: hash("original"),
            new_password_hash: hash("changed"),
            keep_session: Some(session_id(1)),
        })
        .await
        .then_expect_events(vec![UserEvent::PasswordChanged {
            password_hash: hash("changed"),
            cutoff: SessionCutoff {
                after: now(),
                except: Some(session_id(1)),
            },
            at: now(),
        }]);
}

#[tokio::test]
async fn changing_the_password_without_a_session_to_keep_cuts_off_every_session() {
    given_registered()
        .when_async(UserCommand::ChangePassword {
            verified_against: hash("original"),
            new_password_hash: hash("changed"),
            keep_session: None,
        })
        .await
        .then_expect_events(vec![UserEvent::PasswordChanged {
            password_hash: hash("changed"),
            cutoff: SessionCutoff {
                after: now(),
                except: None,
            },
            at: now(),
        }]);
}

#[tokio::test]
async fn changing_the_password_against_a_stale_hash_is_refused() {
    given_registered()
        .and(vec![UserEvent::PasswordRehashed {
            password_hash: hash("rehashed"),
            at: now() - Duration::seconds(1),
        }])
        .when_async(UserCommand::ChangePassword {
            verified_against: hash("original"),
            new_password_hash: hash("changed"),
            keep_session: Some(session_id(1)),
        })
        .await
        .then_expect_error(DomainError::StaleCredentials);
}

#[tokio::test]
async fn changing_the_password_of_an_unregistered_user_is_refused() {
    user()
        .given_no_previous_events()
        .when_async(UserCommand::ChangePassword {
            verified_against: hash("original"),
            new_password_hash: hash("changed"),
            keep_session: None,
        })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

#[tokio::test]
async fn a_running_lockout_does_not_prevent_a_password_change_from_a_live_session() {
    given_registered()
        .and(vec![locked_out(now() + Duration::minutes(15))])
        .when_async(UserCommand::ChangePassword {
            verified_against: hash("original"),
            new_password_hash: hash("changed"),
            keep_session: Some(session_id(1)),
        })
        .await
        .then_expect_events(vec![UserEvent::PasswordChanged {
            password_hash: hash("changed"),
            cutoff: SessionCutoff {
                after: now(),
                except: Some(session_id(1)),
            },
            at: now(),
        }]);
}

// --- RevokeSessions ---------------------------------------------------------

#[tokio::test]
async fn revoking_all_sessions_records_a_cutoff_at_now() {
    given_registered()
        .when_async(UserCommand::RevokeSessions { keep_session: None })
        .await
        .then_expect_events(vec![UserEvent::SessionsRevoked {
            cutoff: SessionCutoff {
                after: now(),
                except: None,
            },
            at: now(),
        }]);
}

#[tokio::test]
async fn revoking_sessions_can_keep_the_session_it_was_made_from() {
    given_registered()
        .when_async(UserCommand::RevokeSessions {
            keep_session: Some(session_id(2)),
        })
        .await
        .then_expect_events(vec![UserEvent::SessionsRevoked {
            cutoff: SessionCutoff {
                after: now(),
                except: Some(session_id(2)),
            },
            at: now(),
        }]);
}

#[tokio::test]
async fn revoking_sessions_again_moves_the_cutoff_forward() {
    given_registered()
        .and(vec![UserEvent::SessionsRevoked {
            cutoff: SessionCutoff {
                after: now() - Duration::days(1),
                except: Some(session_id(1)),
            },
            at: now() - Duration::days(1),
        }])
        .when_async(UserCommand::RevokeSessions { keep_session: None })
        .await
        .then_expect_events(vec![UserEvent::SessionsRevoked {
            cutoff: SessionCutoff {
                after: now(),
                except: None,
            },
            at: now(),
        }]);
}

#[tokio::test]
async fn revoking_the_sessions_of_an_unregistered_user_is_refused() {
    user()
        .given_no_previous_events()
        .when_async(UserCommand::RevokeSessions { keep_session: None })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

// --- SessionCutoff ----------------------------------------------------------

#[test]
fn a_cutoff_revokes_a_session_authenticated_before_it() {
    let cutoff = SessionCutoff {
        after: now(),
        except: None,
    };
    assert!(cutoff.revokes(session_id(1), now() - Duration::seconds(1)));
}

#[test]
fn a_cutoff_spares_a_session_authenticated_exactly_at_it() {
    let cutoff = SessionCutoff {
        after: now(),
        except: None,
    };
    assert!(!cutoff.revokes(session_id(1), now()));
}

#[test]
fn a_cutoff_spares_a_session_authenticated_after_it() {
    let cutoff = SessionCutoff {
        after: now(),
        except: None,
    };
    assert!(!cutoff.revokes(session_id(1), now() + Duration::seconds(1)));
}

#[test]
fn a_cutoff_spares_its_excepted_session_even_when_it_authenticated_before_it() {
    let cutoff = SessionCutoff {
        after: now(),
        except: Some(session_id(1)),
    };
    assert!(!cutoff.revokes(session_id(1), now() - Duration::days(1)));
}

#[test]
fn a_cutoff_exception_spares_only_that_one_session() {
    let cutoff = SessionCutoff {
        after: now(),
        except: Some(session_id(1)),
    };
    assert!(cutoff.revokes(session_id(2), now() - Duration::days(1)));
}

// --- Events -----------------------------------------------------------------

#[test]
fn only_password_changes_and_revocations_carry_a_cutoff() {
    let cutoff = SessionCutoff {
        after: now(),
        except: Some(session_id(1)),
    };
    let changed = UserEvent::PasswordChanged {
        password_hash: hash("changed"),
        cutoff,
        at: now(),
    };
    let revoked = UserEvent::SessionsRevoked { cutoff, at: now() };
    let rehashed = UserEvent::PasswordRehashed {
        password_hash: hash("rehashed"),
        at: now(),
    };
    assert_eq!(changed.cutoff(), Some(cutoff));
    assert_eq!(revoked.cutoff(), Some(cutoff));
    assert_eq!(rehashed.cutoff(), None);
    assert_eq!(registered().cutoff(), None);
    assert_eq!(locked_out(now()).cutoff(), None);
}

#[test]
fn user_events_keep_their_stored_type_names_at_version_one() {
    let cutoff = SessionCutoff {
        after: now(),
        except: None,
    };
    let events = [
        (registered(), "UserRegistered"),
        (locked_out(now()), "UserLockedOut"),
        (
            UserEvent::PasswordChanged {
                password_hash: hash("changed"),
                cutoff,
                at: now(),
            },
            "PasswordChanged",
        ),
        (
            UserEvent::PasswordRehashed {
                password_hash: hash("rehashed"),
                at: now(),
            },
            "PasswordRehashed",
        ),
        (
            UserEvent::SessionsRevoked { cutoff, at: now() },
            "SessionsRevoked",
        ),
    ];
    for (event, name) in events {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), "1");
    }
}

// --- Email verification and password reset ---------------------------------

fn token(name: &str) -> aggregates::TokenHash {
    aggregates::TokenHash::new(format!("{name:0>64}"))
}

fn verification_issued(name: &str, expires_at: DateTime<Utc>) -> UserEvent {
    UserEvent::EmailVerificationIssued {
        token_hash: token(name),
        expires_at,
        at: expires_at - Duration::hours(1),
    }
}

fn reset_issued(name: &str, expires_at: DateTime<Utc>) -> UserEvent {
    UserEvent::PasswordResetIssued {
        token_hash: token(name),
        expires_at,
        at: expires_at - Duration::hours(1),
    }
}

#[tokio::test]
async fn issuing_a_verification_records_only_the_tokens_hash_and_expiry() {
    let expires_at = now() + Duration::hours(1);
    given_registered()
        .when_async(UserCommand::IssueEmailVerification {
            token_hash: token("a"),
            expires_at,
        })
        .await
        .then_expect_events(vec![UserEvent::EmailVerificationIssued {
            token_hash: token("a"),
            expires_at,
            at: now(),
        }]);
}

#[tokio::test]
async fn the_outstanding_verification_token_verifies_the_email_once() {
    user()
        .given(vec![
            registered(),
            verification_issued("a", now() + Duration::minutes(5)),
        ])
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("a"),
        })
        .await
        .then_expect_events(vec![UserEvent::EmailVerified { at: now() }]);
    user()
        .given(vec![
            registered(),
            verification_issued("a", now() + Duration::minutes(5)),
            UserEvent::EmailVerified {
                at: now() - Duration::minutes(1),
            },
        ])
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("a"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
}

#[tokio::test]
async fn a_wrong_replaced_or_expired_verification_token_is_refused() {
    let given = || {
        user().given(vec![
            registered(),
            verification_issued("old", now() + Duration::minutes(5)),
            verification_issued("new", now() + Duration::minutes(10)),
        ])
    };
    given()
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("wrong"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
    given()
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("old"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
    user()
        .given(vec![registered(), verification_issued("a", now())])
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("a"),
        })
        .await
        .then_expect_error(DomainError::TokenExpired);
}

#[tokio::test]
async fn a_reset_token_does_not_verify_and_a_verification_token_does_not_reset() {
    let later = now() + Duration::minutes(30);
    user()
        .given(vec![registered(), reset_issued("r", later)])
        .when_async(UserCommand::VerifyEmail {
            token_hash: token("r"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
    user()
        .given(vec![registered(), verification_issued("v", later)])
        .when_async(UserCommand::ResetPassword {
            token_hash: token("v"),
            new_password_hash: hash("new"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
}

#[tokio::test]
async fn a_reset_replaces_the_password_and_ends_every_session_once() {
    let later = now() + Duration::minutes(30);
    let reset = UserEvent::PasswordReset {
        password_hash: hash("new"),
        cutoff: SessionCutoff {
            after: now(),
            except: None,
        },
        at: now(),
    };
    user()
        .given(vec![registered(), reset_issued("r", later)])
        .when_async(UserCommand::ResetPassword {
            token_hash: token("r"),
            new_password_hash: hash("new"),
        })
        .await
        .then_expect_events(vec![reset.clone()]);
    assert_eq!(reset.cutoff().map(|c| c.except), Some(None));
    user()
        .given(vec![registered(), reset_issued("r", later), reset])
        .when_async(UserCommand::ResetPassword {
            token_hash: token("r"),
            new_password_hash: hash("newer"),
        })
        .await
        .then_expect_error(DomainError::InvalidToken);
    user()
        .given(vec![
            registered(),
            reset_issued("r", now() - Duration::seconds(1)),
        ])
        .when_async(UserCommand::ResetPassword {
            token_hash: token("r"),
            new_password_hash: hash("new"),
        })
        .await
        .then_expect_error(DomainError::TokenExpired);
}

#[tokio::test]
async fn a_verified_email_gets_no_new_verification_and_unknown_users_nothing() {
    user()
        .given(vec![
            registered(),
            UserEvent::EmailVerified {
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::IssueEmailVerification {
            token_hash: token("a"),
            expires_at: now() + Duration::hours(1),
        })
        .await
        .then_expect_error(DomainError::AlreadyVerified);
    user()
        .given_no_previous_events()
        .when_async(UserCommand::IssuePasswordReset {
            token_hash: token("a"),
            expires_at: now() + Duration::hours(1),
        })
        .await
        .then_expect_error(DomainError::UserNotFound);
}

// --- Tutorial and communities ------------------------------------------------

#[tokio::test]
async fn the_tutorial_is_completed_once() {
    given_registered()
        .when_async(UserCommand::CompleteTutorial)
        .await
        .then_expect_events(vec![UserEvent::TutorialCompleted { at: now() }]);
    user()
        .given(vec![
            registered(),
            UserEvent::TutorialCompleted {
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::CompleteTutorial)
        .await
        .then_expect_events(vec![]);
}

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

// --- Administration ------------------------------------------------------------

#[tokio::test]
async fn a_disabled_account_cannot_log_in_until_enabled_and_its_sessions_end() {
    let disabled = UserEvent::UserDisabled {
        cutoff: SessionCutoff {
            after: now(),
            except: None,
        },
        at: now(),
    };
    given_registered()
        .when_async(UserCommand::Disable)
        .await
        .then_expect_events(vec![disabled.clone()]);
    assert!(disabled.cutoff().is_some());
    user()
        .given(vec![registered(), disabled.clone()])
        .when_async(UserCommand::AuthorizeLogin {
            verified_against: hash("original"),
            rehash: None,
        })
        .await
        .then_expect_error(DomainError::AccountDisabled);
    user()
        .given(vec![registered(), disabled.clone()])
        .when_async(UserCommand::Disable)
        .await
        .then_expect_events(vec![]);
    user()
        .given(vec![registered(), disabled])
        .when_async(UserCommand::Enable)
        .await
        .then_expect_events(vec![UserEvent::UserEnabled { at: now() }]);
    given_registered()
        .when_async(UserCommand::Enable)
        .await
        .then_expect_events(vec![]);
}

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

#[tokio::test]
async fn a_second_reset_mail_waits_a_minute() {
    let issued = |ago: i64| UserEvent::PasswordResetIssued {
        token_hash: token("r"),
        expires_at: now() + Duration::hours(1),
        at: now() - Duration::seconds(ago),
    };
    let command = || UserCommand::IssuePasswordReset {
        token_hash: token("s"),
        expires_at: now() + Duration::hours(1),
    };
    user()
        .given(vec![registered(), issued(10)])
        .when_async(command())
        .await
        .then_expect_error(DomainError::TooSoon);
    user()
        .given(vec![registered(), issued(61)])
        .when_async(command())
        .await
        .then_expect_events(vec![UserEvent::PasswordResetIssued {
            token_hash: token("s"),
            expires_at: now() + Duration::hours(1),
            at: now(),
        }]);
}

// --- Profile ----------------------------------------------------------------

fn text(value: &str) -> Option<Option<Personal<String>>> {
    Some(Some(Personal::new(value.to_string())))
}

#[tokio::test]
async fn a_profile_update_records_only_what_differs_and_nothing_when_nothing_does() {
    use aggregates::ProfileChanges;
    let changes = ProfileChanges {
        first_name: Some(Personal::new("Ada".to_string())),
        nickname: text("ada"),
        bio: Some(None),
        ..ProfileChanges::default()
    };
    given_registered()
        .when_async(UserCommand::UpdateProfile {
            changes: Box::new(changes.clone()),
        })
        .await
        .then_expect_events(vec![UserEvent::ProfileUpdated {
            changes: Box::new(ProfileChanges {
                nickname: text("ada"),
                ..ProfileChanges::default()
            }),
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::ProfileUpdated {
                changes: Box::new(ProfileChanges {
                    nickname: text("ada"),
                    ..ProfileChanges::default()
                }),
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::UpdateProfile {
            changes: Box::new(changes),
        })
        .await
        .then_expect_events(vec![]);
}

// --- Subscriptions ----------------------------------------------------------

fn granted(plan: &str, days: i64) -> UserEvent {
    UserEvent::SubscriptionGranted {
        plan: plan.to_string(),
        valid_until: now() + Duration::days(days),
        at: now() - Duration::days(1),
    }
}

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

// --- Categories -------------------------------------------------------------

#[tokio::test]
async fn an_index_records_the_categories_when_they_change() {
    given_registered()
        .when_async(UserCommand::IndexCategories {
            community_names: vec!["Rust Berlin".to_string()],
        })
        .await
        .then_expect_events(vec![UserEvent::CategoriesIndexed {
            categories: vec![
                "community:rust-berlin".to_string(),
                "profile:incomplete".to_string(),
            ],
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            granted("pro", 30),
            UserEvent::CategoriesIndexed {
                categories: vec!["profile:incomplete".to_string()],
                at: now() - Duration::hours(1),
            },
        ])
        .when_async(UserCommand::IndexCategories {
            community_names: vec![],
        })
        .await
        .then_expect_events(vec![UserEvent::CategoriesIndexed {
            categories: vec![
                "profile:incomplete".to_string(),
                "subscriber:pro".to_string(),
            ],
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::CategoriesIndexed {
                categories: vec!["profile:incomplete".to_string()],
                at: now() - Duration::hours(1),
            },
        ])
        .when_async(UserCommand::IndexCategories {
            community_names: vec![],
        })
        .await
        .then_expect_events(vec![]);
}

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
