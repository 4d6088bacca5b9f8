//! The read side of eventauth: the one reader of the global event stream,
//! the projector that folds events into read-model tables, and the queries
//! that read them.
//!
//! Nothing here decides whether a command is allowed; that is the write
//! side's job (`aggregates`). Everything here can be rebuilt from the log.

pub mod codec;
pub mod collections;
pub mod cursor;
pub mod db;
pub mod facility_users;
mod fold;
pub mod organizations;
pub mod policy_roles;
pub mod projector;
pub mod reader;
pub mod rebuild;
pub mod schema;
pub mod sessions;
pub mod users;
pub mod wake;

pub use codec::{Clear, Codec, Parts};
pub use cursor::Cursor;
pub use db::{Conn, Db};
pub use projector::{Projector, ProjectorConfig};
pub use reader::{Batch, GlobalReader, RecordedEvent};
pub use wake::Wake;
