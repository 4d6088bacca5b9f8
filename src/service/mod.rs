//! The use cases every surface shares. A surface parses its wire format into
//! the typed inputs here and renders the outputs; the rules live in the
//! aggregates, permissions in [`crate::access`] (asked here, never by a
//! surface), the orchestration (what to load, hash, write and wait for)
//! here. Nothing here names a surface (`tests/layering.rs` checks it).

pub mod accounts;
pub mod admin;
pub mod anonymous_limits;
pub mod classrooms;
pub mod collections;
pub mod communities;
pub mod community_views;
pub mod context;
pub mod deleted_users;
pub mod erasure;
pub mod facilities;
pub mod facility_access;
pub mod facility_users;
pub mod installation;
pub mod member_accounts;
pub mod numbers;
pub mod personal_export;
pub mod placements;
pub mod policy_roles;
pub mod profile;
pub mod recovery;
pub mod role_users;
pub mod sessions;
pub mod single_sign_on;
pub mod users;

pub use context::RequestContext;
pub use users::UserView;
