//! Building: the log applied to the scratch space, one transaction per
//! batch, the next batch read while the current one is applied.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::scratch::Space;
use super::{Progress, Scratch};
use crate::projector;
use crate::{Conn, Cursor, Db, GlobalReader};

/// Events per transaction while building.
const BATCH: i64 = 5_000;

/// The step a build made.
struct Step {
    cursor: Cursor,
    applied: u64,
    /// Reached the target (or the readable end when there is none).
    done: bool,
}

impl Scratch {
    /// Applies the log, one transaction per batch, up to `until` (exactly:
    /// everything at or before it, nothing after) or, without it, up to
    /// what is readable now.
    pub async fn build(
        &mut self,
        until: Option<Cursor>,
        progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<()> {
        let mut stalled = 0;
        let mut ahead = read_ahead(&self.log, &self.codec, self.cursor);
        loop {
            let batch = ahead.await??;
            // The next batch is read while this one is applied.
            ahead = read_ahead(&self.log, &self.codec, batch.next);
            let step = match &mut self.space {
                Space::Postgres { conn, .. } => {
                    let mut tx = conn.begin().await?;
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut *tx)
                        .await?;
                    let step = settle(&mut Conn::Postgres(&mut tx), batch, until).await?;
                    tx.commit().await?;
                    step
                }
                Space::Sqlite { conn } => {
                    let mut tx = conn.begin().await?;
                    let step = settle(&mut Conn::Sqlite(&mut tx), batch, until).await?;
                    tx.commit().await?;
                    step
                }
            };
            let moved = step.cursor != self.cursor;
            self.advance(&step);
            progress(Progress {
                applied: self.applied,
                cursor: self.cursor,
            });
            if step.done {
                ahead.abort();
                return Ok(());
            }
            // Short of the target with nothing readable: events below it
            // wait beyond the horizon; they commit shortly.
            stalled = if moved { 0 } else { stalled + 1 };
            anyhow::ensure!(
                stalled < 6_000,
                "the log does not reach {until:?} (stuck at {})",
                self.cursor
            );
            if !moved {
                ahead.abort();
                tokio::time::sleep(Duration::from_millis(5)).await;
                ahead = read_ahead(&self.log, &self.codec, self.cursor);
            }
        }
    }

    fn advance(&mut self, step: &Step) {
        self.cursor = step.cursor;
        self.applied += step.applied;
    }
}

/// Applies batches inside the caller's transaction until `until` (or,
/// without it, the readable end), advancing `cursor` and `applied`.
pub(super) async fn catch_up(
    conn: &mut Conn<'_>,
    codec: &dyn crate::Codec,
    cursor: &mut Cursor,
    applied: &mut u64,
    until: Option<Cursor>,
) -> anyhow::Result<()> {
    if until.is_some_and(|until| *cursor >= until) {
        return Ok(());
    }
    loop {
        let step = step(conn, codec, *cursor, until).await?;
        *cursor = step.cursor;
        *applied += step.applied;
        if step.done {
            return Ok(());
        }
    }
}

/// The log as a rebuild reads it.
#[derive(Debug)]
pub(super) enum Log {
    /// A connection of the rebuild's own.
    Postgres(Arc<tokio::sync::Mutex<PgConnection>>),
    /// The store's readers.
    Sqlite(Db),
}

/// Reads the batch after `after` in a task of its own.
fn read_ahead(
    log: &Log,
    codec: &Arc<dyn crate::Codec>,
    after: Cursor,
) -> tokio::task::JoinHandle<Result<crate::Batch, sqlx::Error>> {
    let codec = codec.clone();
    let parts = crate::Parts::Payload;
    match log {
        Log::Postgres(conn) => {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut conn = conn.lock().await;
                let conn = &mut Conn::Postgres(&mut conn);
                GlobalReader::read(conn, codec.as_ref(), parts, after, BATCH, None).await
            })
        }
        Log::Sqlite(db) => {
            let db = db.clone();
            tokio::spawn(async move {
                GlobalReader::read_from(&db, codec.as_ref(), parts, after, BATCH, None).await
            })
        }
    }
}

/// Reads one batch after `after` and applies it, stopping at `until`.
async fn step(
    conn: &mut Conn<'_>,
    codec: &dyn crate::Codec,
    after: Cursor,
    until: Option<Cursor>,
) -> anyhow::Result<Step> {
    let batch = GlobalReader::read(conn, codec, crate::Parts::Payload, after, BATCH, None).await?;
    settle(conn, batch, until).await
}

/// Applies a batch read after the current cursor, stopping at `until`.
async fn settle(
    conn: &mut Conn<'_>,
    batch: crate::Batch,
    until: Option<Cursor>,
) -> anyhow::Result<Step> {
    let within = match until {
        Some(until) => batch.events.partition_point(|event| event.cursor <= until),
        None => batch.events.len(),
    };
    projector::apply(conn, &batch.events[..within]).await?;
    let applied = within as u64;
    if within < batch.events.len() {
        return Ok(Step {
            cursor: until.unwrap_or(batch.next),
            applied,
            done: true,
        });
    }
    Ok(match until {
        Some(until) if batch.next >= until => Step {
            cursor: until,
            applied,
            done: true,
        },
        Some(_) => Step {
            cursor: batch.next,
            applied,
            done: false,
        },
        None => Step {
            cursor: batch.next,
            applied,
            done: !batch.full,
        },
    })
}
