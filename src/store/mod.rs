//! The event store: one seam over the backends, and command execution.
//!
//! The tables are the cqrs-es repositories' (postgres-es, sqlite-es) plus
//! what the design adds; the reads and writes are this module's own, each
//! one statement: the appends seal personal values and return the commit's
//! place in the global order, which the repositories' `persist` could do
//! neither of (SQLite's took four round trips to the single writer).
//!
//! Commands run through [`Store::execute`]: load the aggregate, `handle`,
//! commit, and on a concurrency conflict reload and retry a bounded number
//! of times. Only the framework's event-store mode is used (its snapshot
//! and aggregate-store modes apply events twice when writing snapshots in
//! cqrs-es 0.5): loading is this module's own, from a snapshot of the
//! aggregate (`aggregate_snapshots`, written every [`SNAPSHOT_EVERY`]
//! events) and the events after it, in one query.
//!
//! Its files, one part each: `load` (a stream with its snapshot),
//! `snapshot` (their format, and saving one), `append` (where a commit
//! lands), `execute` (commands, retried on conflicts), `connect` (opening
//! the backend and migrating it) and `metadata` (what every event records
//! about its request).

mod append;
mod cache;
mod connect;
mod execute;
mod load;
mod metadata;
mod snapshot;

use std::collections::HashMap;

use aggregates::{
    DomainError, IdentifierClaim, Installation, LoginFailures, Numbering, OneTime, Organization,
    PolicyRole, Services, Session, User,
};
use cqrs_es::{Aggregate, AggregateError};
use projections::Db;

use crate::Error;

pub use append::Written;
pub use connect::{connect, migrate, prepare};
pub use execute::Committed;
pub use load::Loaded;
pub use metadata::{actor_subject, Metadata, PERSONAL_METADATA};
pub use snapshot::{snapshot_format, SNAPSHOT_EVERY};

/// An aggregate this store keeps, with its event store.
pub trait Stored:
    Aggregate<
        Services = Services,
        Error = DomainError,
        Command: std::fmt::Debug + aggregates::CommandName,
    > + Clone
    + 'static
{
    /// Whose personal data stream `id` holds (the vault seals it with that
    /// subject's key): none for streams that hold no personal data.
    fn data_subject(_id: &str, _state: &Self) -> Option<String> {
        None
    }
}

macro_rules! stored {
    ($aggregate:ty) => {
        impl Stored for $aggregate {}
    };
    ($aggregate:ty, $subject:expr) => {
        impl Stored for $aggregate {
            fn data_subject(id: &str, state: &Self) -> Option<String> {
                let subject: fn(&str, &Self) -> Option<String> = $subject;
                subject(id, state)
            }
        }
    };
}
/// The streams that hold personal data (those with a data subject): the
/// vault seals their payloads and opens only theirs, so a free-form JSON
/// value elsewhere (a policy's conditions) that looks like a sealed or a
/// clear personal value is never taken for one. Any other stream must hold
/// no `Personal` value.
pub const PERSONAL_STREAMS: [&str; 4] = [
    User::TYPE,
    Session::TYPE,
    IdentifierClaim::TYPE,
    LoginFailures::TYPE,
];

// A user's stream and their sessions are theirs; a claim and the failed
// logins recorded against an identifier belong to the identifier (its key
// is destroyed with the user who holds it).
stored!(User, |id, _| Some(crate::vault::user_subject_of(id)));
stored!(Session, |_, state| state.user_id().map(crate::vault::user));
stored!(IdentifierClaim, |id, _| Some(crate::vault::identifier(id)));
stored!(LoginFailures, |id, _| {
    Some(crate::vault::identifier(id.split(':').next().unwrap_or(id)))
});
stored!(Organization);
stored!(Installation);
stored!(PolicyRole);
stored!(Numbering);
stored!(OneTime);

/// Every aggregate type the store keeps.
const STORED_TYPES: [&str; 9] = [
    User::TYPE,
    Session::TYPE,
    IdentifierClaim::TYPE,
    LoginFailures::TYPE,
    Organization::TYPE,
    Installation::TYPE,
    PolicyRole::TYPE,
    Numbering::TYPE,
    OneTime::TYPE,
];

