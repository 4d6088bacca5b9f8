//! Operator tooling on the same binary: reading the log outside the
//! service's request path.

pub mod export;
pub mod history;
pub mod import;
pub mod rebuild;
pub mod seal_log;
pub mod synthetic;
