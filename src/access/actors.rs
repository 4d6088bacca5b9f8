//! Live caller states, cached: what [`super::Actor`]s are built from on
//! every signed-in request without a round trip to the store.
//!
//! A cached state is dropped when this instance's security feed sees any
//! event of that user (a role change takes effect as fast as a logout),
//! and is trusted at most [`RECHECK`] in any case. A state loaded while
//! any user event was being fed is not kept, so a load racing an event
//! never outlives it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aggregates::User;
use uuid::Uuid;

use super::defined_roles::DefinedRoles;
use super::policies::{self, Statement};
use super::{Grant, Scope, ADMINISTRATOR};
use crate::consumers::feed::FeedListener;
use crate::store::Loaded;
use crate::{App, Error};

/// How long a cached state is trusted before it is loaded again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// Most states kept.
const CAPACITY: u64 = 100_000;

/// This instance's cache of caller states.
#[derive(Debug)]
pub struct Actors {
    states: moka::sync::Cache<Uuid, Arc<Loaded<User>>>,
    /// Counts user events fed: a load that saw it move may be stale.
    user_events: AtomicU64,
    /// The statements of the roles administrators defined.
    defined: DefinedRoles,
}

impl Default for Actors {
    fn default() -> Self {
        Self {
            states: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(RECHECK)
                .build(),
            user_events: AtomicU64::new(0),
            defined: DefinedRoles::default(),
        }
    }
}

impl Actors {
    /// The current state of `user_id`: cached, else loaded from their
    /// stream.
    pub async fn state(&self, app: &App, user_id: Uuid) -> Result<Arc<Loaded<User>>, Error> {
        if let Some(user) = self.states.get(&user_id) {
            return Ok(user);
        }
        let before = self.user_events.load(Ordering::SeqCst);
        let user = Arc::new(app.store.load::<User>(&user_id.to_string()).await?);
        self.states.insert(user_id, user.clone());
        // Inserted first, checked after: an event fed between the load and
        // the insert moved the count, and the entry goes again.
        if self.user_events.load(Ordering::SeqCst) != before {
            self.states.invalidate(&user_id);
        }
        Ok(user)
    }

    /// The policy statements of the roles in `grants` held everywhere:
    /// the administrator's (Super Admin's), the predefined roles' (from
    /// code) and the defined ones' (from the book, read only for an actor
    /// holding a global role that is neither).
    pub async fn policies(&self, app: &App, grants: &[Grant]) -> Result<Vec<Statement>, Error> {
        let mut statements = Vec::new();
        let mut book = None;
        for grant in grants.iter().filter(|g| g.scope == Scope::Everywhere) {
            let slug = if grant.role == ADMINISTRATOR {
                policies::SUPER_ADMIN
            } else {
                grant.role.as_str()
            };
            if let Some(predefined) = policies::predefined_statements(slug) {
                statements.extend(predefined.iter().cloned());
                continue;
            }
            if book.is_none() {
                book = Some(self.defined.book(app).await?);
            }
            if let Some(defined) = book.as_ref().and_then(|b| b.get(slug)) {
                statements.extend(defined.iter().cloned());
            }
        }
        Ok(statements)
    }
}

impl FeedListener for Actors {
    fn policies_changed_until(&self, cursor: projections::Cursor) {
        self.defined.policies_changed_until(cursor);
    }

    fn user_changed(&self, user_id: Uuid) {
        // Counted before the entry goes: a load that then finds the count
        // unchanged began after this event was fed.
        self.user_events.fetch_add(1, Ordering::SeqCst);
        self.states.invalidate(&user_id);
    }
}
