//! The security feed: every instance's own tail of the global stream,
//! folding what the hot path must know without a database round trip —
//! ended sessions and user cutoffs into the [`DenyList`], identifier locks
//! into the [`Throttle`] — and tells the caches registered as
//! [`FeedListener`]s (caller states, a surface's cached answers) which
//! users changed.
//!
//! It starts a look-back window before now rather than at the beginning of
//! the log: ended sessions and cutoffs matter only while access tokens
//! issued before them can still be presented (refreshes are checked against
//! the Session aggregate itself), and locks only while they last. An
//! instance does not serve until the feed has caught up once.

use std::sync::Arc;
use std::time::Duration;

use projections::{Batch, Cursor, Db, GlobalReader, Parts, Wake};
use tokio::sync::watch;
use uuid::Uuid;

use super::effects::{Effects, Fed};

/// Slack added to the look-back window for transactions in flight when it
/// was computed (they are short: idle ones are ended after a minute).
const MARGIN: Duration = Duration::from_secs(300);

/// How long the feed lingers after a poke. Short: it carries other
/// instances' logouts, locks and role changes to this one (the deny-list),
/// and its batch is one statement.
const LINGER: Duration = Duration::from_millis(20);

/// A cache that must hear of user changes. Called synchronously while a
/// batch is folded, before the feed's cursor moves past it, and for this
/// instance's own commits before they are answered ([`Effects`]), so a
/// request answered after a change never reads a cache from before it.
pub trait FeedListener: Send + Sync + std::fmt::Debug {
    /// Event `sequence` of `aggregate_type` `id` was fed (any event the
    /// feed reads).
    fn appended(&self, _aggregate_type: &str, _id: &str, _sequence: i64) {}
    /// An event of `user` was fed (roles, deletion, anything).
    fn user_changed(&self, _user: Uuid) {}
    /// A batch holding user events was fed, up to `cursor`: what was read
    /// from read models that had not passed it may be stale.
    fn users_changed_until(&self, _cursor: Cursor) {}
    /// An organization was created, renamed or deleted.
    fn organization_changed(&self, _organization: Uuid) {}
    /// Someone joined `organization` (a community), or left organizations
    /// not named (`None`: a user purged or erased with every membership).
    fn members_changed(&self, _organization: Option<Uuid>) {}
    /// A batch changing organizations or their members is being fed, up to
    /// `cursor` (said before its other calls): what is read from read
    /// models that had not passed it may be stale.
    fn organizations_changed_until(&self, _cursor: Cursor) {}
    /// A session changed in a way cached copies must see (an account was
    /// chosen).
    fn session_changed(&self, _session: Uuid) {}
    /// A batch holding role definition events was fed, up to `cursor`.
    fn policies_changed_until(&self, _cursor: Cursor) {}
}

/// One instance's security feed.
#[derive(Debug)]
pub struct SecurityFeed {
    effects: Arc<Effects>,
    lookback: Duration,
    progress: watch::Sender<Cursor>,
    caught_up: watch::Sender<bool>,
}

impl SecurityFeed {
    /// A feed of `effects`, looking back `lookback`.
    pub fn new(effects: Arc<Effects>, lookback: Duration) -> Self {
        Self {
            effects,
            lookback: lookback + MARGIN,
            progress: watch::channel(Cursor::START).0,
            caught_up: watch::channel(false).0,
        }
    }

    /// How far it has read (read-your-writes waits on it too).
    pub fn progress(&self) -> watch::Receiver<Cursor> {
        self.progress.subscribe()
    }

    /// Turns true once the feed has read everything readable at least once.
    pub fn caught_up(&self) -> watch::Receiver<bool> {
        self.caught_up.subscribe()
    }

    /// Tails the global stream until `stop`.
    pub async fn run(self, db: Db, wake: Wake, mut stop: watch::Receiver<bool>) {
        let mut woken = wake.subscribe(LINGER);
        // `target`: the newest event committed when the feed started. Caught
        // up means read past it, not merely "a batch was not full": on
        // PostgreSQL committed events may still wait beyond the horizon.
        let (mut cursor, target) = loop {
            match tokio::try_join!(start(&db, self.lookback), newest(&db)) {
                Ok(found) => break found,
                Err(error) => {
                    tracing::warn!(%error, "security feed cannot find its start; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = projections::wake::stopped(&mut stop) => return,
                    }
                }
            }
        };
        loop {
            woken.seen();
            let pause = match self.step(&db, &mut cursor).await {
                Ok(Batch { full: true, .. }) => continue,
                Ok(Batch { pending, .. }) => {
                    if cursor >= target {
                        self.caught_up
                            .send_if_modified(|done| !std::mem::replace(done, true));
                    }
                    if pending {
                        Duration::from_millis(5)
                    } else {
                        Duration::from_secs(1)
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "security feed failed; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = woken.wait(pause) => {}
                () = projections::wake::stopped(&mut stop) => return,
            }
        }
    }

    /// Reads and folds one batch.
    async fn step(&self, db: &Db, cursor: &mut Cursor) -> Result<Batch, sqlx::Error> {
        let batch = GlobalReader::read_from(
            db,
            self.effects.vault.as_ref(),
            Parts::Payload,
            *cursor,
            1000,
            Some(super::effects::TYPES),
        )
        .await?;
        self.effects.apply(
            batch.events.iter().map(|event| Fed {
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                payload: event.payload.get(),
            }),
            batch.next,
        );
        *cursor = batch.next;
        self.progress.send_if_modified(|current| {
            let newer = batch.next > *current;
            if newer {
                *current = batch.next;
            }
            newer
        });
        Ok(batch)
    }
}

/// The newest committed event's place in the global order.
async fn newest(db: &Db) -> Result<Cursor, sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT transaction_id::text::bigint, global_position FROM events
                  ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            Ok(row.map_or(Cursor::START, |(tx, pos)| Cursor { tx, pos }))
        }
        Db::Sqlite { reader, .. } => {
            let pos: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
                .fetch_one(reader)
                .await?;
            Ok(Cursor::sqlite(pos.unwrap_or(0)))
        }
    }
}

/// Where to start: before the oldest transaction that recorded an event in
/// the look-back window (or at the horizon when there is none).
async fn start(db: &Db, lookback: Duration) -> Result<Cursor, sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            let tx: i64 = sqlx::query_scalar(
                "SELECT COALESCE(
                            (SELECT min(transaction_id)::text::bigint FROM events
                              WHERE recorded_at > now() - make_interval(secs => $1)),
                            pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
            )
            .bind(lookback.as_secs_f64())
            .fetch_one(pool)
            .await?;
            Ok(Cursor::before_transaction(tx))
        }
        Db::Sqlite { reader, .. } => {
            let since =
                chrono::Utc::now() - chrono::Duration::from_std(lookback).unwrap_or_default();
            let pos: i64 = sqlx::query_scalar(
                "SELECT COALESCE(
                            (SELECT min(global_position) - 1 FROM events WHERE recorded_at > ?1),
                            (SELECT COALESCE(max(global_position), 0) FROM events))",
            )
            .bind(since.format("%Y-%m-%dT%H:%M:%.3fZ").to_string())
            .fetch_one(reader)
            .await?;
            Ok(Cursor::sqlite(pos))
        }
    }
}
