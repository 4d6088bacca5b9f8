//! Numbers handed out in order, never twice: where a client knows users
//! by integers (Doubtfire's ids), each user gets one of these for good.
//!
//! One stream per sequence. An instance reserves a block at a time and
//! hands its numbers out from memory, so the stream grows by one event per
//! block, not per user, and concurrent instances contend only when they
//! reserve. Numbers of a block an instance did not hand out before it
//! stopped are skipped, never reused.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{DomainError, Services};

/// The stream of the user numbers.
pub const USER_NUMBERS: &str = "user";

/// Commands on a sequence.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum NumberingCommand {
    /// Reserve the next `count` numbers (at least one).
    Reserve {
        /// How many.
        count: u64,
    },
}

/// What happened to a sequence. Version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NumberingEvent {
    /// `first ..= last` are reserved for one instance to hand out.
    NumbersReserved {
        /// The first number of the block.
        first: u64,
        /// The last number of the block.
        last: u64,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for NumberingEvent {
    fn event_type(&self) -> String {
        match self {
            Self::NumbersReserved { .. } => "NumbersReserved".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// A sequence's state: the last number reserved (numbers start at 1).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Numbering {
    last: u64,
}

impl Numbering {
    /// The last number reserved so far (0: none).
    pub fn last(&self) -> u64 {
        self.last
    }
}

impl Aggregate for Numbering {
    const TYPE: &'static str = "numbering";
    type Command = NumberingCommand;
    type Event = NumberingEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: NumberingCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            NumberingCommand::Reserve { count } => {
                let first = self.last + 1;
                let last = self.last + count.max(1);
                let event = NumberingEvent::NumbersReserved {
                    first,
                    last,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: NumberingEvent) {
        match event {
            NumberingEvent::NumbersReserved { last, .. } => self.last = last,
        }
    }
}

impl crate::CommandName for NumberingCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
