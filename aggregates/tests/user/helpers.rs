//! What every User test starts from: a fixed instant, one user, a
//! registration with a known hash, and a lockout and a plan to build on.
//! The values are fixed so that an expected event can be written out whole.

use aggregates::{PasswordHash, Personal, Services, User, UserEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap()
}

pub fn user_id() -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0001)
}

pub fn session_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0001_0000 + n)
}

pub fn hash(name: &str) -> PasswordHash {
    PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${name}"))
}

pub fn user() -> TestFramework<User> {
    TestFramework::<User>::with(Services::fixed(now()))
}

pub fn registered_at(at: DateTime<Utc>) -> UserEvent {
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

pub fn registered() -> UserEvent {
    registered_at(now() - Duration::days(30))
}

pub fn locked_out(until: DateTime<Utc>) -> UserEvent {
    UserEvent::UserLockedOut {
        until,
        failed_attempts: 5,
        at: now() - Duration::minutes(1),
    }
}

pub fn given_registered() -> AggregateTestExecutor<User> {
    user().given(vec![registered()])
}

pub fn granted(plan: &str, days: i64) -> UserEvent {
    UserEvent::SubscriptionGranted {
        plan: plan.to_string(),
        valid_until: now() + Duration::days(days),
        at: now() - Duration::days(1),
    }
}
