//! Rebuilding the read models from the log, beside the live ones, while the
//! service runs: `eventauth replay` (build, then swap in), `eventauth
//! verify` (build, then compare), and the rebuild a start runs when the
//! read-model [`VERSION`](crate::schema::VERSION) changed.
//!
//! The rebuild happens in a scratch space made from the same DDL and
//! written by the same [`apply`](crate::projector::apply) as the live
//! tables: on PostgreSQL a schema of its own, first on the connection's
//! search path (the projection's SQL names its tables unqualified); on
//! SQLite temporary tables, which shadow the main ones on that connection.
//! Comparing in the same engine compares the same types: no false
//! differences from conversions, and no million rows in process memory.
//!
//! The swap (PostgreSQL), in one transaction: take the projector's lock
//! (the live projector finishes its batch and stands by), catch up to the
//! head of the log, move the live tables out and the rebuilt ones in
//! (`ALTER TABLE … SET SCHEMA`: indexes and constraints keep their names),
//! and set the projector's checkpoint to where the rebuild stands. The live
//! projector then continues from there on the new tables. SQLite, one
//! instance: the same under `BEGIN IMMEDIATE`, copying the rows in.
//!
//! Its files: `scratch` (the space a rebuild happens in), `build` (applying
//! the log to it, batch by batch), `swap` (putting it in place of the live
//! tables) and `verify` (comparing it with them).

mod build;
mod scratch;
mod swap;
mod verify;

use crate::Cursor;

pub use scratch::Scratch;
pub use swap::ensure_version;
pub use verify::{TableDiff, Verified};

/// How far a build has come (for progress bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events applied so far.
    pub applied: u64,
    /// Where the build stands in the global order.
    pub cursor: Cursor,
}
