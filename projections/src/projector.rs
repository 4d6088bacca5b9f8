//! The projector: tails the global stream and folds events into the read
//! models, in batches, each batch in one transaction with its checkpoint.
//!
//! Several service instances may run one each. Every batch locks the
//! checkpoint row (`FOR UPDATE NOWAIT`, as ZITADEL does): whoever gets the
//! row works, the others stand by and only follow the checkpoint, so a stale
//! projector can never write after another took over.
//!
//! The batch is read *before* the row is locked: locking gives the
//! transaction an id, and a snapshot's horizon includes the reader's own
//! transaction, which would hide events committed by younger transactions
//! until the next batch. A transaction-scoped advisory lock (which assigns
//! no id) is taken before the read, so standby instances skip the read.

use std::time::Duration;

use aggregates::{Organization, PolicyRole, Session, User};
use cqrs_es::Aggregate;
use sqlx::{Connection, PgPool, Row, SqlitePool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::fold::Fold;
use crate::{organizations, sessions, users, Conn, Cursor, Db, GlobalReader, RecordedEvent, Wake};

/// The read models' checkpoint row (and projector lock).
pub const READ_MODELS: &str = "read_models";

/// The projector lock of `name` for the current transaction, waiting for
/// the live projector to finish its batch (replay and verify take it; the
/// projector itself only tries it).
pub async fn lock_postgres(conn: &mut sqlx::PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('eventauth.projector.' || $1, 0))")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The stored checkpoint of `name`.
pub async fn checkpoint(db: &Db, name: &str) -> Result<Cursor, sqlx::Error> {
    match db {
        Db::Postgres(pool) => stored_checkpoint(pool, name).await,
        Db::Sqlite { reader, .. } => {
            let pos: i64 = sqlx::query_scalar("SELECT last_pos FROM checkpoints WHERE name = ?1")
                .bind(name)
                .fetch_one(reader)
                .await?;
            Ok(Cursor::sqlite(pos))
        }
    }
}

/// How the projector paces itself.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Its checkpoint row.
    pub name: String,
    /// Events per batch (and per transaction).
    pub batch_size: i64,
    /// Poll interval when nothing happens (notifications shorten it).
    pub idle_poll: Duration,
    /// Re-poll interval while committed events wait beyond the horizon.
    pub horizon_poll: Duration,
    /// How often a standby instance follows the active one's checkpoint.
    pub standby_poll: Duration,
    /// How long it lingers after a poke, gathering commits into one batch.
    /// Long: nobody waits on it without urging it (a query that must see a
    /// commit), and every batch costs eight statements (transaction, locks,
    /// writes, checkpoint) however few events it holds.
    pub linger: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            name: READ_MODELS.to_string(),
            batch_size: 500,
            idle_poll: Duration::from_secs(1),
            horizon_poll: Duration::from_millis(5),
            standby_poll: Duration::from_millis(20),
            linger: Duration::from_millis(100),
        }
    }
}

enum Step {
    /// More may be readable at once.
    Again,
    /// Caught up with what is readable; `pending` when committed events
    /// wait beyond the horizon.
    Idle { pending: bool },
    /// Another instance holds the checkpoint.
    Standby,
}

/// Projects the global stream into `users` and `sessions`.
#[derive(Debug)]
pub struct Projector {
    db: Db,
    codec: std::sync::Arc<dyn crate::Codec>,
    config: ProjectorConfig,
    wake: Wake,
    progress: watch::Sender<Cursor>,
    caught_up: watch::Sender<bool>,
}

impl Projector {
    /// A projector writing to `db`, woken by `wake`.
    /// Events are opened by `codec` before they are applied.
    pub fn new(
        db: Db,
        codec: std::sync::Arc<dyn crate::Codec>,
        config: ProjectorConfig,
        wake: Wake,
    ) -> Self {
        Self {
            db,
            codec,
            config,
            wake,
            progress: watch::channel(Cursor::START).0,
            caught_up: watch::channel(false).0,
        }
    }

    /// Turns true once the read models were seen caught up (by this
    /// instance, or by the active one while this one stands by).
    pub fn caught_up(&self) -> watch::Receiver<bool> {
        self.caught_up.subscribe()
    }

    /// The checkpoint as this instance last saw it (its own, or the active
    /// instance's while standing by). Read-your-writes waits on this.
    pub fn progress(&self) -> watch::Receiver<Cursor> {
        self.progress.subscribe()
    }

