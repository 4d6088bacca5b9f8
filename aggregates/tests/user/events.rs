//! The stored form's promises: what a cutoff revokes, which events carry
//! one, and the type names and version the log is read back by.

use aggregates::{SessionCutoff, UserEvent};
use chrono::Duration;
use cqrs_es::DomainEvent;

use crate::helpers::{hash, locked_out, now, registered, session_id};

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
