//! The use cases every surface shares. A surface parses its wire format into
//! the inputs here and renders the outputs; the rules live in the
//! aggregates, the orchestration (what to load, hash, write and wait for)
//! lives here.

pub mod accounts;
pub mod communities;
pub mod context;
pub mod recovery;
pub mod sessions;
pub mod users;

pub use context::RequestContext;
pub use users::UserView;
