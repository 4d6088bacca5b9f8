//! The shared state of one instance: everything a use case needs.

use std::sync::Arc;

use projections::{Cursor, GlobalReader, Wake};
use tokio::sync::watch;

use crate::auth::denylist::DenyList;
use crate::auth::identifiers::IdentifierKeys;
use crate::auth::password::Passwords;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::Tokens;
use crate::store::{Store, Written};

use crate::Config;

/// One instance's state; cheap to clone (an `Arc`).
#[derive(Debug, Clone)]
pub struct App(Arc<Inner>);

/// What [`App`] holds.
#[derive(Debug)]
pub struct Inner {
    /// Settings.
    pub config: Config,
    /// The event store.
    pub store: Store,
    /// Reads the global stream (positions for read-your-writes).
    pub reader: GlobalReader,
    /// Password hashing pool.
    pub passwords: Passwords,
    /// Token issuing and checking.
    pub tokens: Tokens,
    /// Identifier claim ids.
    pub identifiers: IdentifierKeys,
    /// Login throttling.
    pub throttle: Arc<Throttle>,
    /// Ended sessions and cutoffs.
    pub denylist: Arc<DenyList>,
    /// Live cookie sessions this instance has checked.
    pub cookie_sessions: Arc<crate::service::sessions::cookie::CookieSessions>,
    /// Callers' live states, what actors are built from.
    pub actors: Arc<crate::access::Actors>,
    /// The titles of accounts, cached.
    pub account_titles: Arc<crate::service::member_accounts::AccountTitles>,
    /// Communities as profiles show them, cached.
    pub community_views: Arc<crate::service::community_views::CommunityViews>,
    /// This instance's block of user numbers.
    pub user_numbers: crate::service::numbers::UserNumbers,
    /// The SAML identity provider trusted, when single sign-on is on.
    pub saml: Option<Arc<crate::saml::ServiceProvider>>,
    /// The kinds of collections seen (a kind never changes; bounded).
    pub collection_kinds: moka::sync::Cache<uuid::Uuid, aggregates::OrganizationKind>,
    /// Outgoing mail.
    pub outbox: crate::mail::Outbox,
    /// Profile pictures.
    pub blobs: Arc<dyn crate::blobs::BlobStore>,
    /// Pictures decoded at once (each may take tens of MiB and a core).
    pub image_permits: tokio::sync::Semaphore,
    /// Pokes local readers after a commit.
    pub wake: Wake,
    /// The newest place in the global order of a commit this instance has
    /// made: where read-model queries wait for the projector.
    pub acknowledged: Arc<watch::Sender<Cursor>>,
    /// The read-model checkpoint as this instance knows it.
    pub projected: watch::Receiver<Cursor>,
    /// How far this instance's relay has published (when it runs one).
    pub relayed: Option<watch::Receiver<Cursor>>,
    /// Whether the relay can publish (`None`: no relay configured).
    pub relay_health: Option<watch::Receiver<crate::consumers::relay::Health>>,
    /// How far this instance's security feed has read.
    pub fed: watch::Receiver<Cursor>,
    /// Whether the projector and the security feed have caught up once.
    pub caught_up: (watch::Receiver<bool>, watch::Receiver<bool>),
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The read models, once they hold every commit this instance has
    /// answered (read-your-writes: a query after a command sees it), at
    /// most the configured bound; on timeout they are read anyway.
    pub async fn read_models(&self) -> &projections::Db {
        let acknowledged = *self.acknowledged.borrow();
        self.read_models_past(acknowledged).await
    }

    /// The read models, once they hold every commit this instance has
    /// answered and everything up to `target` (a change a cache heard of),
    /// bounded as [`Self::read_models`].
    pub async fn read_models_past(&self, target: Cursor) -> &projections::Db {
        let target = target.max(*self.acknowledged.borrow());
        let mut projected = self.projected.clone();
        if *projected.borrow() < target {
            self.wake.urge();
            let wait = projected.wait_for(|c| *c >= target);
            // An error means the projector stopped (shutdown).
            if let Err(_elapsed) =
                tokio::time::timeout(self.config.read_your_writes_timeout(), wait).await
            {
                tracing::warn!(%target, "read models did not catch up in time; reading anyway");
            }
        }
        self.store.db()
    }
}

/// What every commit of this instance does before its command returns
/// (`Store::on_commit`): its effects on this instance's in-memory state
/// (deny-list, locks, caches) apply at once, its place in the global order
/// becomes what later read-model queries wait for ([`App::read_models`]),
/// and the background readers are poked. The command does not wait for the
/// read models: its answer comes from the state it produced.
pub fn on_commit(
    effects: Arc<crate::consumers::effects::Effects>,
    acknowledged: Arc<watch::Sender<Cursor>>,
    wake: Wake,
) -> crate::store::OnCommit {
    Arc::new(move |written: &Written| {
        wake.committed();
        let Some(target) = written.cursor else {
            return;
        };
        effects.apply(written.fed(), target);
        acknowledged.send_if_modified(|newest| {
            let newer = target > *newest;
            if newer {
                *newest = target;
            }
            newer
        });
    })
}
