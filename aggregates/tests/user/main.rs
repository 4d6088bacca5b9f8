//! Given/when/then tests of the User aggregate: every command, every refusal.
//!
//! One test binary, one file per concern of `aggregates::user` (as in
//! `tests/api`): a single link for all of them, and `cargo test --test user`
//! still runs every User test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod credentials;
mod events;
mod facility;
mod links;
mod memberships;
mod profile;
mod subscription;
mod tokens;