/// Told of every commit of this instance before its command returns.
pub type OnCommit = std::sync::Arc<dyn Fn(&Written) + Send + Sync>;

/// The event store of one instance.
pub struct Store {
    /// What runs after each commit (the instance's in-memory effects).
    on_commit: std::sync::OnceLock<OnCommit>,
    /// Recently used aggregates: commands on them skip the load.
    cache: std::sync::Arc<cache::Aggregates>,
    db: Db,
    services: Services,
    vault: std::sync::Arc<crate::vault::Vault>,
    /// Each aggregate's [`snapshot_format`], computed once (it serializes
    /// and hashes a state: not work for every command).
    formats: HashMap<&'static str, String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A store on `db`.
    pub fn new(db: Db, services: Services, vault: std::sync::Arc<crate::vault::Vault>) -> Self {
        Self {
            on_commit: std::sync::OnceLock::new(),
            cache: Default::default(),
            db,
            services,
            vault,
            formats: HashMap::from([
                (User::TYPE, snapshot_format::<User>()),
                (Session::TYPE, snapshot_format::<Session>()),
                (IdentifierClaim::TYPE, snapshot_format::<IdentifierClaim>()),
                (LoginFailures::TYPE, snapshot_format::<LoginFailures>()),
                (Organization::TYPE, snapshot_format::<Organization>()),
                (Installation::TYPE, snapshot_format::<Installation>()),
                (PolicyRole::TYPE, snapshot_format::<PolicyRole>()),
                (Numbering::TYPE, snapshot_format::<Numbering>()),
                (OneTime::TYPE, snapshot_format::<OneTime>()),
            ]),
        }
    }

    /// `A`'s snapshot format in this build.
    fn format<A: Stored>(&self) -> std::borrow::Cow<'_, str> {
        match self.formats.get(A::TYPE) {
            Some(format) => format.into(),
            None => snapshot_format::<A>().into(),
        }
    }

    /// The database (read models share it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whose personal data the stream `aggregate_type`/`id` holds: the
    /// rule its appends follow ([`Stored::data_subject`]), for tools that
    /// seal what was written before (`eventauth seal-log`).
    pub async fn data_subject_of(
        &self,
        aggregate_type: &str,
        id: &str,
    ) -> Result<Option<String>, Error> {
        async fn of<A: Stored>(store: &Store, id: &str) -> Result<Option<String>, Error> {
            let loaded = store.load::<A>(id).await?;
            Ok(A::data_subject(id, &loaded.state))
        }
        match aggregate_type {
            User::TYPE => of::<User>(self, id).await,
            Session::TYPE => of::<Session>(self, id).await,
            IdentifierClaim::TYPE => of::<IdentifierClaim>(self, id).await,
            LoginFailures::TYPE => of::<LoginFailures>(self, id).await,
            _ => Ok(None),
        }
    }

    /// Sets what runs after each commit, before its command returns (once;
    /// later calls are ignored).
    pub fn on_commit(&self, hook: OnCommit) {
        let _ = self.on_commit.set(hook);
    }

    /// What keeps this store's cached aggregates fresh: told of every
    /// event this instance's security feed reads.
    pub fn freshness(&self) -> std::sync::Arc<dyn crate::consumers::feed::FeedListener> {
        self.cache.clone()
    }

    /// The codec of personal data.
    pub fn vault(&self) -> &std::sync::Arc<crate::vault::Vault> {
        &self.vault
    }

    /// The aggregates' services (clock).
    pub fn services(&self) -> &Services {
        &self.services
    }
}

fn internal<E: std::error::Error + Send + Sync + 'static>(error: AggregateError<E>) -> Error {
    match error {
        AggregateError::AggregateConflict => Error::Conflict,
        // The cause keeps its chain: a lost connection in it becomes a 503
        // where errors are rendered (`Error::outage_aware`).
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            Error::Internal(anyhow::Error::from_boxed(cause).context("event store"))
        }
        other => Error::Internal(anyhow::anyhow!("event store: {other}")),
    }
}
