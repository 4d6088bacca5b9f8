//! What ties a user to the world outside this service: the integer number
//! some clients know them by (assigned once from [`crate::Numbering`],
//! never changed, never reused), and the external identities (an identity
//! provider's issuer and subject) that sign them in. Assigning a number
//! twice or linking a linked identity again records nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Decision, User, UserEvent};
use crate::{DomainError, Personal};

/// An identity at an external identity provider that signs this user in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// The provider's entity id (not personal: it names the provider).
    pub issuer: String,
    /// The provider's name for the user (personal: often an email).
    pub subject: Personal<String>,
}

impl ExternalIdentity {
    /// The normalized form identifier claims compare (`issuer` and the
    /// subject, newline-separated: neither holds a newline).
    pub fn normalized(issuer: &str, subject: &str) -> String {
        format!("{issuer}\n{subject}")
    }
}

impl User {
    /// The user's number, once assigned.
    pub fn number(&self) -> Option<u64> {
        self.number
    }

    /// The external identities linked to the user.
    pub fn identities(&self) -> &[ExternalIdentity] {
        &self.identities
    }

    pub(super) fn handle_assign_number(&self, number: u64, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if self.number.is_some() {
            return Ok(None);
        }
        Ok(Some(UserEvent::NumberAssigned { number, at: now }))
    }

    pub(super) fn handle_link_identity(
        &self,
        issuer: String,
        subject: Personal<String>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if issuer.is_empty() || subject.expose().is_empty() {
            return Err(DomainError::InvalidIdentity);
        }
        let linked = self
            .identities
            .iter()
            .any(|i| i.issuer == issuer && i.subject.expose() == subject.expose());
        if linked {
            return Ok(None);
        }
        Ok(Some(UserEvent::IdentityLinked {
            identity: ExternalIdentity { issuer, subject },
            at: now,
        }))
    }
}
