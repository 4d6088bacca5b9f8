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
}

impl Default for Actors {
    fn default() -> Self {
        Self {
            states: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(RECHECK)
                .build(),
            user_events: AtomicU64::new(0),
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
}

impl FeedListener for Actors {
    fn user_changed(&self, user_id: Uuid) {
        // Counted before the entry goes: a load that then finds the count
        // unchanged began after this event was fed.
        self.user_events.fetch_add(1, Ordering::SeqCst);
        self.states.invalidate(&user_id);
    }
}
