//! Snapshots: their format, and saving one after a commit.

use cqrs_es::Aggregate;
use projections::Db;

use super::{Store, Stored};

/// Events folded on top of a stream's snapshot (or from its start) before
/// a command writes a new snapshot: a load reads at most about this many
/// events, however long the stream.
pub const SNAPSHOT_EVERY: usize = 32;

/// The format of `A`'s snapshots in this build: a fingerprint of the
/// aggregates' source (any change to a state's fields, to the types inside
/// them, or to a fold retakes every snapshot; a change the fingerprint
/// cannot see, such as a dependency's serialization, would need this
/// module's [`SNAPSHOT_EPOCH`] bumped) and of the state's serialized shape.
pub fn snapshot_format<A: Aggregate>() -> String {
    use sha2::Digest;
    let shape = serde_json::to_string(&A::default()).unwrap_or_default();
    let digest = sha2::Sha256::digest(shape.as_bytes());
    format!(
        "{SNAPSHOT_EPOCH}.{}.{}",
        aggregates::SOURCE_FINGERPRINT,
        &hex::encode(digest)[..8]
    )
}

/// Bumped to retake every snapshot for a reason the source fingerprint
/// does not see.
const SNAPSHOT_EPOCH: u32 = 1;

/// Keeps the newest snapshot of a stream (or one of this build's format).
const SAVE_SNAPSHOT: &str = "
    INSERT INTO aggregate_snapshots (aggregate_type, aggregate_id, last_sequence, format, state)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = excluded.last_sequence, format = excluded.format,
           state = excluded.state, taken_at = excluded.taken_at
     WHERE aggregate_snapshots.last_sequence < excluded.last_sequence
        OR aggregate_snapshots.format <> excluded.format";

impl Store {
    /// Records `state` as `A` `id` folded up to `sequence` (already
    /// committed), its personal values sealed for `subject`. A cache:
    /// failing to write it costs later loads time only.
    pub(super) async fn save_snapshot<A: Stored>(
        &self,
        id: &str,
        sequence: usize,
        state: &A,
        subject: Option<&str>,
    ) -> bool {
        let format = self.format::<A>();
        let sequence = sequence as i64;
        let mut value = match serde_json::to_value(state) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(aggregate = A::TYPE, %error, "snapshot not saved");
                return false;
            }
        };
        let at = crate::vault::snapshot_position(A::TYPE, id, sequence);
        if let Some(subject) = subject {
            if let Err(error) = self.vault.seal(subject, &at, &mut value).await {
                tracing::warn!(aggregate = A::TYPE, %error, "snapshot not saved");
                return false;
            }
        }
        let json = sqlx::types::Json(value);
        let saved = match &self.db {
            Db::Postgres(pool) => sqlx::query(SAVE_SNAPSHOT)
                .bind(A::TYPE)
                .bind(id)
                .bind(sequence)
                .bind(format.as_ref())
                .bind(&json)
                .execute(pool)
                .await
                .map(drop),
            Db::Sqlite { writer, .. } => sqlx::query(&projections::db::sqlite_sql(SAVE_SNAPSHOT))
                .bind(A::TYPE)
                .bind(id)
                .bind(sequence)
                .bind(format.as_ref())
                .bind(&json)
                .execute(writer)
                .await
                .map(drop),
        };
        match saved {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(aggregate = A::TYPE, %error, "snapshot not saved");
                false
            }
        }
    }
}
