//! Rebuilding the read models from the log, beside the live ones, while the
//! service runs: `eventauth replay` (build, then swap in), `eventauth
//! verify` (build, then compare), and the rebuild a start runs when the
//! read-model [`VERSION`](crate::schema::VERSION) changed.
//!
//! The rebuild happens in a scratch space made from the same DDL and
//! written by the same [`apply`](crate::projector::apply) as the live
//! tables: on PostgreSQL a schema of its own, first on the connection's
//! search path (the projection's SQL names its tables unqualified); on
//! SQLite temporary tables, which shadow the main ones on that connection.
//! Comparing in the same engine compares the same types: no false
//! differences from conversions, and no million rows in process memory.
//!
//! The swap (PostgreSQL), in one transaction: take the projector's lock
//! (the live projector finishes its batch and stands by), catch up to the
//! head of the log, move the live tables out and the rebuilt ones in
//! (`ALTER TABLE … SET SCHEMA`: indexes and constraints keep their names),
//! and set the projector's checkpoint to where the rebuild stands. The live
//! projector then continues from there on the new tables. SQLite, one
//! instance: the same under `BEGIN IMMEDIATE`, copying the rows in.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::projector::{self, READ_MODELS};
use crate::schema::{self, Table, TABLES};
use crate::{Conn, Cursor, Db, GlobalReader};

/// Events per transaction while building.
const BATCH: i64 = 5_000;
/// Differing keys shown per table and direction.
const SAMPLE: i64 = 20;

/// How far a build has come (for progress bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Events applied so far.
    pub applied: u64,
    /// Where the build stands in the global order.
    pub cursor: Cursor,
}

/// How the rebuilt rows of one table differ from the live ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDiff {
    /// The table.
    pub table: &'static str,
    /// Live rows the log does not produce (changed or extra): how many, and
    /// the keys of the first few.
    pub only_live: (i64, Vec<String>),
    /// Rows the log produces that the live table lacks or holds otherwise.
    pub only_rebuilt: (i64, Vec<String>),
}

