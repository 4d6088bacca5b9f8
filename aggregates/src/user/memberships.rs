//! Which groups a user belongs to and which global roles they hold:
//! communities joined and role slugs granted by an administrator. Joining,
//! granting or revoking twice records nothing, so a retried request is
//! harmless.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{is_slug, Decision, User, UserEvent};
use crate::DomainError;

impl User {
    pub(super) fn handle_grant_role(&self, role: String, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if !is_slug(&role) {
            return Err(DomainError::InvalidRole);
        }
        if self.roles.contains(&role) {
            return Ok(None);
        }
        Ok(Some(UserEvent::RoleGranted { role, at: now }))
    }

    /// A role not held is not checked for its form: there is nothing to
    /// revoke either way.
    pub(super) fn handle_revoke_role(&self, role: String, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if !self.roles.contains(&role) {
            return Ok(None);
        }
        Ok(Some(UserEvent::RoleRevoked { role, at: now }))
    }

    pub(super) fn handle_join_community(&self, community_id: Uuid, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if self.communities.contains(&community_id) {
            return Ok(None);
        }
        Ok(Some(UserEvent::CommunityJoined {
            community_id,
            at: now,
        }))
    }
}
