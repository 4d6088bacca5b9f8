//! Identifier claims: what makes emails and usernames unique.
//!
//! One aggregate per normalized identifier. Its aggregate id is a keyed hash
//! (HMAC with a server secret) of the identifier, computed outside this crate,
//! so no email ever appears in a stream id (stream ids cannot be erased).
//! Login uses the claim to find the user id without waiting for a
//! projection.
//!
//! Registration claims first and writes the user second (no transaction
//! spans two aggregates). If the process dies in between, the claim points
//! at a user whose stream is empty; such a claim may be taken over once it
//! is older than a staleness window, so the identifier is never blocked for
//! good and a registration still in flight is not overtaken.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, Services};

/// What kind of identifier is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IdentifierKind {
    /// A normalized email address.
    Email,
    /// A normalized username within one facility.
    Username {
        /// The facility the username is unique in.
        facility: Uuid,
    },
    /// An identity at an external identity provider (issuer and subject).
    External,
}

/// What the caller found out about a claim's owner before claiming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedOwner {
    /// The owner found.
    pub user_id: Uuid,
    /// Whether their user stream held a registration.
    pub registered: bool,
    /// Whether that registered owner no longer goes by the identifier
    /// (deleted, or renamed): then the claim is free to take at once.
    pub released: bool,
}

/// Commands on a claim.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum ClaimCommand {
    /// Claim the identifier for a user.
    Claim {
        /// The (pre-generated) user id the identifier will belong to.
        user_id: Uuid,
        /// What kind of identifier this is.
        kind: IdentifierKind,
        /// The owner the caller found when it looked the claim up, and
        /// whether that owner's user stream held a registration. A takeover
        /// is only allowed of exactly that owner: if the claim changed hands
        /// since (a concurrent registration), the check is stale and the
        /// identifier counts as taken.
        checked_owner: Option<CheckedOwner>,
        /// How old an orphaned claim must be before it may be taken over.
        stale_after: Duration,
    },
}

/// What happened to a claim. Version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClaimEvent {
    /// The identifier now belongs to `user_id`.
    IdentifierClaimed {
        /// The new owner.
        user_id: Uuid,
        /// What kind of identifier.
        kind: IdentifierKind,
        /// The orphaned claim this one took over, if any.
        previous_owner: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ClaimEvent {
    fn event_type(&self) -> String {
        match self {
            Self::IdentifierClaimed { .. } => "IdentifierClaimed".to_string(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// A claim's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdentifierClaim {
    owner: Option<Uuid>,
    claimed_at: Option<DateTime<Utc>>,
}

impl IdentifierClaim {
    /// The user the identifier belongs to (whose stream may still be empty).
    pub fn owner(&self) -> Option<Uuid> {
        self.owner
    }
}

impl Aggregate for IdentifierClaim {
    const TYPE: &'static str = "identifier_claim";
    type Command = ClaimCommand;
    type Event = ClaimEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: ClaimCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let now = services.now();
        match command {
            ClaimCommand::Claim {
                user_id,
                kind,
                checked_owner,
                stale_after,
            } => {
                let previous_owner = match (self.owner, self.claimed_at) {
                    (None, _) => None,
                    (Some(owner), _) if owner == user_id => return Ok(()),
                    (Some(owner), Some(at))
                        if checked_owner
                            == Some(CheckedOwner {
                                user_id: owner,
                                registered: false,
                                released: false,
                            })
                            && now - at >= stale_after =>
                    {
                        Some(owner)
                    }
                    // The owner's stream says they gave the identifier up
                    // (the user stream is the truth; the claim its index).
                    (Some(owner), _)
                        if checked_owner
                            == Some(CheckedOwner {
                                user_id: owner,
                                registered: true,
                                released: true,
                            }) =>
                    {
                        Some(owner)
                    }
                    (Some(_), _) => return Err(DomainError::IdentifierTaken),
                };
                let event = ClaimEvent::IdentifierClaimed {
                    user_id,
                    kind,
                    previous_owner,
                    at: now,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ClaimEvent) {
        match event {
            ClaimEvent::IdentifierClaimed { user_id, at, .. } => {
                self.owner = Some(user_id);
                self.claimed_at = Some(at);
            }
        }
    }
}

impl crate::CommandName for ClaimCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
