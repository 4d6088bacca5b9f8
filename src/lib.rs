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
//! - [`service`]: the use cases every surface shares (register, login, …).
//! - [`http`]: the surfaces; each only translates its wire format.

pub mod app;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod images;
pub mod input;
pub mod mail;
pub mod observe;
pub mod ops;
pub mod relay;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use config::Config;
pub use error::Error;
