//! The PolicyRole aggregate: a role defined by policies (Open Archiver's
//! CASL roles): a name, its slug, and policy statements (checked by the
//! service; evaluated by `eventauth::access::policies`). Users hold it by
//! its slug, as a global role.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{DomainError, Services};

/// Commands on a policy role.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum PolicyRoleCommand {
    /// Define it.
    Create {
        /// Its id (the aggregate id).
        role_id: Uuid,
        /// Display name.
        name: String,
        /// Slug (what users hold).
        slug: String,
        /// Policy statements (checked).
        policies: Value,
    },
    /// Change its name and policies.
    Update {
        /// Display name.
        name: String,
        /// Slug.
        slug: String,
        /// Policy statements (checked).
        policies: Value,
    },
    /// Delete it.
    Delete,
}

/// What happened to a policy role. Version 1 of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolicyRoleEvent {
    /// It was defined.
    PolicyRoleCreated {
        /// Id.
        role_id: Uuid,
        /// Name.
        name: String,
        /// Slug.
        slug: String,
        /// Statements.
        policies: Value,
        /// When.
        at: DateTime<Utc>,
    },
    /// It changed.
    PolicyRoleUpdated {
        /// Name.
        name: String,
        /// Slug.
        slug: String,
        /// Statements.
        policies: Value,
        /// When.
        at: DateTime<Utc>,
    },
    /// It was deleted.
    PolicyRoleDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for PolicyRoleEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PolicyRoleCreated { .. } => "PolicyRoleCreated",
            Self::PolicyRoleUpdated { .. } => "PolicyRoleUpdated",
            Self::PolicyRoleDeleted { .. } => "PolicyRoleDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// A policy role's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyRole {
    id: Option<Uuid>,
    name: String,
    slug: String,
    policies: Value,
    deleted: bool,
}

impl PolicyRole {
    /// Whether it exists (defined, not deleted).
    pub fn exists(&self) -> bool {
        self.id.is_some() && !self.deleted
    }
    /// Its slug.
    pub fn slug(&self) -> &str {
        &self.slug
    }
}

impl Aggregate for PolicyRole {
    const TYPE: &'static str = "policy_role";
    type Command = PolicyRoleCommand;
    type Event = PolicyRoleEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: PolicyRoleCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let at = services.now();
        let event = match command {
            PolicyRoleCommand::Create {
                role_id,
                name,
                slug,
                policies,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                PolicyRoleEvent::PolicyRoleCreated {
                    role_id,
                    name,
                    slug,
                    policies,
                    at,
                }
            }
            PolicyRoleCommand::Update {
                name,
                slug,
                policies,
            } => {
                if !self.exists() {
                    return Err(DomainError::RoleNotFound);
                }
                if (&name, &slug, &policies) == (&self.name, &self.slug, &self.policies) {
                    return Ok(());
                }
                PolicyRoleEvent::PolicyRoleUpdated {
                    name,
                    slug,
                    policies,
                    at,
                }
            }
            PolicyRoleCommand::Delete => {
                if !self.exists() {
                    return Err(DomainError::RoleNotFound);
                }
                PolicyRoleEvent::PolicyRoleDeleted { at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PolicyRoleEvent) {
        match event {
            PolicyRoleEvent::PolicyRoleCreated {
                role_id,
                name,
                slug,
                policies,
                ..
            } => {
                self.id = Some(role_id);
                self.name = name;
                self.slug = slug;
                self.policies = policies;
            }
            PolicyRoleEvent::PolicyRoleUpdated {
                name,
                slug,
                policies,
                ..
            } => {
                self.name = name;
                self.slug = slug;
                self.policies = policies;
            }
            PolicyRoleEvent::PolicyRoleDeleted { .. } => self.deleted = true,
        }
    }
}

impl crate::CommandName for PolicyRoleCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
