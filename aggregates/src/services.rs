//! The impure things an aggregate may use, injected so that aggregate tests
//! are plain unit tests with a fixed clock.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always answers the same instant (for tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Everything impure an aggregate's `handle` may call.
#[derive(Clone)]
pub struct Services {
    clock: Arc<dyn Clock>,
}

impl Services {
    /// Services backed by the given clock.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    /// Services on the wall clock.
    pub fn system() -> Self {
        Self::new(Arc::new(SystemClock))
    }

    /// Services frozen at one instant (for tests).
    pub fn fixed(now: DateTime<Utc>) -> Self {
        Self::new(Arc::new(FixedClock(now)))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}
