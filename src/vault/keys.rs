//! The key table: one wrapped data key per subject, a tombstone once the
//! subject is erased (so no key is ever made for it again), and the id of
//! the store's master key.

use projections::db::sqlite_sql;
use projections::{Conn, Db};

/// A subject's row: its wrapped key and the master key that wrapped it;
/// both `None` once erased.
pub type Row = (String, Option<Vec<u8>>, Option<String>);

/// The rows of `subjects` that exist.
pub async fn fetch(db: &Db, subjects: &[String]) -> Result<Vec<Row>, sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT subject, wrapped, master_key FROM data_keys WHERE subject = ANY($1)",
            )
            .bind(subjects)
            .fetch_all(pool)
            .await
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_as(
                "SELECT subject, wrapped, master_key FROM data_keys
                  WHERE subject IN (SELECT value FROM json_each(?1))",
            )
            .bind(serde_json::to_string(subjects).unwrap_or_default())
            .fetch_all(reader)
            .await
        }
    }
}

/// Stores `subject`'s key unless it has a row already (another instance
/// made one first, or the subject was erased); then the row as it stands.
/// One round trip on PostgreSQL, for a new subject and a known one alike.
pub async fn insert(
    db: &Db,
    subject: &str,
    wrapped: &[u8],
    master: &str,
) -> Result<Row, sqlx::Error> {
    const SELECT: &str = "SELECT subject, wrapped, master_key FROM data_keys WHERE subject = $1";
    match db {
        Db::Postgres(pool) => {
            let row: Option<Row> = sqlx::query_as(
                "WITH made AS (
                     INSERT INTO data_keys (subject, wrapped, master_key) VALUES ($1, $2, $3)
                     ON CONFLICT (subject) DO NOTHING
                     RETURNING subject, wrapped, master_key)
                 SELECT subject, wrapped, master_key FROM made
                 UNION ALL
                 SELECT subject, wrapped, master_key FROM data_keys
                  WHERE subject = $1 AND NOT EXISTS (SELECT 1 FROM made)",
            )
            .bind(subject)
            .bind(wrapped)
            .bind(master)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(row),
                // Another instance's row committed after this statement's
                // snapshot: the conflict saw it, the select did not.
                None => sqlx::query_as(SELECT).bind(subject).fetch_one(pool).await,
            }
        }
        Db::Sqlite { writer, .. } => {
            sqlx::query(SQLITE_INSERT)
                .bind(subject)
                .bind(wrapped)
                .bind(master)
                .execute(writer)
                .await?;
            sqlx::query_as(&sqlite_sql(SELECT))
                .bind(subject)
                .fetch_one(writer)
                .await
        }
    }
}

/// One subject's key stored on SQLite unless it has one.
const SQLITE_INSERT: &str = "INSERT INTO data_keys (subject, wrapped, master_key)
                             VALUES (?1, ?2, ?3) ON CONFLICT (subject) DO NOTHING";

