//! The Organization aggregate: a group users belong to. Its kind says what
//! it is for: a `community` (the ILD surface's communities) today; Kolibri
//! facilities and classrooms later.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, Services};

/// What an organization is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    /// An ILD community users join themselves.
    Community,
}

impl OrganizationKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Community => "community",
        }
    }
}

/// Commands on an organization.
#[derive(Debug, Clone)]
pub enum OrganizationCommand {
    /// Create it.
    Create {
        /// Pre-generated (UUIDv7) id, equal to the aggregate id.
        organization_id: Uuid,
        /// What it is.
        kind: OrganizationKind,
        /// Display name.
        name: String,
        /// Free text.
        description: Option<String>,
    },
}

/// What happened to an organization. Version 1 of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationEvent {
    /// It was created.
    OrganizationCreated {
        /// Id.
        organization_id: Uuid,
        /// What it is.
        kind: OrganizationKind,
        /// Display name.
        name: String,
        /// Free text.
        description: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OrganizationCreated { .. } => "OrganizationCreated",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// An organization's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Organization {
    id: Option<Uuid>,
    kind: Option<OrganizationKind>,
    name: String,
}

impl Organization {
    /// Its id, once created.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }
    /// What it is, once created.
    pub fn kind(&self) -> Option<OrganizationKind> {
        self.kind
    }
    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Aggregate for Organization {
    const TYPE: &'static str = "organization";
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: OrganizationCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match command {
            OrganizationCommand::Create {
                organization_id,
                kind,
                name,
                description,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let event = OrganizationEvent::OrganizationCreated {
                    organization_id,
                    kind,
                    name,
                    description,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: OrganizationEvent) {
        match event {
            OrganizationEvent::OrganizationCreated {
                organization_id,
                kind,
                name,
                ..
            } => {
                self.id = Some(organization_id);
                self.kind = Some(kind);
                self.name = name;
            }
        }
    }
}