    /// Runs until `stop` turns true; a batch in flight is finished and
    /// committed first, and what was committed before the stop is
    /// projected (bounded): commands answer before their events are
    /// projected, and a graceful stop leaves the read models holding every
    /// command it answered.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut wake = self.wake.subscribe(self.config.linger);
        let mut cursor = Cursor::START;
        loop {
            if *stop.borrow() {
                let drain = async {
                    while let Ok(Step::Again | Step::Idle { pending: true }) =
                        self.step(&mut cursor).await
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
                return;
            }
            wake.seen();
            let pause = match self.step(&mut cursor).await {
                Ok(Step::Again) => continue,
                Ok(Step::Idle { pending }) => {
                    self.caught_up
                        .send_if_modified(|done| !std::mem::replace(done, true));
                    if pending {
                        self.config.horizon_poll
                    } else {
                        self.config.idle_poll
                    }
                }
                Ok(Step::Standby) => {
                    self.caught_up
                        .send_if_modified(|done| !std::mem::replace(done, true));
                    self.config.standby_poll
                }
                Err(error) => {
                    // The database away is an outage, not a fault here.
                    if crate::db::caused_by_outage(error.as_ref()) {
                        tracing::warn!(error = %error, "projector waits for the store; retrying");
                    } else {
                        tracing::error!(
                            error = format!("{error:#}"),
                            "projector batch failed; retrying"
                        );
                    }
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = wake.wait(pause) => {}
                () = crate::wake::stopped(&mut stop) => {}
            }
        }
    }

    fn publish(&self, cursor: Cursor) {
        self.progress.send_if_modified(|current| {
            let newer = cursor > *current;
            if newer {
                *current = cursor;
            }
            newer
        });
    }

    async fn step(&self, cursor: &mut Cursor) -> anyhow::Result<Step> {
        match &self.db {
            Db::Postgres(pool) => self.step_postgres(pool, cursor).await,
            Db::Sqlite { writer, .. } => self.step_sqlite(writer, cursor).await,
        }
    }

    /// SQLite: one instance, one writer; the batch runs in one write
    /// transaction taken up front (`BEGIN IMMEDIATE`), checkpoint included.
    async fn step_sqlite(&self, writer: &SqlitePool, cursor: &mut Cursor) -> anyhow::Result<Step> {
        let mut conn = writer.acquire().await?;
        // A transaction sqlx tracks: should anything fail, the commit
        // included, it is rolled back before the connection serves again.
        // A raw `BEGIN` left open by a failed `COMMIT` would have taken in
        // every later append on the one writer, acknowledged and never
        // committed.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let stored: i64 = sqlx::query_scalar("SELECT last_pos FROM checkpoints WHERE name = ?1")
            .bind(&self.config.name)
            .fetch_one(&mut *tx)
            .await?;
        let stored = Cursor::sqlite(stored);
        let batch = GlobalReader::read(
            &mut Conn::Sqlite(&mut tx),
            self.codec.as_ref(),
            crate::Parts::Payload,
            stored,
            self.config.batch_size,
            None,
        )
        .await?;
        apply(&mut Conn::Sqlite(&mut tx), &batch.events).await?;
        if batch.next > stored {
            sqlx::query(
                "UPDATE checkpoints SET last_pos = ?2,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                  WHERE name = ?1",
            )
            .bind(&self.config.name)
            .bind(batch.next.pos)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        *cursor = batch.next;
        self.publish(batch.next);
        Ok(if batch.full {
            Step::Again
        } else {
            Step::Idle { pending: false }
        })
    }

    async fn step_postgres(&self, pool: &PgPool, cursor: &mut Cursor) -> anyhow::Result<Step> {
        let mut tx = pool.begin().await?;
        // Cheap leader check first (an advisory lock assigns no transaction
        // id), so standby instances do not read whole batches only to find
        // the checkpoint row taken.
        let leader: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('eventauth.projector.' || $1, 0))",
        )
        .bind(&self.config.name)
        .fetch_one(&mut *tx)
        .await?;
        if !leader {
            tx.rollback().await?;
            *cursor = stored_checkpoint(pool, &self.config.name).await?;
            self.publish(*cursor);
            return Ok(Step::Standby);
        }
        let batch = GlobalReader::read(
            &mut Conn::Postgres(&mut tx),
            self.codec.as_ref(),
            crate::Parts::Payload,
            *cursor,
            self.config.batch_size,
            None,
        )
        .await?;
        let locked = sqlx::query(
            "SELECT last_tx::text::bigint AS tx, last_pos FROM checkpoints
              WHERE name = $1 FOR UPDATE NOWAIT",
        )
        .bind(&self.config.name)
        .fetch_one(&mut *tx)
        .await;
        let stored = match locked {
            Ok(row) => Cursor {
                tx: row.get("tx"),
                pos: row.get("last_pos"),
            },
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => {
                tx.rollback().await?;
                *cursor = stored_checkpoint(pool, &self.config.name).await?;
                self.publish(*cursor);
                return Ok(Step::Standby);
            }
            Err(error) => return Err(error.into()),
        };
        if stored != *cursor {
            // First batch, or another instance moved on while we stood by.
            tx.rollback().await?;
            *cursor = stored;
            self.publish(stored);
            return Ok(Step::Again);
        }
        if batch.events.is_empty() {
            tx.rollback().await?;
            return Ok(Step::Idle {
                pending: batch.pending,
            });
        }
        apply(&mut Conn::Postgres(&mut tx), &batch.events).await?;
        sqlx::query(
            "UPDATE checkpoints SET last_tx = $2::text::xid8, last_pos = $3, updated_at = now()
              WHERE name = $1",
        )
        .bind(&self.config.name)
        .bind(batch.next.tx.to_string())
        .bind(batch.next.pos)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        *cursor = batch.next;
        self.publish(batch.next);
        Ok(if batch.full {
            Step::Again
        } else {
            Step::Idle {
                pending: batch.pending,
            }
        })
    }
}

