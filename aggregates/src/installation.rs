//! The Installation aggregate: the service's one-time setup (Open
//! Archiver's `POST /v1/auth/setup`), one stream for the whole service.
//! Its sequence number is what makes "only once" hold across concurrent
//! requests and instances: of two setups, the second one's append
//! conflicts, reloads and finds the setup claimed.
//!
//! The setup claims the installation for the administrator's pre-generated
//! id before that user is written (no transaction spans two aggregates); a
//! claim whose administrator never came into being (a crash between the
//! two steps) may be taken over once stale, as identifier claims are.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, Services};

/// The id of the one installation stream.
pub const INSTALLATION_ID: &str = "installation";

/// Commands on the installation.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum InstallationCommand {
    /// Claim the setup for the first administrator.
    ClaimSetup {
        /// The administrator's (pre-generated) user id.
        admin: Uuid,
        /// Whether the administrator of an earlier claim exists (checked by
        /// the caller; `false` when there is none).
        earlier_admin_exists: bool,
        /// How old an earlier claim whose administrator does not exist must
        /// be before it may be taken over.
        stale_after: Duration,
    },
}

/// What happened. Version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InstallationEvent {
    /// The setup was claimed for its first administrator.
    SetupClaimed {
        /// The administrator.
        admin: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for InstallationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SetupClaimed { .. } => "SetupClaimed".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// The installation's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Installation {
    admin: Option<Uuid>,
    claimed_at: Option<DateTime<Utc>>,
}

impl Installation {
    /// The first administrator, once the setup was claimed.
    pub fn admin(&self) -> Option<Uuid> {
        self.admin
    }

    /// When the setup was claimed.
    pub fn claimed_at(&self) -> Option<DateTime<Utc>> {
        self.claimed_at
    }
}

impl Aggregate for Installation {
    const TYPE: &'static str = "installation";
    type Command = InstallationCommand;
    type Event = InstallationEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: InstallationCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            InstallationCommand::ClaimSetup {
                admin,
                earlier_admin_exists,
                stale_after,
            } => {
                let now = services.now();
                if let (Some(_), Some(claimed_at)) = (self.admin, self.claimed_at) {
                    if earlier_admin_exists || now - claimed_at < stale_after {
                        return Err(DomainError::AlreadyExists);
                    }
                }
                let event = InstallationEvent::SetupClaimed { admin, at: now };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: InstallationEvent) {
        match event {
            InstallationEvent::SetupClaimed { admin, at } => {
                self.admin = Some(admin);
                self.claimed_at = Some(at);
            }
        }
    }
}

impl crate::CommandName for InstallationCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
