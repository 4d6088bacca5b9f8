//! A Kolibri facility's users: their registration by username (with or
//! without a password), Kolibri's demographic fields, roles held for
//! collections, classroom and learner-group membership, and account edits.
//!
//! Kept apart from the email accounts' rules because they follow Kolibri's
//! model (which the Kolibri surface reproduces), not the ILD one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Decision, User, UserEvent};
use crate::collection_roles::{CollectionRole, FacilityUserChanges, RoleKind};
use crate::{DomainError, PasswordHash, Personal};

/// Kolibri's demographic fields of a facility user, as Kolibri stores them:
/// `gender` is `MALE`, `FEMALE`, `NOT_SPECIFIED` or `DEFERRED`; `birth_year`
/// a year, `NOT_SPECIFIED` or `DEFERRED` (checked at the edge).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Demographics {
    /// Gender code.
    #[serde(default)]
    pub gender: Option<String>,
    /// Birth year or code.
    #[serde(default)]
    pub birth_year: Option<String>,
    /// An identification number (personal).
    #[serde(default)]
    pub id_number: Option<Personal<String>>,
}

impl User {
    // The command's six fields as they come, plus the instant: bundling
    // them would only rebuild the command.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_register_in_facility(
        &self,
        user_id: Uuid,
        facility: Uuid,
        username: Personal<String>,
        full_name: Personal<String>,
        password_hash: Option<PasswordHash>,
        demographics: Demographics,
        now: DateTime<Utc>,
    ) -> Decision {
        if self.is_registered() {
            return Err(DomainError::AlreadyRegistered);
        }
        Ok(Some(UserEvent::FacilityUserRegistered {
            user_id,
            facility,
            username,
            full_name,
            password_hash,
            demographics,
            registered_at: now,
        }))
    }

    pub(super) fn handle_assign_collection_role(
        &self,
        role_id: Uuid,
        collection: Uuid,
        kind: RoleKind,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let held = self
            .collection_roles
            .iter()
            .any(|r| r.collection == collection && r.kind == kind);
        if held {
            return Ok(None);
        }
        let role = CollectionRole {
            id: role_id,
            collection,
            kind,
        };
        Ok(Some(UserEvent::CollectionRoleAssigned { role, at: now }))
    }

    /// The event names the role held (with its own id), not the one asked
    /// for, so the fold removes exactly that role.
    pub(super) fn handle_remove_collection_role(
        &self,
        collection: Uuid,
        kind: RoleKind,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let held = self
            .collection_roles
            .iter()
            .find(|r| r.collection == collection && r.kind == kind)
            .copied();
        Ok(held.map(|role| UserEvent::CollectionRoleRemoved { role, at: now }))
    }

    pub(super) fn handle_join_collection(&self, collection: Uuid, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if self.collections.contains(&collection) {
            return Ok(None);
        }
        Ok(Some(UserEvent::CollectionJoined {
            collection,
            at: now,
        }))
    }

    pub(super) fn handle_leave_collection(&self, collection: Uuid, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if !self.collections.contains(&collection) {
            return Ok(None);
        }
        Ok(Some(UserEvent::CollectionLeft {
            collection,
            at: now,
        }))
    }

    /// Only a facility user has these fields: for an email account the
    /// command is refused as if the user did not exist.
    pub(super) fn handle_update_facility_user(
        &self,
        changes: FacilityUserChanges,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if self.facility.is_none() {
            return Err(DomainError::UserNotFound);
        }
        let changes = self.facility_user_diff(changes);
        if changes.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserEvent::FacilityUserUpdated {
            changes: Box::new(changes),
            at: now,
        }))
    }

    /// Keeps only the changes that differ from the current values.
    fn facility_user_diff(&self, changes: FacilityUserChanges) -> FacilityUserChanges {
        let demographics = &self.demographics;
        FacilityUserChanges {
            username: changes.username.filter(|u| u != &self.username),
            full_name: changes.full_name.filter(|n| n != &self.full_name),
            gender: changes
                .gender
                .filter(|g| demographics.gender.as_ref() != Some(g)),
            birth_year: changes
                .birth_year
                .filter(|b| demographics.birth_year.as_ref() != Some(b)),
            id_number: changes
                .id_number
                .filter(|n| demographics.id_number.as_ref() != Some(n)),
        }
    }
}
