//! A position in the global stream.

use serde::{Deserialize, Serialize};

/// Where a reader of the global stream stands: `(transaction id, global
/// position)` of the last event it has seen, compared as a pair.
///
/// `global_position` alone is not monotonic in delivery order (a transaction
/// that commits late has a smaller position than events already delivered),
/// so it is never handed out as a cursor on its own.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    /// Writing transaction id (PostgreSQL `xid8`).
    pub tx: i64,
    /// Global position within the store.
    pub pos: i64,
}

impl Cursor {
    /// The start of the stream.
    pub const START: Self = Self { tx: 0, pos: 0 };

    /// "Everything written by transactions older than `tx` has been seen."
    pub fn before_transaction(tx: i64) -> Self {
        Self { tx, pos: 0 }
    }

    /// A SQLite position (commit order; no transaction ids needed).
    pub fn sqlite(pos: i64) -> Self {
        Self { tx: 0, pos }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tx, self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_transaction_then_position() {
        let early_tx_late_pos = Cursor { tx: 10, pos: 99 };
        let late_tx_early_pos = Cursor { tx: 11, pos: 5 };
        assert!(early_tx_late_pos < late_tx_early_pos);
        assert!(Cursor::before_transaction(11) > early_tx_late_pos);
        assert!(Cursor::before_transaction(11) < late_tx_early_pos);
    }
}
