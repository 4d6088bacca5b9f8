//! Credentials: password hashing, token issuing and checking, identifier
//! keys, login throttling and the deny-list of ended sessions.

pub mod denylist;
pub mod feed;
pub mod identifiers;
pub mod keys;
pub mod legacy;
pub mod password;
pub mod throttle;
pub mod tokens;
