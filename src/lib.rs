//! eventauth: an authentication and user service whose source of truth is an
//! append-only event log.
//!
//! Data flows one way: HTTP request → command → aggregate (`aggregates`) →
//! events → event store ([`store`]) → projector → read models
//! (`projections`). Queries read read models only; nothing reads a read
//! model to decide whether a command is allowed.
//!
//! Module map:
//! - [`config`]: typed settings from flags and environment.
//! - [`startup`]: [`startup::Application`], used by `main` and tests alike.
//! - [`store`]: the event-store seam and command execution with retries.
//! - [`auth`]: passwords, tokens, identifier keys, throttling, deny-list.
//! - [`access`]: who may do what — actors, grants, the one `authorize`.
//! - [`service`]: the use cases every surface shares (register, login, …).
//! - [`consumers`]: the security feed and the NATS relay (log consumers).
//! - [`http`]: the shared HTTP edge (router, extractors, cookies).
//! - [`surfaces`]: the five APIs served, one folder each, translation only.

pub mod access;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod consumers;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod images;
pub mod input;
pub mod mail;
pub mod observe;
pub mod ops;
pub mod saml;
pub mod service;
pub mod startup;
pub mod store;
pub mod surfaces;
pub mod telemetry;
pub mod vault;

pub use app::App;
pub use config::Config;
pub use error::Error;
