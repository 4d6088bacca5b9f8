//! The relay: publishes every event, in global order, to NATS JetStream.
//!
//! - One active relay across instances: the leader holds a session-level
//!   advisory lock on a connection of its own (PostgreSQL; the embedded
//!   store has one instance). A leader that dies drops its connection and
//!   with it the lock; a standby takes over within a second.
//! - Each message carries `Nats-Msg-Id` = the event id (JetStream drops a
//!   republish within the duplicate window) and `Nats-Expected-Last-Msg-Id`
//!   = the previous event's id, which fences a stale second relay: its
//!   publish is refused and it re-reads where the stream stands.
//! - It resumes from the later of its checkpoint and the stream's last
//!   message, and advances the checkpoint only after acknowledgements.
//! - NATS down or slow never blocks a command: commands do not wait for the
//!   relay; it retries with backoff and catches up.

pub mod connect;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::header::{NATS_EXPECTED_LAST_MESSAGE_ID, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use projections::{Codec, Cursor, Db, GlobalReader, Parts, Wake};
use sqlx::Connection;
use tokio::sync::watch;

/// Its checkpoint row.
const CHECKPOINT: &str = "nats_relay";
/// Events per batch.
const BATCH: i64 = 500;

/// How long the relay lingers after a poke, publishing the commits of the
/// window together (a batch costs a read and a checkpoint write however
/// few events it holds). Bounded by what subscribers may wait: commit →
/// subscriber p99 under 100 ms.
const LINGER: Duration = Duration::from_millis(50);

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The server and how to authenticate.
    pub target: connect::NatsTarget,
    /// Stream name.
    pub stream: String,
    /// Subject prefix.
    pub prefix: String,
    /// De-duplication window.
    pub duplicate_window: Duration,
}

/// The relay of one instance (active or standing by).
#[derive(Debug)]
pub struct Relay {
    db: Db,
    /// Opens the events read (their public schema names no personal
    /// value, but decoding needs them readable).
    codec: Arc<dyn Codec>,
    config: RelayConfig,
    wake: Wake,
    progress: watch::Sender<Cursor>,
    health: watch::Sender<Health>,
}

/// Whether the relay can publish, for `/ready` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not connected yet.
    Starting,
    /// Another instance is the active relay; this one takes over if it
    /// dies.
    Standby,
    /// Connected, the stream in place.
    Publishing,
    /// The last attempt failed; why (no secret: the address is logged
    /// without credentials).
    Failing(String),
}

/// Where the stream stands.
#[derive(Debug, Clone, Default)]
struct StreamHead {
    cursor: Cursor,
    last_id: Option<String>,
}

/// The first wait after a failure.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(10);

/// The leadership held before a failure, if it still holds: its session
/// answers (a dead session released the advisory lock). `Some(None)`: no
/// lock to hold (the embedded store).
async fn still_leading(
    held: Option<Option<sqlx::PgConnection>>,
) -> Option<Option<sqlx::PgConnection>> {
    match held {
        Some(Some(mut conn)) => {
            use sqlx::Connection;
            conn.ping().await.ok().map(|()| Some(conn))
        }
        other => other,
    }
}

impl Relay {
    /// A relay from `db` to NATS.
    pub fn new(db: Db, codec: Arc<dyn Codec>, config: RelayConfig, wake: Wake) -> Self {
        Self {
            db,
            codec,
            config,
            wake,
            progress: watch::channel(Cursor::START).0,
            health: watch::channel(Health::Starting).0,
        }
    }

    /// Whether it can publish.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// What this relay has published (for lag metrics and tests).
    pub fn progress(&self) -> watch::Receiver<Cursor> {
        self.progress.subscribe()
    }