impl TableDiff {
    /// Whether the table matches.
    pub fn is_empty(&self) -> bool {
        self.only_live.0 == 0 && self.only_rebuilt.0 == 0
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The checkpoint both sides were compared at.
    pub at: Cursor,
    /// Events the rebuild applied.
    pub applied: u64,
    /// One entry per table.
    pub tables: Vec<TableDiff>,
}

/// Read models being rebuilt beside the live ones.
#[derive(Debug)]
pub struct Scratch {
    space: Space,
    /// Where the log is read from (a connection of its own, so the next
    /// batch is read while the current one is applied).
    log: Log,
    cursor: Cursor,
    applied: u64,
}

#[derive(Debug)]
enum Space {
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

/// The step a build made.
struct Step {
    cursor: Cursor,
    applied: u64,
    /// Reached the target (or the readable end when there is none).
    done: bool,
}

impl Scratch {
    /// Empty read-model tables in a scratch space of their own, on a
    /// connection of their own.
    pub async fn create(db: &Db) -> anyhow::Result<Self> {
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

    /// Applies the log, one transaction per batch, up to `until` (exactly:
    /// everything at or before it, nothing after) or, without it, up to
    /// what is readable now.
    pub async fn build(
        &mut self,
        until: Option<Cursor>,
        progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<()> {
        let mut stalled = 0;
        let mut ahead = read_ahead(&self.log, self.cursor);
        loop {
            let batch = ahead.await??;
            // The next batch is read while this one is applied.
            ahead = read_ahead(&self.log, batch.next);
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
                ahead = read_ahead(&self.log, self.cursor);
            }
        }
    }

    fn advance(&mut self, step: &Step) {
        self.cursor = step.cursor;
        self.applied += step.applied;
    }

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
                catch_up(&mut Conn::Sqlite(&mut tx), &mut cursor, &mut applied, None).await?;
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

    /// Builds up to the live projector's checkpoint and compares the
    /// rebuilt tables with the live ones, row by row, every column. The
    /// live projector is held (its lock) only for the last catch-up and the
    /// comparison.
    pub async fn build_and_compare(
        mut self,
        db: &Db,
        progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<Verified> {
        let first = projector::checkpoint(db, READ_MODELS).await?;
        self.build(Some(first), progress).await?;
        let mut cursor = self.cursor;
        let mut applied = self.applied;
        let mut tables = Vec::new();
        match &mut self.space {
            Space::Postgres {
                conn, schema, live, ..
            } => {
                let mut tx = conn.begin().await?;
                projector::lock_postgres(&mut tx, READ_MODELS).await?;
                let at: (i64, i64) = sqlx::query_as(
                    "SELECT last_tx::text::bigint, last_pos FROM checkpoints WHERE name = $1",
                )
                .bind(READ_MODELS)
                .fetch_one(&mut *tx)
                .await?;
                let at = Cursor {
                    tx: at.0,
                    pos: at.1,
                };
                catch_up(
                    &mut Conn::Postgres(&mut tx),
                    &mut cursor,
                    &mut applied,
                    Some(at),
                )
                .await?;
                for table in TABLES {
                    tables.push(diff_postgres(&mut tx, table, live, schema).await?);
                }
                tx.rollback().await?;
            }
            Space::Sqlite { conn } => {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                let at: i64 =
                    sqlx::query_scalar("SELECT last_pos FROM main.checkpoints WHERE name = ?1")
                        .bind(READ_MODELS)
                        .fetch_one(&mut *tx)
                        .await?;
                let at = Cursor::sqlite(at);
                catch_up(
                    &mut Conn::Sqlite(&mut tx),
                    &mut cursor,
                    &mut applied,
                    Some(at),
                )
                .await?;
                for table in TABLES {
                    tables.push(diff_sqlite(&mut tx, table).await?);
                }
                tx.rollback().await?;
            }
        }
        progress(Progress { applied, cursor });
        self.close().await;
        Ok(Verified {
            at: cursor,
            applied,
            tables,
        })
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

/// Applies batches inside the caller's transaction until `until` (or,
/// without it, the readable end), advancing `cursor` and `applied`.
async fn catch_up(
    conn: &mut Conn<'_>,
    cursor: &mut Cursor,
    applied: &mut u64,
    until: Option<Cursor>,
) -> anyhow::Result<()> {
    if until.is_some_and(|until| *cursor >= until) {
        return Ok(());
    }
    loop {
        let step = step(conn, *cursor, until).await?;
        *cursor = step.cursor;
        *applied += step.applied;
        if step.done {
            return Ok(());
        }
    }
}

/// The log as a rebuild reads it.
#[derive(Debug)]
enum Log {
    /// A connection of the rebuild's own.
    Postgres(Arc<tokio::sync::Mutex<PgConnection>>),
    /// The store's readers.
    Sqlite(Db),
}

/// Reads the batch after `after` in a task of its own.
fn read_ahead(
    log: &Log,
    after: Cursor,
) -> tokio::task::JoinHandle<Result<crate::Batch, sqlx::Error>> {
    match log {
        Log::Postgres(conn) => {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut conn = conn.lock().await;
                GlobalReader::read(&mut Conn::Postgres(&mut conn), after, BATCH, None).await
            })
        }
        Log::Sqlite(db) => {
            let db = db.clone();
            tokio::spawn(async move { GlobalReader::read_from(&db, after, BATCH, None).await })
        }
    }
}

/// Reads one batch after `after` and applies it, stopping at `until`.
async fn step(conn: &mut Conn<'_>, after: Cursor, until: Option<Cursor>) -> anyhow::Result<Step> {
    let batch = GlobalReader::read(conn, after, BATCH, None).await?;
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

async fn diff_postgres(
    conn: &mut PgConnection,
    table: &Table,
    live: &str,
    scratch: &str,
) -> anyhow::Result<TableDiff> {
    let name = table.name;
    let columns: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
    )
    .bind(live)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    let columns = columns.unwrap_or_else(|| "*".to_string());
    let key = table
        .key
        .iter()
        .map(|k| format!("{k}::text"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sides = Vec::new();
    for (from, minus) in [(live, scratch), (scratch, live)] {
        let differing = format!(
            "SELECT {columns} FROM {from}.{name} EXCEPT ALL SELECT {columns} FROM {minus}.{name}"
        );
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ({differing}) d"))
            .fetch_one(&mut *conn)
            .await?;
        let keys: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT concat_ws(',', {key}) FROM ({differing}) d ORDER BY 1 LIMIT {SAMPLE}"
        ))
        .fetch_all(&mut *conn)
        .await?;
        sides.push((count, keys));
    }
    let only_rebuilt = sides.pop().unwrap_or_default();
    let only_live = sides.pop().unwrap_or_default();
    Ok(TableDiff {
        table: name,
        only_live,
        only_rebuilt,
    })
}

async fn diff_sqlite(conn: &mut SqliteConnection, table: &Table) -> anyhow::Result<TableDiff> {
    let name = table.name;
    let columns: Option<String> =
        sqlx::query_scalar("SELECT group_concat(name, ', ') FROM pragma_table_info(?1, 'main')")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    let columns = columns.unwrap_or_else(|| "*".to_string());
    let key = table
        .key
        .iter()
        .map(|k| {
            // UUID blobs shown as PostgreSQL shows them.
            let hex = format!("lower(hex({k}))");
            format!(
                "CASE WHEN typeof({k}) = 'blob' AND length({k}) = 16 THEN
                   substr({hex}, 1, 8) || '-' || substr({hex}, 9, 4) || '-' ||
                   substr({hex}, 13, 4) || '-' || substr({hex}, 17, 4) || '-' || substr({hex}, 21)
                 ELSE CAST({k} AS TEXT) END"
            )
        })
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    let mut sides = Vec::new();
    for (from, minus) in [("main", "temp"), ("temp", "main")] {
        let differing = format!(
            "SELECT {columns} FROM {from}.{name} EXCEPT SELECT {columns} FROM {minus}.{name}"
        );
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ({differing})"))
            .fetch_one(&mut *conn)
            .await?;
        let keys: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT {key} FROM ({differing}) ORDER BY 1 LIMIT {SAMPLE}"
        ))
        .fetch_all(&mut *conn)
        .await?;
        sides.push((count, keys));
    }
    let only_rebuilt = sides.pop().unwrap_or_default();
    let only_live = sides.pop().unwrap_or_default();
    Ok(TableDiff {
        table: name,
        only_live,
        only_rebuilt,
    })
}

/// Brings the live read models to this build's [`schema::VERSION`]:
/// nothing when they are at it already, else a rebuild swapped in (on
/// PostgreSQL under a lock, so instances starting together rebuild once).
/// Returns whether it rebuilt.
pub async fn ensure_version(db: &Db) -> anyhow::Result<bool> {
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
    let done = Scratch::create(db)
        .await?
        .build_and_swap(&mut |_| {})
        .await?;
    tracing::info!(events = done.applied, "read models rebuilt and swapped in");
    Ok(true)
}