async fn stored_checkpoint(pool: &PgPool, name: &str) -> Result<Cursor, sqlx::Error> {
    let row = sqlx::query(
        "SELECT last_tx::text::bigint AS tx, last_pos FROM checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await?;
    Ok(Cursor {
        tx: row.get("tx"),
        pos: row.get("last_pos"),
    })
}

/// Folds a batch of events into the read models, in order: `users` rows
/// created in the batch or changed by it, and the batch's sessions, are
/// kept in memory while the batch changes them and written together
/// ([`crate::fold`]); the rest is applied event by event.
pub async fn apply(conn: &mut Conn<'_>, events: &[RecordedEvent]) -> Result<(), sqlx::Error> {
    let mut fold = Fold::default();
    fold.load_users(conn, events).await?;
    for event in events {
        let undecodable = match event.aggregate_type.as_str() {
            User::TYPE => match event.decode() {
                Ok(payload) => {
                    let user_id: Uuid = event.aggregate_id.parse().unwrap_or_default();
                    // Read again after a flush in the middle of the batch
                    // emptied the fold (no statement when it holds it).
                    fold.load_users(conn, std::slice::from_ref(event)).await?;
                    if let Some(payload) = fold.user(event, user_id, payload) {
                        if fold.involves(user_id) {
                            fold.flush(conn).await?;
                        }
                        users::apply(conn, event, payload).await?;
                    }
                    continue;
                }
                Err(error) => error,
            },
            Session::TYPE => match event.decode() {
                Ok(payload) => {
                    if let Some(payload) = fold.session(event, payload) {
                        sessions::apply(conn, event, payload).await?;
                    }
                    continue;
                }
                Err(error) => error,
            },
            Organization::TYPE => match event.decode() {
                Ok(payload) => {
                    // Its memberships may be among those the fold holds.
                    if fold.holds_memberships() {
                        fold.flush(conn).await?;
                    }
                    organizations::apply(conn, event, payload).await?;
                    continue;
                }
                Err(error) => error,
            },
            PolicyRole::TYPE => match event.decode() {
                Ok(payload) => {
                    crate::policy_roles::apply(conn, event, payload).await?;
                    continue;
                }
                Err(error) => error,
            },
            _ => continue,
        };
        // An event this build cannot read: skip it loudly rather than stall
        // every read model behind it.
        tracing::error!(
            event_id = %event.event_id,
            event_type = %event.event_type,
            error = %undecodable,
            "projector skipped an undecodable event"
        );
    }
    fold.flush(conn).await
}
