//! Given/when/then tests of the Session aggregate: start, refresh-token
//! rotation with its reuse grace period, revocation by the user's cutoff, end.

#![allow(clippy::unwrap_used)]

use aggregates::{
    DomainError, EndReason, Personal, Services, Session, SessionCommand, SessionCutoff,
    SessionEvent, TokenHash, Transport,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::Aggregate;
use cqrs_es::DomainEvent;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

fn session_id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0001_0001)
}

fn other_session_id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0001_0002)
}

fn user_id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001)
}

/// The hash of the refresh token of generation `n` (0 is the one issued at
/// login; each is derived from the one before).
fn token(n: u32) -> TokenHash {
    TokenHash::new(format!("{n:064x}"))
}

fn grace() -> Duration {
    Duration::seconds(30)
}

/// When the session was started and its credentials checked.
fn auth_time() -> DateTime<Utc> {
    now() - Duration::hours(1)
}

fn session() -> TestFramework<Session> {
    TestFramework::<Session>::with(Services::fixed(now()))
}

fn start_command() -> SessionCommand {
    SessionCommand::Start {
        session_id: session_id(),
        user_id: user_id(),
        surface: "ild".to_string(),
        transport: Transport::Bearer,
        active: true,
        account: None,
        remember_me: true,
        refresh_token_hash: token(0),
        auth_time: now() - Duration::seconds(2),
        expires_at: now() + Duration::days(30),
        client_ip: Personal::new(Some("203.0.113.7".to_string())),
        user_agent: Personal::new(Some("Mozilla/5.0".to_string())),
    }
}

fn started_with(auth_time: DateTime<Utc>, expires_at: DateTime<Utc>) -> SessionEvent {
    SessionEvent::SessionStarted {
        session_id: session_id(),
        user_id: user_id(),
        surface: "ild".to_string(),
        transport: Some(Transport::Bearer),
        active: true,
        account: None,
        remember_me: false,
        refresh_token_hash: token(0),
        auth_time,
        expires_at,
        client_ip: Personal::new(None),
        user_agent: Personal::new(None),
        started_at: auth_time,
    }
}

fn started() -> SessionEvent {
    started_with(auth_time(), now() + Duration::days(1))
}

/// Token generation `n - 1` was exchanged for generation `n` at `at`.
fn rotated(n: u32, at: DateTime<Utc>) -> SessionEvent {
    SessionEvent::RefreshTokenRotated {
        previous_hash: token(n - 1),
        refresh_token_hash: token(n),
        at,
    }
}

fn ended(reason: EndReason) -> SessionEvent {
    SessionEvent::SessionEnded {
        reason,
        at: now() - Duration::minutes(5),
    }
}

fn given_started() -> AggregateTestExecutor<Session> {
    session().given(vec![started()])
}

/// Presents token generation `presented`, with the successor derived from it.
fn refresh(presented: u32) -> SessionCommand {
    refresh_with(presented, grace(), None)
}

fn refresh_with(
    presented: u32,
    reuse_grace: Duration,
    user_cutoff: Option<SessionCutoff>,
) -> SessionCommand {
    SessionCommand::Refresh {
        presented_hash: token(presented),
        successor_hash: token(presented + 1),
        reuse_grace,
        user_cutoff,
    }
}

fn reuse_detected() -> SessionEvent {
    SessionEvent::SessionEnded {
        reason: EndReason::RefreshTokenReused,
        at: now(),
    }
}

// --- Start ------------------------------------------------------------------

#[tokio::test]
async fn a_successful_login_starts_a_session() {
    session()
        .given_no_previous_events()
        .when_async(start_command())
        .await
        .then_expect_events(vec![SessionEvent::SessionStarted {
            session_id: session_id(),
            user_id: user_id(),
            surface: "ild".to_string(),
            transport: Some(Transport::Bearer),
            active: true,
            account: None,
            remember_me: true,
            refresh_token_hash: token(0),
            auth_time: now() - Duration::seconds(2),
            expires_at: now() + Duration::days(30),
            client_ip: Personal::new(Some("203.0.113.7".to_string())),
            user_agent: Personal::new(Some("Mozilla/5.0".to_string())),
            started_at: now(),
        }]);
}

#[tokio::test]
async fn starting_a_session_that_was_already_started_is_rejected() {
    given_started()
        .when_async(start_command())
        .await
        .then_expect_error(DomainError::SessionAlreadyStarted);
}

#[tokio::test]
async fn starting_a_session_that_has_already_ended_is_rejected() {
    given_started()
        .and(vec![ended(EndReason::Logout)])
        .when_async(start_command())
        .await
        .then_expect_error(DomainError::SessionAlreadyStarted);
}

