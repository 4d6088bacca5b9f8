//! The consumers of the global stream that live in the service (the
//! projector is in the `projections` crate): the security feed, which keeps
//! this instance's hot-path state (deny-list, throttle locks, caches) in
//! step with the log, and the relay, which publishes every event to NATS.
//! Each reads through the one global reader and keeps its own cursor.

pub mod effects;
pub mod feed;
pub mod relay;
