//! The mailed single-use tokens: email verification and password reset,
//! each replaced by the next, refused when wrong or expired, used once.

use aggregates::{DomainError, SessionCutoff, UserCommand, UserEvent};
use chrono::{DateTime, Duration, Utc};

use crate::helpers::{given_registered, hash, now, registered, user};

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
