//! What events do to this instance's in-memory state: ended sessions and
//! user cutoffs into the [`DenyList`], identifier locks into the
//! [`Throttle`], and word to the caches registered as [`FeedListener`]s.
//!
//! Two paths lead here and do the same: the security feed, with every
//! instance's events as it tails the log, and this instance's own commits,
//! applied as each commits (`app::on_commit`, the store's commit hook) — so a logout, a role
//! change or a lock takes effect here at once, without waiting for the
//! feed to read it back. Every effect is idempotent: the feed later
//! applying an event already applied changes nothing.

use std::sync::Arc;

use aggregates::login_failures::identifier_key;
use aggregates::{
    LoginFailures, LoginFailuresEvent, Organization, PolicyRole, Session, SessionEvent, User,
    UserEvent,
};
use cqrs_es::Aggregate;
use projections::Cursor;
use uuid::Uuid;

use super::feed::FeedListener;
use crate::auth::denylist::DenyList;
use crate::auth::throttle::Throttle;
use crate::vault::Vault;

/// Event types the feed folds.
pub const TYPES: &[&str] = &[
    "SessionEnded",
    "AccountSelected",
    "PasswordChanged",
    "PasswordReset",
    "UserDisabled",
    "SessionsRevoked",
    "LoginLockedOut",
    // What cached caller states and facility-user lists depend on.
    "UserDeleted",
    "UserRestored",
    "UserPurged",
    "UserErased",
    "UserEnabled",
    "RoleGranted",
    "RoleRevoked",
    "FacilityUserRegistered",
    "FacilityUserUpdated",
    "CollectionRoleAssigned",
    "CollectionRoleRemoved",
    "CollectionJoined",
    "CollectionLeft",
    "AccountJoined",
    "AccountLeft",
    "NumberAssigned",
    "IdentityLinked",
    // What cached community views depend on (their member counts).
    "CommunityJoined",
    // What cached account titles and community views depend on.
    "OrganizationCreated",
    "OrganizationRenamed",
    "OrganizationDeleted",
    // What the book of defined roles depends on.
    "PolicyRoleCreated",
    "PolicyRoleUpdated",
    "PolicyRoleDeleted",
];

/// One event as the effects read it: where it belongs and its payload as
/// JSON text, personal values open.
#[derive(Debug, Clone, Copy)]
pub struct Fed<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub payload: &'a str,
}

impl Fed<'_> {
    fn decode<E: serde::de::DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_str(self.payload)
    }

    /// Whether it changes an organization or who belongs to one.
    fn changes_organizations(&self) -> bool {
        self.aggregate_type == Organization::TYPE
            || matches!(
                self.event_type,
                "CommunityJoined" | "UserPurged" | "UserErased"
            )
    }
}

/// The in-memory state events change, and who hears of them.
#[derive(Debug)]
pub struct Effects {
    denylist: Arc<DenyList>,
    throttle: Arc<Throttle>,
    listeners: Vec<Arc<dyn FeedListener>>,
    /// Opens the events the feed reads; told when a user is erased
    /// elsewhere.
    pub(super) vault: Arc<Vault>,
}

impl Effects {
    /// Effects into `denylist`, `throttle` and `listeners`.
    pub fn new(
        denylist: Arc<DenyList>,
        throttle: Arc<Throttle>,
        listeners: Vec<Arc<dyn FeedListener>>,
        vault: Arc<Vault>,
    ) -> Self {
        Self {
            denylist,
            throttle,
            listeners,
            vault,
        }
    }

    /// Applies `events` (of those in [`TYPES`]; others are passed over),
    /// which end at `until` in the global order.
    pub fn apply<'a>(&self, events: impl IntoIterator<Item = Fed<'a>>, until: Cursor) {
        let events: Vec<Fed<'a>> = events
            .into_iter()
            .filter(|event| TYPES.contains(&event.event_type))
            .collect();
        // Announced before the views go: a read that starts between the
        // two then already waits for the read models to pass these events.
        if events.iter().any(Fed::changes_organizations) {
            for listener in &self.listeners {
                listener.organizations_changed_until(until);
            }
        }
        let mut users_changed = false;
        let mut policies_changed = false;
        for event in events {
            for listener in &self.listeners {
                listener.appended(event.aggregate_type, event.aggregate_id, event.sequence);
            }
            match event.aggregate_type {
                Session::TYPE => match (event.aggregate_id.parse::<Uuid>(), event.decode()) {
                    (Ok(id), Ok(SessionEvent::SessionEnded { at, .. })) => {
                        self.denylist.end_session(id, at);
                    }
                    (Ok(id), Ok(SessionEvent::AccountSelected { .. })) => {
                        for listener in &self.listeners {
                            listener.session_changed(id);
                        }
                    }
                    _ => {}
                },
                User::TYPE => {
                    let id = event.aggregate_id.parse::<Uuid>();
                    if let Ok(id) = id {
                        // Roles, deletion, anything: what is cached of
                        // this user is stale now.
                        for listener in &self.listeners {
                            listener.user_changed(id);
                        }
                    }
                    users_changed = true;
                    if let (Ok(id), "UserErased") = (&id, event.event_type) {
                        // Erased on another instance: the key this one
                        // may hold in memory must go too.
                        self.vault.forget(&crate::vault::user(*id));
                    }
                    let decoded = event.decode::<UserEvent>().ok();
                    let cutoff = decoded.as_ref().and_then(UserEvent::cutoff);
                    if let (Ok(id), Some(cutoff)) = (id, cutoff) {
                        self.denylist.set_cutoff(id, cutoff);
                    }
                    let members_changed = match (event.event_type, decoded) {
                        (_, Some(UserEvent::CommunityJoined { community_id, .. })) => {
                            Some(Some(community_id))
                        }
                        // Every membership of theirs went: which is not said.
                        ("UserPurged" | "UserErased", _) => Some(None),
                        _ => None,
                    };
                    if let Some(organization) = members_changed {
                        for listener in &self.listeners {
                            listener.members_changed(organization);
                        }
                    }
                }
                LoginFailures::TYPE => {
                    if let Ok(LoginFailuresEvent::LoginLockedOut { until, .. }) = event.decode() {
                        self.throttle
                            .lock_identifier(identifier_key(event.aggregate_id), until);
                    }
                }
                PolicyRole::TYPE => policies_changed = true,
                Organization::TYPE => {
                    if let Ok(id) = event.aggregate_id.parse::<Uuid>() {
                        for listener in &self.listeners {
                            listener.organization_changed(id);
                        }
                    }
                }
                _ => {}
            }
        }
        if policies_changed {
            for listener in &self.listeners {
                listener.policies_changed_until(until);
            }
        }
        if users_changed {
            // Cached lists are stale until the read models pass this batch.
            for listener in &self.listeners {
                listener.users_changed_until(until);
            }
        }
    }
}
