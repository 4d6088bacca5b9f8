//! Facility-user lists answered from memory: the same list for the same
//! scope, unchanged since it was read, costs no query.
//!
//! An answer is kept with the read-model position it was read at and
//! served only while the read models it came from had applied every user
//! event the security feed has seen ([`FeedListener::users_changed_until`]).
//! At most `EVENTAUTH_LIST_CACHE` answers are kept, the least used going
//! first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use projections::Cursor;

use crate::consumers::feed::FeedListener;

/// This instance's list answers.
#[derive(Debug)]
pub struct ListCache {
    answers: moka::sync::Cache<String, (Cursor, bytes::Bytes)>,
    /// The end of the last fed batch that held a user event: an answer
    /// read before the read models passed it may be stale.
    users_changed: Mutex<Cursor>,
    /// Whether answers are kept (benchmarks measure without).
    enabled: AtomicBool,
}

impl ListCache {
    /// A cache of at most `capacity` answers (0: none).
    pub fn new(capacity: usize) -> Self {
        Self {
            answers: moka::sync::Cache::new(capacity as u64),
            users_changed: Mutex::new(Cursor::START),
            enabled: AtomicBool::new(capacity > 0),
        }
    }

    /// Keeps answers (up to the configured capacity) or, with 0, none and
    /// forgets those kept.
    pub fn set_answer_capacity(&self, capacity: usize) {
        self.enabled.store(capacity > 0, Ordering::SeqCst);
        if capacity == 0 {
            self.answers.invalidate_all();
        }
    }

    /// A kept answer, if the read models it was read from had applied
    /// every user event fed so far.
    pub fn answer(&self, key: &str) -> Option<bytes::Bytes> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let until = *self.users_changed.lock().ok()?;
        let (read_at, body) = self.answers.get(key)?;
        (read_at >= until).then_some(body)
    }

    /// Keeps an answer read from the read models at `read_at`.
    pub fn keep_answer(&self, key: String, read_at: Cursor, body: bytes::Bytes) {
        if self.enabled.load(Ordering::SeqCst) {
            self.answers.insert(key, (read_at, body));
        }
    }
}

impl FeedListener for ListCache {
    fn users_changed_until(&self, cursor: Cursor) {
        if let Ok(mut until) = self.users_changed.lock() {
            if cursor > *until {
                *until = cursor;
            }
        }
    }
}
