//! The Organization aggregate: a group users belong to. Its kind says what
//! it is for: a `community` (the ILD surface's communities), or Kolibri's
//! collections: a `facility` (with its settings), a `classroom` in a
//! facility, a `learner_group` in a classroom; or an `account` (Backstack's:
//! users are members of one or more, with roles in each).

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
    /// A Kolibri facility: the root collection, with settings.
    Facility,
    /// A Kolibri classroom, in a facility.
    Classroom,
    /// A Kolibri learner group, in a classroom.
    LearnerGroup,
    /// A Backstack account: users are members of one or more.
    Account,
}

impl OrganizationKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Community => "community",
            Self::Facility => "facility",
            Self::Classroom => "classroom",
            Self::LearnerGroup => "learner_group",
            Self::Account => "account",
        }
    }

    /// The kind its parent must be, if it has one.
    pub fn parent_kind(self) -> Option<Self> {
        match self {
            Self::Community | Self::Facility | Self::Account => None,
            Self::Classroom => Some(Self::Facility),
            Self::LearnerGroup => Some(Self::Classroom),
        }
    }
}

/// A Kolibri facility's settings, as Kolibri 0.19.5 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilitySettings {
    /// Learners may change their username.
    pub learner_can_edit_username: bool,
    /// Learners may change their full name.
    pub learner_can_edit_name: bool,
    /// Learners may change their password.
    pub learner_can_edit_password: bool,
    /// Anyone may sign up as a learner (`POST /api/auth/signup`).
    pub learner_can_sign_up: bool,
    /// Learners may delete their account.
    pub learner_can_delete_account: bool,
    /// Learners without a role log in with their username only.
    pub learner_can_login_with_no_password: bool,
    /// Learners see a download button.
    pub show_download_button_in_learn: bool,
}

/// Kolibri's `nonformal` preset (its default); `informal` is the same in
/// Kolibri 0.19.5.
const NONFORMAL: FacilitySettings = FacilitySettings {
    learner_can_edit_username: true,
    learner_can_edit_name: true,
    learner_can_edit_password: true,
    learner_can_sign_up: true,
    learner_can_delete_account: true,
    learner_can_login_with_no_password: false,
    show_download_button_in_learn: true,
};

/// Kolibri's facility presets (`facility_configuration_presets.json` of
/// Kolibri 0.19.5); `nonformal` is its default.
pub const PRESETS: &[(&str, FacilitySettings)] = &[
    (
        "formal",
        FacilitySettings {
            learner_can_edit_username: false,
            learner_can_edit_name: false,
            learner_can_edit_password: false,
            learner_can_sign_up: false,
            learner_can_delete_account: false,
            learner_can_login_with_no_password: true,
            show_download_button_in_learn: false,
        },
    ),
    ("nonformal", NONFORMAL),
    ("informal", NONFORMAL),
];

/// Kolibri's default preset.
pub const DEFAULT_PRESET: &str = "nonformal";

impl FacilitySettings {
    /// The settings of a named preset.
    pub fn preset(name: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .map(|(_, settings)| *settings)
    }
}

impl Default for FacilitySettings {
    fn default() -> Self {
        NONFORMAL
    }
}

/// Commands on an organization.
#[derive(Debug, Clone, strum::IntoStaticStr)]
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
        /// The collection it belongs to (classrooms, learner groups; the
        /// service checks it exists and is of [`OrganizationKind::parent_kind`]).
        parent: Option<Uuid>,
        /// A facility's settings (facilities only).
        settings: Option<FacilitySettings>,
    },
    /// A facility's settings change.
    ChangeSettings {
        /// The new settings.
        settings: FacilitySettings,
    },
    /// A classroom or learner group gets a new name (the service checks it
    /// is free among its siblings).
    Rename {
        /// The new name.
        name: String,
    },
    /// A classroom or learner group is deleted (the service deletes a
    /// classroom's learner groups first). Its roles and memberships go with
    /// it: the read models drop them, and what user states still name it
    /// refers to nothing.
    Delete,
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
        /// The collection it belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<Uuid>,
        /// A facility's settings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settings: Option<FacilitySettings>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A facility's settings changed.
    FacilitySettingsChanged {
        /// The settings now.
        settings: FacilitySettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// A classroom or learner group was renamed.
    OrganizationRenamed {
        /// The name now.
        name: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A classroom or learner group was deleted.
    OrganizationDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OrganizationCreated { .. } => "OrganizationCreated",
            Self::FacilitySettingsChanged { .. } => "FacilitySettingsChanged",
            Self::OrganizationRenamed { .. } => "OrganizationRenamed",
            Self::OrganizationDeleted { .. } => "OrganizationDeleted",
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
    #[serde(default)]
    parent: Option<Uuid>,
    #[serde(default)]
    settings: Option<FacilitySettings>,
    #[serde(default)]
    deleted: bool,
}

impl Organization {
    /// Its id, once created (and not deleted).
    pub fn id(&self) -> Option<Uuid> {
        self.id.filter(|_| !self.deleted)
    }
    /// What it is, once created (and not deleted).
    pub fn kind(&self) -> Option<OrganizationKind> {
        self.kind.filter(|_| !self.deleted)
    }
    /// Whether it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }
    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The collection it belongs to.
    pub fn parent(&self) -> Option<Uuid> {
        self.parent
    }
    /// A facility's settings.
    pub fn settings(&self) -> Option<FacilitySettings> {
        self.settings
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
                parent,
                settings,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let parent_ok = parent.is_some() == kind.parent_kind().is_some();
                let settings_ok = settings.is_some() == (kind == OrganizationKind::Facility);
                if !parent_ok || !settings_ok {
                    return Err(DomainError::InvalidOrganization);
                }
                let event = OrganizationEvent::OrganizationCreated {
                    organization_id,
                    kind,
                    name,
                    description,
                    parent,
                    settings,
                    at: services.now(),
                };
                sink.write(event, self).await;
            }
            OrganizationCommand::ChangeSettings { settings } => {
                if self.kind != Some(OrganizationKind::Facility) {
                    return Err(DomainError::OrganizationNotFound);
                }
                if self.settings != Some(settings) {
                    let event = OrganizationEvent::FacilitySettingsChanged {
                        settings,
                        at: services.now(),
                    };
                    sink.write(event, self).await;
                }
            }
            OrganizationCommand::Rename { name } => {
                self.require_placed()?;
                if self.name != name {
                    let event = OrganizationEvent::OrganizationRenamed {
                        name,
                        at: services.now(),
                    };
                    sink.write(event, self).await;
                }
            }
            OrganizationCommand::Delete => {
                self.require_placed()?;
                let event = OrganizationEvent::OrganizationDeleted { at: services.now() };
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
                parent,
                settings,
                ..
            } => {
                self.id = Some(organization_id);
                self.kind = Some(kind);
                self.name = name;
                self.parent = parent;
                self.settings = settings;
            }
            OrganizationEvent::FacilitySettingsChanged { settings, .. } => {
                self.settings = Some(settings);
            }
            OrganizationEvent::OrganizationRenamed { name, .. } => self.name = name,
            OrganizationEvent::OrganizationDeleted { .. } => self.deleted = true,
        }
    }
}

impl Organization {
    /// Only collections inside a facility (classrooms, learner groups) are
    /// renamed or deleted here, and only while they exist.
    fn require_placed(&self) -> Result<(), DomainError> {
        match self.kind() {
            Some(OrganizationKind::Classroom | OrganizationKind::LearnerGroup) => Ok(()),
            _ => Err(DomainError::OrganizationNotFound),
        }
    }
}

impl crate::CommandName for OrganizationCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
