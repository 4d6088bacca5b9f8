//! Recently used aggregates, kept in memory so that a command on one skips
//! its load: the command runs on the cached state and appends after the
//! cached sequence. Nothing here has to be fresh for commands to be right:
//! if another instance wrote in between, the append finds the sequence
//! taken (a conflict), the entry goes, and the retry loads the stream
//! (optimistic concurrency, as without the cache). Freshness only saves
//! retries: this instance's security feed, which tails the log, drops an
//! entry when it sees an event past the entry's sequence
//! ([`Aggregates::observed`]).
//!
//! Commands on one aggregate also queue here, in this instance, behind a
//! lock per aggregate (striped): they would only conflict with each other
//! in the store and retry; queued, each runs once on its predecessor's
//! state.

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use super::{Loaded, Stored};

/// Most aggregates kept.
const CAPACITY: u64 = 20_000;

/// How long an unused entry stays.
const IDLE: Duration = Duration::from_secs(300);

/// Locks the commands of different aggregates share (a collision only
/// queues two unrelated commands).
const STRIPES: usize = 1024;

type Key = (&'static str, String);

/// An aggregate's state and sequence, as its last command left it.
struct Entry {
    version: usize,
    loaded: Box<dyn Any + Send + Sync>,
}

/// This instance's recently used aggregates.
pub(super) struct Aggregates {
    entries: moka::sync::Cache<Key, Arc<Entry>>,
    locks: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Aggregates {
    fn default() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
            locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl Aggregates {
    /// The cached state of `A` `id`, if any.
    pub(super) fn get<A: Stored>(&self, id: &str) -> Option<Loaded<A>> {
        let entry = self.entries.get(&(A::TYPE, id.to_string()))?;
        entry.loaded.downcast_ref::<Loaded<A>>().cloned()
    }

    /// Keeps `loaded` as the state of `A` `id`.
    pub(super) fn put<A: Stored>(&self, id: &str, loaded: Loaded<A>) {
        let entry = Entry {
            version: loaded.version,
            loaded: Box::new(loaded),
        };
        self.entries
            .insert((A::TYPE, id.to_string()), Arc::new(entry));
    }

    /// Forgets `A` `id` (its cached state lost a race).
    pub(super) fn forget<A: Stored>(&self, id: &str) {
        self.entries.invalidate(&(A::TYPE, id.to_string()));
    }

    /// The lock the commands on `A` `id` queue behind.
    pub(super) fn lock<A: Stored>(&self, id: &str) -> &tokio::sync::Mutex<()> {
        &self.locks[(self.hasher.hash_one((A::TYPE, id)) as usize) % STRIPES]
    }
}

impl std::fmt::Debug for Aggregates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregates")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl crate::consumers::feed::FeedListener for Aggregates {
    /// The log holds event `sequence` of `aggregate_type` `id`: a cached
    /// state older than it is stale.
    fn appended(&self, aggregate_type: &str, id: &str, sequence: i64) {
        let Some(aggregate_type) = super::STORED_TYPES
            .iter()
            .find(|known| **known == aggregate_type)
        else {
            return;
        };
        let key = (*aggregate_type, id.to_string());
        if let Some(entry) = self.entries.get(&key) {
            if (entry.version as i64) < sequence {
                self.entries.invalidate(&key);
            }
        }
    }
}
