//! Credentials: password hashing, token issuing and checking, identifier
//! keys, login throttling and the deny-list of ended sessions (fed by
//! [`crate::consumers::feed`]).

pub mod denylist;
pub mod identifiers;
pub mod keys;
pub mod legacy;
pub mod password;
pub mod throttle;
pub mod tokens;