// --- Refresh: rotation ------------------------------------------------------

#[tokio::test]
async fn the_refresh_token_issued_at_login_is_rotated_to_its_successor() {
    given_started()
        .when_async(refresh(0))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(0),
            refresh_token_hash: token(1),
            at: now(),
        }]);
}

#[tokio::test]
async fn the_token_issued_by_the_last_rotation_is_rotated_again() {
    given_started()
        .and(vec![
            rotated(1, now() - Duration::minutes(20)),
            rotated(2, now() - Duration::minutes(10)),
        ])
        .when_async(refresh(2))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(2),
            refresh_token_hash: token(3),
            at: now(),
        }]);
}

#[tokio::test]
async fn the_current_token_is_rotated_even_with_a_zero_grace_period() {
    given_started()
        .and(vec![rotated(1, now() - Duration::seconds(1))])
        .when_async(refresh_with(1, Duration::zero(), None))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(1),
            refresh_token_hash: token(2),
            at: now(),
        }]);
}

// --- Refresh: reuse and its grace period ------------------------------------

#[tokio::test]
async fn the_immediate_predecessor_presented_within_the_grace_period_writes_nothing() {
    given_started()
        .and(vec![rotated(1, now() - Duration::seconds(5))])
        .when_async(refresh(0))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn the_immediate_predecessor_presented_at_the_very_end_of_the_grace_period_writes_nothing() {
    given_started()
        .and(vec![rotated(1, now() - grace())])
        .when_async(refresh(0))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn the_immediate_predecessor_of_a_later_rotation_is_also_covered_by_the_grace_period() {
    given_started()
        .and(vec![
            rotated(1, now() - Duration::minutes(20)),
            rotated(2, now() - Duration::seconds(5)),
        ])
        .when_async(refresh(1))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_rotated_refresh_token_presented_after_the_grace_period_ends_the_session() {
    given_started()
        .and(vec![rotated(
            1,
            now() - grace() - Duration::milliseconds(1),
        )])
        .when_async(refresh(0))
        .await
        .then_expect_events(vec![reuse_detected()]);
}

#[tokio::test]
async fn with_a_zero_grace_period_any_reuse_of_a_rotated_token_ends_the_session() {
    given_started()
        .and(vec![rotated(1, now())])
        .when_async(refresh_with(0, Duration::zero(), None))
        .await
        .then_expect_events(vec![reuse_detected()]);
}

#[tokio::test]
async fn a_token_two_generations_old_ends_the_session_even_within_the_grace_period() {
    given_started()
        .and(vec![
            rotated(1, now() - Duration::seconds(10)),
            rotated(2, now() - Duration::seconds(5)),
        ])
        .when_async(refresh(0))
        .await
        .then_expect_events(vec![reuse_detected()]);
}

#[tokio::test]
async fn a_predecessor_presented_with_a_successor_other_than_the_current_token_ends_the_session() {
    given_started()
        .and(vec![rotated(1, now() - Duration::seconds(5))])
        .when_async(SessionCommand::Refresh {
            presented_hash: token(0),
            successor_hash: TokenHash::new("forged"),
            reuse_grace: grace(),
            user_cutoff: None,
        })
        .await
        .then_expect_events(vec![reuse_detected()]);
}

#[tokio::test]
async fn a_refresh_token_this_session_never_issued_is_rejected() {
    given_started()
        .and(vec![rotated(1, now() - Duration::seconds(5))])
        .when_async(refresh(7))
        .await
        .then_expect_error(DomainError::InvalidRefreshToken);
}

// --- Refresh: sessions that are not live ------------------------------------

#[tokio::test]
async fn refreshing_an_ended_session_is_rejected() {
    given_started()
        .and(vec![ended(EndReason::Logout)])
        .when_async(refresh(0))
        .await
        .then_expect_error(DomainError::SessionEnded);
}

#[tokio::test]
async fn refreshing_a_session_ended_by_reuse_detection_is_rejected_even_with_the_current_token() {
    given_started()
        .and(vec![
            rotated(1, now() - Duration::minutes(10)),
            ended(EndReason::RefreshTokenReused),
        ])
        .when_async(refresh(1))
        .await
        .then_expect_error(DomainError::SessionEnded);
}

#[tokio::test]
async fn refreshing_an_expired_session_is_rejected() {
    session()
        .given(vec![started_with(
            auth_time(),
            now() - Duration::seconds(1),
        )])
        .when_async(refresh(0))
        .await
        .then_expect_error(DomainError::SessionExpired);
}

#[tokio::test]
async fn a_session_expiring_exactly_now_can_no_longer_be_refreshed() {
    session()
        .given(vec![started_with(auth_time(), now())])
        .when_async(refresh(0))
        .await
        .then_expect_error(DomainError::SessionExpired);
}

#[tokio::test]
async fn refreshing_a_session_that_was_never_started_is_rejected() {
    session()
        .given_no_previous_events()
        .when_async(refresh(0))
        .await
        .then_expect_error(DomainError::SessionNotFound);
}

// --- Refresh: the user's sessions cutoff ------------------------------------

#[tokio::test]
async fn a_session_authenticated_before_the_users_cutoff_is_revoked() {
    let cutoff = SessionCutoff {
        after: now() - Duration::minutes(1),
        except: None,
    };
    given_started()
        .when_async(refresh_with(0, grace(), Some(cutoff)))
        .await
        .then_expect_error(DomainError::SessionRevoked);
}

#[tokio::test]
async fn a_cutoff_that_keeps_another_session_still_revokes_this_one() {
    let cutoff = SessionCutoff {
        after: now() - Duration::minutes(1),
        except: Some(other_session_id()),
    };
    given_started()
        .when_async(refresh_with(0, grace(), Some(cutoff)))
        .await
        .then_expect_error(DomainError::SessionRevoked);
}

#[tokio::test]
async fn the_session_a_cutoff_keeps_can_still_refresh() {
    let cutoff = SessionCutoff {
        after: now() - Duration::minutes(1),
        except: Some(session_id()),
    };
    given_started()
        .when_async(refresh_with(0, grace(), Some(cutoff)))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(0),
            refresh_token_hash: token(1),
            at: now(),
        }]);
}