/// Stores many subjects' keys at once (those that have none yet), as
/// [`insert`] does one.
pub async fn insert_many(
    db: &Db,
    rows: &[(String, Vec<u8>)],
    master: &str,
) -> Result<(), sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            let subjects: Vec<&str> = rows.iter().map(|(subject, _)| subject.as_str()).collect();
            let wrapped: Vec<&[u8]> = rows.iter().map(|(_, wrapped)| wrapped.as_slice()).collect();
            sqlx::query(
                "INSERT INTO data_keys (subject, wrapped, master_key)
                 SELECT s, w, $3 FROM UNNEST($1::text[], $2::bytea[]) AS u(s, w)
                 ON CONFLICT (subject) DO NOTHING",
            )
            .bind(subjects)
            .bind(wrapped)
            .bind(master)
            .execute(pool)
            .await?;
        }
        Db::Sqlite { writer, .. } => {
            let mut tx = writer.begin().await?;
            for (subject, wrapped) in rows {
                sqlx::query(SQLITE_INSERT)
                    .bind(subject)
                    .bind(wrapped)
                    .bind(master)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Destroys the keys of `subjects` (a tombstone for those without one).
pub async fn erase(db: &Db, subjects: &[String]) -> Result<(), sqlx::Error> {
    const ERASE: &str = "INSERT INTO data_keys (subject, wrapped, master_key, erased_at)
                         VALUES ($1, NULL, NULL, CURRENT_TIMESTAMP)
                         ON CONFLICT (subject) DO UPDATE
                            SET wrapped = NULL, master_key = NULL,
                                erased_at = COALESCE(data_keys.erased_at, excluded.erased_at)";
    for subject in subjects {
        match db {
            Db::Postgres(pool) => sqlx::query(ERASE)
                .bind(subject)
                .execute(pool)
                .await
                .map(drop)?,
            Db::Sqlite { writer, .. } => sqlx::query(&sqlite_sql(ERASE))
                .bind(subject)
                .execute(writer)
                .await
                .map(drop)?,
        };
    }
    Ok(())
}

/// Up to `limit` live rows not wrapped by `master` (what a rotation has
/// still to re-wrap).
pub async fn wrapped_by_others(db: &Db, master: &str, limit: i64) -> Result<Vec<Row>, sqlx::Error> {
    const SELECT: &str = "SELECT subject, wrapped, master_key FROM data_keys
                           WHERE wrapped IS NOT NULL AND master_key <> $1
                           ORDER BY subject LIMIT $2";
    match db {
        Db::Postgres(pool) => {
            sqlx::query_as(SELECT)
                .bind(master)
                .bind(limit)
                .fetch_all(pool)
                .await
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_as(&sqlite_sql(SELECT))
                .bind(master)
                .bind(limit)
                .fetch_all(reader)
                .await
        }
    }
}

/// One key's new wrapping: its subject, the master it was wrapped by, and
/// the new wrapping.
pub type Rewrap = (String, String, Vec<u8>);

/// Replaces each key's wrapping by `master`'s, unless its row changed
/// meanwhile (erased), in one transaction: on SQLite one turn at the write
/// lock for the batch, not one per key, taken patiently
/// ([`projections::db::sqlite_write_lock`]: the rotation runs beside a
/// busy server).
pub async fn rewrap(db: &Db, rows: &[Rewrap], master: &str) -> Result<(), sqlx::Error> {
    const UPDATE: &str = "UPDATE data_keys SET wrapped = $3, master_key = $4
                           WHERE subject = $1 AND master_key = $2";
    async fn each(conn: &mut Conn<'_>, rows: &[Rewrap], master: &str) -> Result<(), sqlx::Error> {
        for (subject, from, wrapped) in rows {
            projections::execute!(conn, UPDATE, subject, from, wrapped, master)?;
        }
        Ok(())
    }
    match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            each(&mut Conn::Postgres(&mut tx), rows, master).await?;
            tx.commit().await
        }
        Db::Sqlite { writer, .. } => {
            let mut conn = writer.acquire().await?;
            projections::db::sqlite_write_lock(&mut conn).await?;
            let written = each(&mut Conn::Sqlite(&mut conn), rows, master).await;
            let end = if written.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            sqlx::query(end).execute(&mut *conn).await?;
            written
        }
    }
}

/// The master keys that wrap live data keys.
pub async fn masters_in_use(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    const SELECT: &str = "SELECT DISTINCT master_key FROM data_keys WHERE master_key IS NOT NULL";
    match db {
        Db::Postgres(pool) => sqlx::query_scalar(SELECT).fetch_all(pool).await,
        Db::Sqlite { reader, .. } => sqlx::query_scalar(SELECT).fetch_all(reader).await,
    }
}

/// The store's master key id, registering `current` when there is none.
/// Read first: a start on a store with its master registered writes
/// nothing (on SQLite a write would wait for a busy server's lock).
pub async fn store_master(db: &Db, current: &str) -> Result<String, sqlx::Error> {
    const INSERT: &str =
        "INSERT INTO master_key (one, key_id) VALUES (1, $1) ON CONFLICT (one) DO NOTHING";
    const SELECT: &str = "SELECT key_id FROM master_key";
    match db {
        Db::Postgres(pool) => {
            if let Some(id) = sqlx::query_scalar(SELECT).fetch_optional(pool).await? {
                return Ok(id);
            }
            sqlx::query(INSERT).bind(current).execute(pool).await?;
            sqlx::query_scalar(SELECT).fetch_one(pool).await
        }
        Db::Sqlite { writer, reader } => {
            if let Some(id) = sqlx::query_scalar(SELECT).fetch_optional(reader).await? {
                return Ok(id);
            }
            sqlx::query(&sqlite_sql(INSERT))
                .bind(current)
                .execute(writer)
                .await?;
            sqlx::query_scalar(SELECT).fetch_one(writer).await
        }
    }
}

/// Whether the store has a master key registered.
pub async fn has_master(db: &Db) -> Result<bool, sqlx::Error> {
    const SELECT: &str = "SELECT count(*) FROM master_key";
    let count: i64 = match db {
        Db::Postgres(pool) => sqlx::query_scalar(SELECT).fetch_one(pool).await?,
        Db::Sqlite { reader, .. } => sqlx::query_scalar(SELECT).fetch_one(reader).await?,
    };
    Ok(count > 0)
}

/// Makes `id` the store's master key (after a rotation re-wrapped every key).
pub async fn set_store_master(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    const UPDATE: &str = "UPDATE master_key SET key_id = $1, changed_at = CURRENT_TIMESTAMP";
    match db {
        Db::Postgres(pool) => sqlx::query(UPDATE).bind(id).execute(pool).await.map(drop)?,
        Db::Sqlite { writer, .. } => {
            let mut conn = writer.acquire().await?;
            projections::db::sqlite_write_lock(&mut conn).await?;
            let updated = sqlx::query(&sqlite_sql(UPDATE))
                .bind(id)
                .execute(&mut *conn)
                .await;
            let end = if updated.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            sqlx::query(end).execute(&mut *conn).await?;
            updated.map(drop)?;
        }
    };
    Ok(())
}
