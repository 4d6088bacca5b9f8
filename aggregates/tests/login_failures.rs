//! Given/when/then tests of the LoginFailures aggregate: every failed
//! attempt and every lock is recorded where it cannot slow logins down, one
//! stream per identifier and day, whose id leads back to the identifier.

#![allow(clippy::unwrap_used)]

use aggregates::login_failures::stream_id;
use aggregates::{LoginFailures, LoginFailuresCommand, LoginFailuresEvent, Personal, Services};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::test::TestFramework;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

fn record() -> LoginFailuresCommand {
    LoginFailuresCommand::Record {
        client_ip: Personal::new(Some("203.0.113.7".into())),
        user_agent: Personal::new(None),
    }
}

fn failed() -> LoginFailuresEvent {
    LoginFailuresEvent::LoginFailed {
        client_ip: Personal::new(Some("203.0.113.7".into())),
        user_agent: Personal::new(None),
        at: now(),
    }
}

#[tokio::test]
async fn a_failed_attempt_is_recorded_with_where_it_came_from() {
    TestFramework::<LoginFailures>::with(Services::fixed(now()))
        .given_no_previous_events()
        .when_async(record())
        .await
        .then_expect_events(vec![failed()]);
}

#[tokio::test]
async fn every_further_attempt_of_the_day_is_recorded_too() {
    TestFramework::<LoginFailures>::with(Services::fixed(now()))
        .given(vec![failed(), failed()])
        .when_async(record())
        .await
        .then_expect_events(vec![failed()]);
}

#[test]
fn streams_are_per_identifier_and_day() {
    let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
    let next = NaiveDate::from_ymd_opt(2025, 3, 15).unwrap();
    assert_eq!(stream_id("abc", day), "abc:2025-03-14");
    assert_ne!(stream_id("abc", day), stream_id("abc", next));
    assert_ne!(stream_id("abc", day), stream_id("abd", day));
}

#[tokio::test]
async fn a_lock_is_recorded_on_the_identifier_stream() {
    let until = now() + chrono::Duration::minutes(15);
    TestFramework::<LoginFailures>::with(Services::fixed(now()))
        .given(vec![failed(), failed()])
        .when_async(LoginFailuresCommand::Lock { until })
        .await
        .then_expect_events(vec![LoginFailuresEvent::LoginLockedOut {
            until,
            at: now(),
        }]);
}

#[test]
fn the_identifier_key_is_recovered_from_the_stream_id() {
    let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
    assert_eq!(
        aggregates::login_failures::identifier_key(&stream_id("abc", day)),
        "abc"
    );
}
