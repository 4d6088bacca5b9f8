//! Loading a stream: its snapshot and the events after it, in one query.

use projections::Db;

use super::{Store, Stored};
use crate::Error;

/// A stream as stored: its snapshot (part 0), if one of this format
/// exists, then the events after it (part 1), in order.
const LOAD: &str = "
    SELECT 0 AS part, last_sequence AS sequence, state AS payload
      FROM aggregate_snapshots
     WHERE aggregate_type = $1 AND aggregate_id = $2 AND format = $3
    UNION ALL
    SELECT 1, sequence, payload FROM events
     WHERE aggregate_type = $1 AND aggregate_id = $2
       AND sequence > COALESCE((SELECT last_sequence FROM aggregate_snapshots
                                 WHERE aggregate_type = $1 AND aggregate_id = $2
                                   AND format = $3), 0)
     ORDER BY part, sequence";

/// One row of [`LOAD`].
type StoredRow = (
    i32,
    i64,
    sqlx::types::Json<Box<serde_json::value::RawValue>>,
);

/// An aggregate as loaded, with the sequence of its last event.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// Its last sequence (0: empty stream).
    pub version: usize,
    /// The sequence of the snapshot it was folded from (0: none).
    pub snapshot: usize,
}

impl Store {
    /// Loads an aggregate's current state: its snapshot and the events
    /// after it, or the whole stream when there is no usable snapshot.
    pub async fn load<A: Stored>(&self, id: &str) -> Result<Loaded<A>, Error> {
        self.load_from::<A>(id, true).await
    }

    /// Loads an aggregate from its whole stream, ignoring any snapshot.
    pub async fn load_stream<A: Stored>(&self, id: &str) -> Result<Loaded<A>, Error> {
        self.load_from::<A>(id, false).await
    }

    /// A stream as stored, its personal values opened by the vault.
    async fn load_from<A: Stored>(&self, id: &str, snapshot: bool) -> Result<Loaded<A>, Error> {
        // No snapshot has the empty format.
        let format = if snapshot {
            self.format::<A>()
        } else {
            "".into()
        };
        let rows: Vec<StoredRow> = match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(LOAD)
                    .bind(A::TYPE)
                    .bind(id)
                    .bind(format.as_ref())
                    .fetch_all(pool)
                    .await
            }
            // The writer, as the framework's repository: a load sees every
            // commit before it.
            Db::Sqlite { writer, .. } => {
                sqlx::query_as(&projections::db::sqlite_sql(LOAD))
                    .bind(A::TYPE)
                    .bind(id)
                    .bind(format.as_ref())
                    .fetch_all(writer)
                    .await
            }
        }
        .map_err(|e| Error::Internal(e.into()))?;
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
            snapshot: 0,
        };
        for (part, sequence, payload) in rows {
            let at = if part == 0 {
                crate::vault::snapshot_position(A::TYPE, id, sequence)
            } else {
                crate::vault::position(A::TYPE, id, sequence)
            };
            let opened = if super::PERSONAL_STREAMS.contains(&A::TYPE) {
                self.vault.open_text(&at, payload.get()).await?
            } else {
                None
            };
            let payload = opened.as_deref().unwrap_or(payload.get());
            let sequence = usize::try_from(sequence).unwrap_or_default();
            if part == 0 {
                match serde_json::from_str::<A>(payload) {
                    Ok(state) => {
                        loaded.state = state;
                        loaded.version = sequence;
                        loaded.snapshot = sequence;
                    }
                    Err(error) => {
                        tracing::warn!(aggregate = A::TYPE, %error, "unreadable snapshot; loading the whole stream");
                        return Box::pin(self.load_stream(id)).await;
                    }
                }
            } else {
                let event: A::Event = serde_json::from_str(payload).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "an event of {} {id} is unreadable: {e}",
                        A::TYPE
                    ))
                })?;
                loaded.state.apply(event);
                loaded.version = sequence;
            }
        }
        Ok(loaded)
    }
}
