//! The seam through which the read side gets clear values: every event the
//! [`GlobalReader`](crate::GlobalReader) delivers has been through a
//! [`Codec`], which opens the personal values the store sealed (the
//! service's vault: per-person keys). The read side never sees a key, and a
//! value whose key was destroyed arrives as `{"erased": true}`.

use crate::RecordedEvent;

/// Which parts of an event a reader needs opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The payload only (the projector, the feed, the relay: none of them
    /// reads metadata).
    Payload,
    /// Payload and metadata (exports and audits).
    All,
}

/// Opens sealed values in events read from the log, in place.
#[async_trait::async_trait]
pub trait Codec: Send + Sync + std::fmt::Debug {
    /// Opens `parts` of every event. A value that fails to open (tampered,
    /// or sealed under a key this instance cannot unwrap) is an error, never
    /// silently erased.
    async fn open(&self, events: &mut [RecordedEvent], parts: Parts) -> Result<(), sqlx::Error>;
}

/// A codec that leaves events as stored: for stores written without
/// encryption (tests of the read side alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clear;

#[async_trait::async_trait]
impl Codec for Clear {
    async fn open(&self, _: &mut [RecordedEvent], _: Parts) -> Result<(), sqlx::Error> {
        Ok(())
    }
}