    /// Runs until `stop`, reconnecting with backoff whenever NATS or the
    /// database fails. The backoff (200 ms doubling to 10 s) starts over
    /// only once something was published again, and the leadership's
    /// PostgreSQL session is kept across NATS failures: however long NATS
    /// stays away, the relay retries a few times a minute on one session.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_RETRY;
        let mut leadership: Option<Option<sqlx::PgConnection>> = None;
        loop {
            let mut published = false;
            let session = async {
                let held = match still_leading(leadership.take()).await {
                    Some(held) => held,
                    None => self.lead().await?,
                };
                leadership = Some(held);
                self.publish_until_error(&mut published).await
            };
            tokio::select! {
                result = session => {
                    if let Err(error) = result {
                        self.failed(&error);
                    }
                }
                () = projections::wake::stopped(&mut stop) => return,
            }
            if published {
                backoff = FIRST_RETRY;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                () = projections::wake::stopped(&mut stop) => return,
            }
            backoff = (backoff * 2).min(LAST_RETRY);
        }
    }

    /// Records and logs a failure. Refused credentials are a configuration
    /// fault, and nothing reaches NATS until an operator acts: ERROR. A
    /// server away is expected to pass: WARN.
    fn failed(&self, error: &anyhow::Error) {
        let message = format!("{error:#}");
        let refused = error.chain().any(|cause| {
            cause
                .downcast_ref::<async_nats::ConnectError>()
                .is_some_and(|e| {
                    matches!(
                        e.kind(),
                        async_nats::ConnectErrorKind::AuthorizationViolation
                            | async_nats::ConnectErrorKind::Authentication
                    )
                })
        });
        if refused {
            tracing::error!(error = %message, "NATS refused the relay's credentials; nothing is published");
        } else {
            tracing::warn!(error = %message, "relay interrupted; retrying");
        }
        metrics::gauge!("eventauth_relay_publishing").set(0.0);
        self.health.send_replace(Health::Failing(message));
    }

    /// Waits to become the active relay; the returned guard keeps it so.
    async fn lead(&self) -> anyhow::Result<Option<sqlx::PgConnection>> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut conn = pool.acquire().await?.detach();
        loop {
            let leader: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock(hashtextextended('eventauth.relay', 0))",
            )
            .fetch_one(&mut conn)
            .await?;
            if leader {
                tracing::info!("this instance is the active relay");
                return Ok(Some(conn));
            }
            self.health.send_if_modified(|health| {
                let changed = *health != Health::Standby;
                *health = Health::Standby;
                changed
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            conn.ping().await?;
        }
    }

    /// Publishes until something fails; `published` tells whether any
    /// message was acknowledged meanwhile.
    async fn publish_until_error(&self, published: &mut bool) -> anyhow::Result<()> {
        let client = self.config.target.connect().await?;
        let js = jetstream::new(client);
        let mut stream = js
            .get_or_create_stream(stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![format!("{}.>", self.config.prefix)],
                duplicate_window: self.config.duplicate_window,
                ..Default::default()
            })
            .await
            .context("creating or checking the stream")?;
        self.health.send_replace(Health::Publishing);
        metrics::gauge!("eventauth_relay_publishing").set(1.0);
        let mut head = stream_head(&mut stream).await?;
        let checkpoint = self.checkpoint().await?;
        let mut cursor = checkpoint.max(head.cursor);
        let mut wake = self.wake.subscribe(LINGER);
        loop {
            wake.seen();
            let batch = GlobalReader::read_from(
                &self.db,
                self.codec.as_ref(),
                Parts::Payload,
                cursor,
                BATCH,
                None,
            )
            .await?;
            // Pipelined: every publish of the batch goes out, then the
            // acknowledgements are awaited in order. Each message names its
            // predecessor (`Nats-Expected-Last-Msg-Id`), so if one is lost
            // every later one is refused too: never a gap, and the batch is
            // republished from where the stream stands.
            let mut acks = Vec::with_capacity(batch.events.len());
            let mut last_id = head.last_id.clone();
            for event in &batch.events {
                let Some(data) = schema::public_data(event) else {
                    tracing::error!(event_id = %event.event_id, "relay skipped an undecodable event");
                    continue;
                };
                let envelope = schema::envelope(event, data);
                let subject = format!(
                    "{}.{}.{}",
                    self.config.prefix, event.aggregate_type, event.event_type
                );
                let id = event.event_id.to_string();
                let mut headers = HeaderMap::new();
                headers.insert(NATS_MESSAGE_ID, id.as_str());
                if let Some(last) = &last_id {
                    headers.insert(NATS_EXPECTED_LAST_MESSAGE_ID, last.as_str());
                }
                let payload = serde_json::to_vec(&envelope)?;
                let ack = js
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .context("publishing")?;
                acks.push((ack, event.cursor, id.clone()));
                last_id = Some(id);
            }
            for (ack, cursor, id) in acks {
                match ack.await {
                    Ok(_) => {
                        head = StreamHead {
                            cursor,
                            last_id: Some(id),
                        };
                        *published = true;
                    }
                    Err(error) if error.kind() == PublishErrorKind::WrongLastMessageId => {
                        // Another relay published meanwhile, or an earlier
                        // message of this batch was lost: start over from
                        // where the stream stands.
                        anyhow::bail!("fenced: the stream moved on without us");
                    }
                    Err(error) => return Err(error).context("publishing"),
                }
            }
            if batch.next > cursor {
                cursor = batch.next;
                self.save_checkpoint(cursor).await?;
                self.progress.send_replace(cursor);
            }
            if batch.full {
                continue;
            }
            let pause = if batch.pending {
                Duration::from_millis(5)
            } else {
                Duration::from_secs(1)
            };
            wake.wait(pause).await;
        }
    }

    async fn checkpoint(&self) -> anyhow::Result<Cursor> {
        Ok(match &self.db {
            Db::Postgres(pool) => {
                sqlx::query("INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
                    .bind(CHECKPOINT)
                    .execute(pool)
                    .await?;
                let (tx, pos): (i64, i64) = sqlx::query_as(
                    "SELECT last_tx::text::bigint, last_pos FROM checkpoints WHERE name = $1",
                )
                .bind(CHECKPOINT)
                .fetch_one(pool)
                .await?;
                Cursor { tx, pos }
            }
            Db::Sqlite { writer, .. } => {
                sqlx::query("INSERT INTO checkpoints (name) VALUES (?1) ON CONFLICT DO NOTHING")
                    .bind(CHECKPOINT)
                    .execute(writer)
                    .await?;
                let pos: i64 =
                    sqlx::query_scalar("SELECT last_pos FROM checkpoints WHERE name = ?1")
                        .bind(CHECKPOINT)
                        .fetch_one(writer)
                        .await?;
                Cursor::sqlite(pos)
            }
        })
    }

    async fn save_checkpoint(&self, cursor: Cursor) -> anyhow::Result<()> {
        match &self.db {
            Db::Postgres(pool) => {
                sqlx::query(
                    "UPDATE checkpoints SET last_tx = $2::text::xid8, last_pos = $3, updated_at = now()
                      WHERE name = $1",
                )
                .bind(CHECKPOINT)
                .bind(cursor.tx.to_string())
                .bind(cursor.pos)
                .execute(pool)
                .await?;
            }
            Db::Sqlite { writer, .. } => {
                sqlx::query("UPDATE checkpoints SET last_pos = ?2 WHERE name = ?1")
                    .bind(CHECKPOINT)
                    .bind(cursor.pos)
                    .execute(writer)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The cursor and id of the stream's last message.
async fn stream_head(stream: &mut stream::Stream) -> anyhow::Result<StreamHead> {
    let last = stream
        .info()
        .await
        .context("reading the stream's state")?
        .state
        .last_sequence;
    if last == 0 {
        return Ok(StreamHead::default());
    }
    let message = stream
        .get_raw_message(last)
        .await
        .context("reading the stream's last message")?;
    let envelope: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
    Ok(StreamHead {
        cursor: schema::cursor_of(&envelope).unwrap_or_default(),
        last_id: envelope["id"].as_str().map(str::to_string),
    })
}
