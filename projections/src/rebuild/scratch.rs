//! The scratch space: empty read-model tables beside the live ones, on a
//! connection of their own.

use std::sync::Arc;

use sqlx::{Connection, PgConnection, SqliteConnection};

use super::build::Log;
use crate::schema;
use crate::{Conn, Cursor, Db};

/// Read models being rebuilt beside the live ones.
#[derive(Debug)]
pub struct Scratch {
    pub(super) space: Space,
    /// Where the log is read from (a connection of its own, so the next
    /// batch is read while the current one is applied).
    pub(super) log: Log,
    pub(super) cursor: Cursor,
    pub(super) applied: u64,
    /// Opens the events read.
    pub(super) codec: std::sync::Arc<dyn crate::Codec>,
}

#[derive(Debug)]
pub(super) enum Space {
    Postgres {
        conn: PgConnection,
        /// Where the rebuild happens.
        schema: String,
        /// Where the live tables are.
        live: String,
        /// The connection's search path before the scratch schema was put
        /// in front of it.
        path: String,
    },
    Sqlite {
        conn: SqliteConnection,
    },
}

impl Scratch {
    /// Empty read-model tables in a scratch space of their own, on a
    /// connection of their own.
    pub async fn create(db: &Db, codec: std::sync::Arc<dyn crate::Codec>) -> anyhow::Result<Self> {
        let space = match db {
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let (live, path): (String, String) =
                    sqlx::query_as("SELECT current_schema(), current_setting('search_path')")
                        .fetch_one(&mut conn)
                        .await?;
                let id = uuid::Uuid::new_v4().simple().to_string();
                let schema = format!("eventauth_rebuild_{}", &id[..12]);
                // In front of the whole path: what the DDL names (pg_trgm's
                // operator class) resolves as it does for the live tables.
                sqlx::raw_sql(&format!(
                    "CREATE SCHEMA {schema}; SET search_path TO {schema}, {path};"
                ))
                .execute(&mut conn)
                .await?;
                schema::create_tables(&mut Conn::Postgres(&mut conn), "").await?;
                Space::Postgres {
                    conn,
                    schema,
                    live,
                    path,
                }
            }
            Db::Sqlite { writer, .. } => {
                let mut conn = writer.acquire().await?.detach();
                // Without the read indexes: they are only ever compared or
                // copied into the main tables (which have them).
                schema::create_tables(&mut Conn::Sqlite(&mut conn), "temp").await?;
                Space::Sqlite { conn }
            }
        };
        let log = match db {
            Db::Postgres(pool) => {
                let mut reader = pool.acquire().await?.detach();
                // Each batch in the global order, by the index that has it:
                // statistics that lag behind a freshly loaded log (an
                // import, a restore) made the planner read every remaining
                // event and sort them, per batch.
                sqlx::raw_sql("SET enable_bitmapscan = off; SET enable_sort = off")
                    .execute(&mut reader)
                    .await?;
                Log::Postgres(Arc::new(tokio::sync::Mutex::new(reader)))
            }
            Db::Sqlite { .. } => Log::Sqlite(db.clone()),
        };
        Ok(Self {
            space,
            log,
            cursor: Cursor::START,
            applied: 0,
            codec,
        })
    }

    /// Events applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Where the rebuild stands.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Drops the scratch space (what is left of it) and the connection.
    pub async fn close(self) {
        match self.space {
            Space::Postgres {
                mut conn, schema, ..
            } => {
                let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Space::Sqlite { conn } => {
                // Temporary tables go with their connection.
                let _ = conn.close().await;
            }
        }
    }
}
