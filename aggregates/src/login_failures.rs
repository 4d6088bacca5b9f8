//! Failed login attempts, kept for audit where they cannot slow logins
//! down: one stream per (hashed identifier, UTC day), never the User's.
//!
//! Throttling itself does not read these streams (it counts in memory);
//! they answer "who tried to get into this account, from where, when".

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Personal, Services};

/// The stream id for an identifier's failures on a day.
pub fn stream_id(identifier_key: &str, day: NaiveDate) -> String {
    format!("{identifier_key}:{day}")
}

/// The identifier key a stream id belongs to.
pub fn identifier_key(stream_id: &str) -> &str {
    stream_id.rsplit_once(':').map_or(stream_id, |(key, _)| key)
}

/// Commands on a day's failures.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum LoginFailuresCommand {
    /// Record one failed attempt.
    Record {
        /// Client IP.
        client_ip: Personal<Option<String>>,
        /// Client user agent.
        user_agent: Personal<Option<String>>,
    },
    /// Lock logins for the identifier, whether or not an account has it:
    /// every instance's throttle follows these events, so known and unknown
    /// identifiers are locked alike everywhere.
    Lock {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
}

/// What happened. Version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoginFailuresEvent {
    /// A login for the identifier failed (wrong password or no account:
    /// deliberately not told apart).
    LoginFailed {
        /// Client IP.
        client_ip: Personal<Option<String>>,
        /// Client user agent.
        user_agent: Personal<Option<String>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Logins for the identifier are locked until `until`.
    LoginLockedOut {
        /// When the lock ends.
        until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for LoginFailuresEvent {
    fn event_type(&self) -> String {
        match self {
            Self::LoginFailed { .. } => "LoginFailed".to_string(),
            Self::LoginLockedOut { .. } => "LoginLockedOut".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// One identifier's failures on one day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoginFailures {
    count: u32,
}

impl LoginFailures {
    /// Failures recorded so far.
    pub fn count(&self) -> u32 {
        self.count
    }
}

impl Aggregate for LoginFailures {
    const TYPE: &'static str = "login_failures";
    type Command = LoginFailuresCommand;
    type Event = LoginFailuresEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: LoginFailuresCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            LoginFailuresCommand::Record {
                client_ip,
                user_agent,
            } => {
                let event = LoginFailuresEvent::LoginFailed {
                    client_ip,
                    user_agent,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
            LoginFailuresCommand::Lock { until } => {
                let event = LoginFailuresEvent::LoginLockedOut {
                    until,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: LoginFailuresEvent) {
        match event {
            LoginFailuresEvent::LoginFailed { .. } => self.count += 1,
            LoginFailuresEvent::LoginLockedOut { .. } => {}
        }
    }
}

impl crate::CommandName for LoginFailuresCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
