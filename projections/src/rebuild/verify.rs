//! Verifying: the rebuilt tables compared with the live ones, row by row,
//! in the same engine.

use sqlx::{Connection, PgConnection, SqliteConnection};

use super::build::catch_up;
use super::scratch::Space;
use super::{Progress, Scratch};
use crate::projector::{self, READ_MODELS};
use crate::schema::{Table, TABLES};
use crate::{Conn, Cursor, Db};

/// Differing keys shown per table and direction.
const SAMPLE: i64 = 20;

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

impl Scratch {
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
                    self.codec.as_ref(),
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
                    self.codec.as_ref(),
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
