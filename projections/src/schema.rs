//! The read-model tables: their DDL (per backend, in `projections/sql`:
//! the tables, and apart from them the indexes only reads use),
//! their version and what identifies their rows.
//!
//! The tables belong to the projections, not to the event store's
//! migrations: they can always be rebuilt from the log. A replay or verify
//! creates them again in a scratch space (a PostgreSQL schema, SQLite temp
//! tables) from this same DDL; a start whose [`VERSION`] differs from the
//! live one rebuilds them and swaps them in (see [`crate::rebuild`]).

use crate::{Conn, Db};

/// The version of the read-model tables this build writes. Bump it with any
/// change to the DDL or to what the projection writes.
/// 2: `users.tutorial_completed_at`. 3: `organizations`, `memberships`.
/// 4: `users.disabled`. 5: profile fields, categories and subscription
/// on `users`. 6: `counts`, indexes for every sort key and the search;
/// `organizations.parent_id` and `settings`. 7: `facility_users`.
/// 8: the sessions cutoff on `facility_users`. 9: `collection_roles`,
/// `facility_users.is_superuser`, its search index and partial covering
/// indexes of live users. 10: `memberships.membership_id`. 11:
/// `policy_roles`.
pub const VERSION: i32 = 11;

/// A read-model table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// The columns that identify a row (shown when rows differ).
    pub key: &'static [&'static str],
}

/// Every read-model table, in creation order.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: &["user_id"],
    },
    Table {
        name: "sessions",
        key: &["session_id"],
    },
    Table {
        name: "organizations",
        key: &["organization_id"],
    },
    Table {
        name: "memberships",
        key: &["organization_id", "user_id"],
    },
    Table {
        name: "counts",
        key: &["name"],
    },
    Table {
        name: "facility_users",
        key: &["user_id"],
    },
    Table {
        name: "collection_roles",
        key: &["role_id"],
    },
    Table {
        name: "policy_roles",
        key: &["role_id"],
    },
];

const POSTGRES: &str = include_str!("../sql/postgres.sql");
const POSTGRES_INDEXES: &str = include_str!("../sql/postgres_indexes.sql");
const SQLITE: &str = include_str!("../sql/sqlite.sql");
const SQLITE_INDEXES: &str = include_str!("../sql/sqlite_indexes.sql");

/// Creates the tables that do not exist yet, with every index: on
/// PostgreSQL in the first schema of the connection's search path, on
/// SQLite in `sqlite_schema` (`main` or `temp`).
pub async fn create(conn: &mut Conn<'_>, sqlite_schema: &str) -> Result<(), sqlx::Error> {
    create_tables(conn, sqlite_schema).await?;
    create_indexes(conn, sqlite_schema).await
}

/// Creates the tables with only the indexes the projection's own
/// statements need (primary keys, sessions by user): what a rebuild
/// fills, adding the rest with [`create_indexes`] once it is full.
pub async fn create_tables(conn: &mut Conn<'_>, sqlite_schema: &str) -> Result<(), sqlx::Error> {
    run(conn, POSTGRES, SQLITE, sqlite_schema).await
}

/// Creates the indexes lists, sorts and searches read through.
pub async fn create_indexes(conn: &mut Conn<'_>, sqlite_schema: &str) -> Result<(), sqlx::Error> {
    run(conn, POSTGRES_INDEXES, SQLITE_INDEXES, sqlite_schema).await
}

async fn run(
    conn: &mut Conn<'_>,
    postgres: &str,
    sqlite: &str,
    sqlite_schema: &str,
) -> Result<(), sqlx::Error> {
    match conn {
        Conn::Postgres(conn) => {
            sqlx::raw_sql(postgres).execute(&mut **conn).await?;
        }
        Conn::Sqlite(conn) => {
            let ddl = sqlite.replace("{schema}", sqlite_schema);
            sqlx::raw_sql(&ddl).execute(&mut **conn).await?;
        }
    }
    Ok(())
}

/// The version of the live tables (1 when none was recorded: the tables
/// the first migrations created).
pub async fn live_version(db: &Db) -> Result<i32, sqlx::Error> {
    let version: Option<i32> = match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT version FROM read_model_schema")
                .fetch_optional(pool)
                .await?
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar("SELECT version FROM read_model_schema")
                .fetch_optional(reader)
                .await?
        }
    };
    Ok(version.unwrap_or(1))
}