#[tokio::test]
async fn a_session_authenticated_after_the_users_cutoff_can_still_refresh() {
    let cutoff = SessionCutoff {
        after: auth_time() - Duration::minutes(1),
        except: None,
    };
    given_started()
        .when_async(refresh_with(0, grace(), Some(cutoff)))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(0),
            refresh_token_hash: token(1),
            at: now(),
        }]);
}

#[tokio::test]
async fn a_session_authenticated_exactly_at_the_users_cutoff_can_still_refresh() {
    let cutoff = SessionCutoff {
        after: auth_time(),
        except: None,
    };
    given_started()
        .when_async(refresh_with(0, grace(), Some(cutoff)))
        .await
        .then_expect_events(vec![SessionEvent::RefreshTokenRotated {
            previous_hash: token(0),
            refresh_token_hash: token(1),
            at: now(),
        }]);
}

// --- End --------------------------------------------------------------------

#[tokio::test]
async fn logging_out_ends_the_session() {
    given_started()
        .when_async(SessionCommand::End {
            reason: EndReason::Logout,
        })
        .await
        .then_expect_events(vec![SessionEvent::SessionEnded {
            reason: EndReason::Logout,
            at: now(),
        }]);
}

#[tokio::test]
async fn a_session_revoked_from_elsewhere_ends_with_that_reason() {
    given_started()
        .and(vec![rotated(1, now() - Duration::minutes(10))])
        .when_async(SessionCommand::End {
            reason: EndReason::Revoked,
        })
        .await
        .then_expect_events(vec![SessionEvent::SessionEnded {
            reason: EndReason::Revoked,
            at: now(),
        }]);
}

#[tokio::test]
async fn an_expired_session_can_still_be_ended_as_expired() {
    session()
        .given(vec![started_with(
            auth_time(),
            now() - Duration::minutes(1),
        )])
        .when_async(SessionCommand::End {
            reason: EndReason::Expired,
        })
        .await
        .then_expect_events(vec![SessionEvent::SessionEnded {
            reason: EndReason::Expired,
            at: now(),
        }]);
}

