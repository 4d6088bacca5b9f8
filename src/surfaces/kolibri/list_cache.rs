//! Facility-user lists answered from memory: the same list for the same
//! scope, unchanged since it was read, costs no query.
//!
//! An answer is kept with the read-model position it was read at and
//! served only while the read models it came from had applied every user
//! event the security feed has seen ([`FeedListener::users_changed_until`]).
//! At most `EVENTAUTH_LIST_CACHE` answers are kept, the least used going
//! first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use projections::Cursor;

use crate::consumers::feed::FeedListener;

/// This instance's list answers.
#[derive(Debug)]
pub struct ListCache {
    answers: Mutex<moka::sync::Cache<String, (Cursor, bytes::Bytes)>>,
    /// The end of the last fed batch that held a user event: an answer
    /// read before the read models passed it may be stale.
    users_changed: Mutex<Cursor>,
    capacity: AtomicUsize,
}

fn cache(capacity: usize) -> moka::sync::Cache<String, (Cursor, bytes::Bytes)> {
    moka::sync::Cache::new(capacity as u64)
}

impl ListCache {
    /// A cache of at most `capacity` answers (0: none).
    pub fn new(capacity: usize) -> Self {
        Self {
            answers: Mutex::new(cache(capacity)),
            users_changed: Mutex::new(Cursor::START),
            capacity: AtomicUsize::new(capacity),
        }
    }

    /// How many answers to keep (0: none, and forget those kept).
    pub fn set_answer_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::SeqCst);
        if let Ok(mut answers) = self.answers.lock() {
            *answers = cache(capacity);
        }
    }

    /// A kept answer, if the read models it was read from had applied
    /// every user event fed so far.
    pub fn answer(&self, key: &str) -> Option<bytes::Bytes> {
        let until = *self.users_changed.lock().ok()?;
        let (read_at, body) = self.answers.lock().ok()?.get(key)?;
        (read_at >= until).then_some(body)
    }

    /// Keeps an answer read from the read models at `read_at`.
    pub fn keep_answer(&self, key: String, read_at: Cursor, body: bytes::Bytes) {
        if self.capacity.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Ok(answers) = self.answers.lock() {
            answers.insert(key, (read_at, body));
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
