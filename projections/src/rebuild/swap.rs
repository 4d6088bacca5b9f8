//! Swapping the rebuilt tables in for the live ones, and the rebuild a
//! start runs when the read-model version changed.

use sqlx::Connection;

use super::build::catch_up;
use super::scratch::Space;
use super::{Progress, Scratch};
use crate::projector::{self, READ_MODELS};
use crate::schema::{self, Table, TABLES};
use crate::{Conn, Db};

impl Scratch {
    /// Builds up to the head of the log, then swaps the rebuilt tables in
    /// and moves the live projector's checkpoint to where they stand, in
    /// one transaction. Returns the events applied in total.
    pub async fn build_and_swap(
        mut self,
        progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<Progress> {
        self.build(None, progress).await?;
        if let Space::Postgres { conn, .. } = &mut self.space {
            // The read indexes, built once over the full tables (not kept
            // up to date row by row while building), before the lock: the
            // live projector runs on meanwhile, the catch-up below is short.
            sqlx::query("SET maintenance_work_mem = '256MB'")
                .execute(&mut *conn)
                .await?;
            schema::create_indexes(&mut Conn::Postgres(conn), "").await?;
        }
        let mut cursor = self.cursor;
        let mut applied = self.applied;
        match &mut self.space {
            Space::Postgres {
                conn,
                schema,
                live,
                path,
            } => {
                let mut tx = conn.begin().await?;
                projector::lock_postgres(&mut tx, READ_MODELS).await?;
                catch_up(
                    &mut Conn::Postgres(&mut tx),
                    self.codec.as_ref(),
                    &mut cursor,
                    &mut applied,
                    None,
                )
                .await?;
                let retired = format!("{schema}_retired");
                let mut ddl = format!("CREATE SCHEMA {retired};");
                for Table { name, .. } in TABLES {
                    ddl.push_str(&format!(
                        "ALTER TABLE IF EXISTS {live}.{name} SET SCHEMA {retired};
                         ALTER TABLE {schema}.{name} SET SCHEMA {live};"
                    ));
                }
                ddl.push_str(&format!(
                    "DROP SCHEMA {retired} CASCADE; DROP SCHEMA {schema} CASCADE;"
                ));
                sqlx::raw_sql(&ddl).execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE checkpoints SET last_tx = $2::text::xid8, last_pos = $3, updated_at = now()
                      WHERE name = $1",
                )
                .bind(READ_MODELS)
                .bind(cursor.tx.to_string())
                .bind(cursor.pos)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO read_model_schema (version) VALUES ($1)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                )
                .bind(schema::VERSION)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                sqlx::raw_sql(&format!("SET search_path TO {path}"))
                    .execute(&mut *conn)
                    .await?;
            }
            Space::Sqlite { conn } => {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                catch_up(
                    &mut Conn::Sqlite(&mut tx),
                    self.codec.as_ref(),
                    &mut cursor,
                    &mut applied,
                    None,
                )
                .await?;
                for Table { name, .. } in TABLES {
                    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS main.{name}"))
                        .execute(&mut *tx)
                        .await?;
                }
                schema::create(&mut Conn::Sqlite(&mut tx), "main").await?;
                // OR REPLACE: the fresh tables hold their seed rows (counts).
                for Table { name, .. } in TABLES {
                    sqlx::raw_sql(&format!(
                        "INSERT OR REPLACE INTO main.{name} SELECT * FROM temp.{name}"
                    ))
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE main.checkpoints SET last_pos = ?2 WHERE name = ?1")
                    .bind(READ_MODELS)
                    .bind(cursor.pos)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO main.read_model_schema (version) VALUES (?1)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                )
                .bind(schema::VERSION)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        let done = Progress { applied, cursor };
        progress(done);
        self.close().await;
        Ok(done)
    }
}

/// Brings the live read models to this build's [`schema::VERSION`]:
/// nothing when they are at it already, else a rebuild swapped in (on
/// PostgreSQL under a lock, so instances starting together rebuild once).
/// Returns whether it rebuilt.
pub async fn ensure_version(
    db: &Db,
    codec: std::sync::Arc<dyn crate::Codec>,
) -> anyhow::Result<bool> {
    let _guard = match db {
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?.detach();
            sqlx::query(
                "SELECT pg_advisory_lock(hashtextextended('eventauth.read_models.schema', 0))",
            )
            .execute(&mut conn)
            .await?;
            Some(conn)
        }
        Db::Sqlite { .. } => None,
    };
    let live = schema::live_version(db).await?;
    if live == schema::VERSION {
        return Ok(false);
    }
    tracing::warn!(
        from = live,
        to = schema::VERSION,
        "read-model tables change version: rebuilding them from the log"
    );
    let done = Scratch::create(db, codec)
        .await?
        .build_and_swap(&mut |_| {})
        .await?;
    tracing::info!(events = done.applied, "read models rebuilt and swapped in");
    Ok(true)
}
