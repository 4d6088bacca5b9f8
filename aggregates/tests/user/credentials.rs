//! Registration, login authorization, lockout, password changes, session
//! revocation, and disabling: who may authenticate, and with which hash.

use aggregates::{DomainError, PasswordHash, Personal, SessionCutoff, UserCommand, UserEvent};
use chrono::Duration;

use crate::helpers::{
    given_registered, hash, locked_out, now, registered, registered_at, session_id, user, user_id,
};

// --- Register ---------------------------------------------------------------

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

// --- Disable and enable ------------------------------------------------------

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
