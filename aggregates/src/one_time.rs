//! Values that may be accepted once, on every instance: a SAML assertion's
//! id, say. One stream per value (its id a keyed hash of the value and its
//! purpose, computed outside this crate); the first use records an event,
//! any later one is refused — two instances racing to accept the same
//! value are told apart by the store's optimistic concurrency.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Services};

/// Commands on a one-time value.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum OneTimeCommand {
    /// Accept the value, unless it was accepted before.
    Use {
        /// What the value is (`saml_assertion`).
        purpose: String,
        /// Until when its issuer considers it valid (after that it would be
        /// refused anyway; kept for audit and for pruning).
        valid_until: DateTime<Utc>,
    },
}

/// What happened. Version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OneTimeEvent {
    /// The value was accepted (its one use).
    OneTimeValueUsed {
        /// What it is.
        purpose: String,
        /// Until when it was valid.
        valid_until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for OneTimeEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OneTimeValueUsed { .. } => "OneTimeValueUsed".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// Whether the value was used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OneTime {
    used_at: Option<DateTime<Utc>>,
}

impl OneTime {
    /// When the value was used, if it was.
    pub fn used_at(&self) -> Option<DateTime<Utc>> {
        self.used_at
    }
}

impl Aggregate for OneTime {
    const TYPE: &'static str = "one_time";
    type Command = OneTimeCommand;
    type Event = OneTimeEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: OneTimeCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            OneTimeCommand::Use {
                purpose,
                valid_until,
            } => {
                if self.used_at.is_some() {
                    return Err(DomainError::AlreadyUsed);
                }
                let event = OneTimeEvent::OneTimeValueUsed {
                    purpose,
                    valid_until,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: OneTimeEvent) {
        match event {
            OneTimeEvent::OneTimeValueUsed { at, .. } => self.used_at = Some(at),
        }
    }
}

impl crate::CommandName for OneTimeCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