#[tokio::test]
async fn ending_a_session_that_has_already_ended_writes_nothing() {
    given_started()
        .and(vec![ended(EndReason::Logout)])
        .when_async(SessionCommand::End {
            reason: EndReason::Logout,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn ending_an_ended_session_for_another_reason_writes_nothing_either() {
    given_started()
        .and(vec![ended(EndReason::RefreshTokenReused)])
        .when_async(SessionCommand::End {
            reason: EndReason::Revoked,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn ending_a_session_that_was_never_started_is_rejected() {
    session()
        .given_no_previous_events()
        .when_async(SessionCommand::End {
            reason: EndReason::Logout,
        })
        .await
        .then_expect_error(DomainError::SessionNotFound);
}

// --- Names ------------------------------------------------------------------

#[test]
fn end_reasons_keep_their_stored_names() {
    assert_eq!(EndReason::Logout.as_str(), "logout");
    assert_eq!(
        EndReason::RefreshTokenReused.as_str(),
        "refresh_token_reused"
    );
    assert_eq!(EndReason::Revoked.as_str(), "revoked");
    assert_eq!(EndReason::Expired.as_str(), "expired");
}

#[test]
fn end_reasons_serialize_to_their_stored_names() {
    for reason in [
        EndReason::Logout,
        EndReason::RefreshTokenReused,
        EndReason::Revoked,
        EndReason::Expired,
    ] {
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(json, format!("\"{}\"", reason.as_str()));
    }
}

#[test]
fn session_events_keep_their_stored_type_names_at_version_one() {
    let events = [
        (started(), "SessionStarted"),
        (rotated(1, now()), "RefreshTokenRotated"),
        (ended(EndReason::Logout), "SessionEnded"),
    ];
    for (event, name) in events {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), "1");
    }
}

/// Sessions recorded before they named their transport still read right:
/// the cookie sessions of that time were the Kolibri surface's.
#[test]
fn a_session_recorded_before_transports_reads_its_transport_from_its_surface() {
    // An event as written then: no `transport`, no `active`.
    let started = |surface: &str| {
        let mut json = serde_json::to_value(SessionEvent::SessionStarted {
            session_id: session_id(),
            user_id: user_id(),
            surface: surface.to_string(),
            transport: None,
            active: true,
            account: None,
            remember_me: false,
            refresh_token_hash: token(0),
            auth_time: now(),
            expires_at: now(),
            client_ip: Personal::new(None),
            user_agent: Personal::new(None),
            started_at: now(),
        })
        .expect("serializable");
        let fields = json["SessionStarted"].as_object_mut().expect("fields");
        assert!(fields.remove("transport").is_none());
        assert!(fields.remove("active").is_some());
        serde_json::from_value::<SessionEvent>(json).expect("an old SessionStarted")
    };
    for (surface, transport) in [("kolibri", Transport::Cookie), ("ild", Transport::Bearer)] {
        let mut session = Session::default();
        session.apply(started(surface));
        assert_eq!(session.transport(), transport, "{surface}");
        assert!(session.is_active(), "{surface}");
    }
    let mut session = Session::default();
    session.apply(SessionEvent::SessionStarted {
        session_id: session_id(),
        user_id: user_id(),
        surface: "kolibri".to_string(),
        transport: Some(Transport::HeaderToken),
        active: false,
        account: None,
        remember_me: false,
        refresh_token_hash: token(0),
        auth_time: now(),
        expires_at: now(),
        client_ip: Personal::new(None),
        user_agent: Personal::new(None),
        started_at: now(),
    });
    assert_eq!(session.transport(), Transport::HeaderToken);
    assert!(!session.is_active());
}

/// Metrics count commands by their variant name, never with their fields.
#[test]
fn a_command_is_named_by_its_variant_only() {
    use aggregates::CommandName;
    assert_eq!(start_command().name(), "Start");
    assert_eq!(
        SessionCommand::End {
            reason: EndReason::Logout
        }
        .name(),
        "End"
    );
}

/// A session waiting for its account becomes active when one is chosen;
/// choosing the account it acts in already records nothing; an ended
/// session chooses nothing.
#[tokio::test]
async fn choosing_an_account_activates_a_waiting_session() {
    let account = Uuid::from_u128(77);
    let waiting = SessionEvent::SessionStarted {
        session_id: session_id(),
        user_id: user_id(),
        surface: "backstack".to_string(),
        transport: Some(Transport::Cookie),
        active: false,
        account: None,
        remember_me: false,
        refresh_token_hash: token(0),
        auth_time: auth_time(),
        expires_at: now() + Duration::hours(2),
        client_ip: Personal::new(None),
        user_agent: Personal::new(None),
        started_at: auth_time(),
    };
    session()
        .given(vec![waiting.clone()])
        .when_async(SessionCommand::SelectAccount { account })
        .await
        .then_expect_events(vec![SessionEvent::AccountSelected { account, at: now() }]);
    session()
        .given(vec![
            waiting.clone(),
            SessionEvent::AccountSelected { account, at: now() },
        ])
        .when_async(SessionCommand::SelectAccount { account })
        .await
        .then_expect_events(vec![]);
    session()
        .given(vec![waiting.clone(), ended(EndReason::Logout)])
        .when_async(SessionCommand::SelectAccount { account })
        .await
        .then_expect_error(DomainError::SessionEnded);
    let mut state = Session::default();
    state.apply(waiting);
    assert!(!state.is_active());
    state.apply(SessionEvent::AccountSelected { account, at: now() });
    assert!(state.is_active());
    assert_eq!(state.account(), Some((account, now())));
}
