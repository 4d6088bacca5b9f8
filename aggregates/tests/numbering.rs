//! Given/when/then tests of the Numbering and OneTime aggregates: numbers
//! handed out in blocks, never twice; a one-time value accepted once.

#![allow(clippy::unwrap_used)]

use aggregates::{
    DomainError, Numbering, NumberingCommand, NumberingEvent, OneTime, OneTimeCommand,
    OneTimeEvent, Services,
};
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn reserved(first: u64, last: u64) -> NumberingEvent {
    NumberingEvent::NumbersReserved {
        first,
        last,
        at: now(),
    }
}

#[tokio::test]
async fn blocks_follow_each_other_from_one() {
    TestFramework::<Numbering>::with(Services::fixed(now()))
        .given_no_previous_events()
        .when_async(NumberingCommand::Reserve { count: 16 })
        .await
        .then_expect_events(vec![reserved(1, 16)]);
    TestFramework::<Numbering>::with(Services::fixed(now()))
        .given(vec![reserved(1, 16), reserved(17, 32)])
        .when_async(NumberingCommand::Reserve { count: 16 })
        .await
        .then_expect_events(vec![reserved(33, 48)]);
    // A block is at least one number.
    TestFramework::<Numbering>::with(Services::fixed(now()))
        .given(vec![reserved(1, 16)])
        .when_async(NumberingCommand::Reserve { count: 0 })
        .await
        .then_expect_events(vec![reserved(17, 17)]);
}

#[tokio::test]
async fn a_one_time_value_is_accepted_once() {
    let until = now() + chrono::Duration::minutes(5);
    let use_it = || OneTimeCommand::Use {
        purpose: "saml_assertion".to_string(),
        valid_until: until,
    };
    let used = OneTimeEvent::OneTimeValueUsed {
        purpose: "saml_assertion".to_string(),
        valid_until: until,
        at: now(),
    };
    TestFramework::<OneTime>::with(Services::fixed(now()))
        .given_no_previous_events()
        .when_async(use_it())
        .await
        .then_expect_events(vec![used.clone()]);
    TestFramework::<OneTime>::with(Services::fixed(now()))
        .given(vec![used])
        .when_async(use_it())
        .await
        .then_expect_error(DomainError::AlreadyUsed);
}
