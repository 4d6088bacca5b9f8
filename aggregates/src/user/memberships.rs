//! Which groups a user belongs to and which global roles they hold:
//! communities joined and role slugs granted by an administrator. Joining,
//! granting or revoking twice records nothing, so a retried request is
//! harmless.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use serde::{Deserialize, Serialize};

use super::{is_slug, Decision, User, UserEvent};
use crate::DomainError;

/// A user's membership of an account, with the roles held there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMembership {
    /// The account.
    pub account: Uuid,
    /// Role slugs held in it.
    pub roles: Vec<String>,
}

impl User {
    /// The accounts the user is a member of, in the order joined.
    pub fn accounts(&self) -> &[AccountMembership] {
        &self.accounts
    }

    pub(super) fn handle_join_account(
        &self,
        account: Uuid,
        mut roles: Vec<String>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if !roles.iter().all(|role| is_slug(role)) {
            return Err(DomainError::InvalidRole);
        }
        roles.sort();
        roles.dedup();
        let current = self.accounts.iter().find(|m| m.account == account);
        if current.is_some_and(|m| m.roles == roles) {
            return Ok(None);
        }
        Ok(Some(UserEvent::AccountJoined {
            account,
            roles,
            at: now,
        }))
    }

    pub(super) fn handle_leave_account(&self, account: Uuid, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if !self.accounts.iter().any(|m| m.account == account) {
            return Ok(None);
        }
        Ok(Some(UserEvent::AccountLeft { account, at: now }))
    }

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
