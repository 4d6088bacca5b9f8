//! The storage seam of the read side: one enum over the two backends.
//!
//! SQL that both dialects understand is written once, in PostgreSQL's
//! placeholder style (`$1`), and rewritten to SQLite's numbered style
//! (`?1`) when it runs there ([`sqlite_sql`]); the few statements that
//! differ (the global reader's horizon, checkpoint locking) are written per
//! backend next to each other.

use std::borrow::Cow;

use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

/// The database of one instance.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL: any number of instances.
    Postgres(PgPool),
    /// SQLite (embedded): one instance; one writer connection, so writers
    /// queue in the pool instead of failing with "database is locked".
    Sqlite {
        /// Read-only work.
        reader: SqlitePool,
        /// The single writer connection.
        writer: SqlitePool,
    },
}

impl Db {
    /// The PostgreSQL pool, when that is the backend.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(pool) => Some(pool),
            Self::Sqlite { .. } => None,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite { reader, writer } => {
                reader.close().await;
                writer.close().await;
            }
        }
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> bool {
        match self {
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Self::Sqlite { reader, .. } => sqlx::query("SELECT 1").execute(reader).await.is_ok(),
        }
    }
}

/// A connection of either backend, for statements inside a transaction.
#[derive(Debug)]
pub enum Conn<'c> {
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
    /// SQLite.
    Sqlite(&'c mut SqliteConnection),
}

/// `$1`-style placeholders to SQLite's `?1` (same numbering).
pub fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Runs one statement written once for both backends on a [`Conn`],
/// binding the same arguments; evaluates to the rows affected.
#[macro_export]
macro_rules! execute {
    ($conn:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $conn {
            $crate::db::Conn::Postgres(c) => sqlx::query($sql)
                $(.bind($arg))*
                .execute(&mut **c)
                .await
                .map(|done| done.rows_affected()),
            $crate::db::Conn::Sqlite(c) => sqlx::query(&$crate::db::sqlite_sql($sql))
                $(.bind($arg))*
                .execute(&mut **c)
                .await
                .map(|done| done.rows_affected()),
        }
    };
}

/// Fetches rows of a `FromRow` type from either backend with one
/// statement written once; evaluates to `Result<Vec<T>, sqlx::Error>`.
/// `unprepared` first: not kept as a prepared statement, so PostgreSQL
/// plans it for the values at hand (no cached generic plan).
#[macro_export]
macro_rules! fetch_all {
    (unprepared $db:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::fetch_all!(@run false; $db, $ty, $sql $(, $arg)*)
    };
    (@run $persistent:expr; $db:expr, $ty:ty, $sql:expr $(, $arg:expr)*) => {
        match $db {
            $crate::db::Db::Postgres(pool) => sqlx::query_as::<_, $ty>($sql)
                $(.bind($arg))*
                .persistent($persistent)
                .fetch_all(pool)
                .await,
            $crate::db::Db::Sqlite { reader, .. } => sqlx::query_as::<_, $ty>(&$crate::db::sqlite_sql($sql))
                $(.bind($arg))*
                .persistent($persistent)
                .fetch_all(reader)
                .await,
        }
    };
    ($db:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::fetch_all!(@run true; $db, $ty, $sql $(, $arg)*)
    };
}

/// Runs one writing statement written once for both backends on the
/// instance's database (PostgreSQL's pool, SQLite's writer); evaluates to
/// the rows affected.
#[macro_export]
macro_rules! execute_on {
    ($db:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $db {
            $crate::db::Db::Postgres(pool) => sqlx::query($sql)
                $(.bind($arg))*
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            $crate::db::Db::Sqlite { writer, .. } => sqlx::query(&$crate::db::sqlite_sql($sql))
                $(.bind($arg))*
                .execute(writer)
                .await
                .map(|done| done.rows_affected()),
        }
    };
}

/// Why the database could not serve a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No connection could be had in time (the pool's wait ended, or it is
    /// closed): trying again at once would wait as long again.
    NoConnection,
    /// The connection broke under the statement (server restarting, socket
    /// error): another connection may well work.
    ConnectionLost,
}

/// Whether `error` or one of its sources is a lost or unobtainable
/// database connection (not a fault of the statement): the database down
/// or restarting, out of connection slots, the pool's wait over, a socket
/// or wire error. Such failures are expected during an outage and end
/// with it.
pub fn outage(error: &(dyn std::error::Error + 'static)) -> Option<Outage> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(error) = error.downcast_ref::<sqlx::Error>() {
            if matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) {
                return Some(Outage::NoConnection);
            }
            if lost_connection(error) {
                return Some(Outage::ConnectionLost);
            }
        }
        next = error.source();
    }
    None
}

/// [`outage`] as a yes or no.
pub fn caused_by_outage(error: &(dyn std::error::Error + 'static)) -> bool {
    outage(error).is_some()
}

/// SQLSTATE class 08 (connection exception), 57P01–57P03 (shutting down,
/// cannot connect now), 53300 (too many connections), and the pool's and
/// the wire's own failures.
pub fn lost_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Takes SQLite's write lock on `conn` (`BEGIN IMMEDIATE`), trying every
/// millisecond for as long as the connection's busy timeout. SQLite's
/// own busy handler sleeps up to 100 ms between tries, and a server
/// committing back to back frees the lock for microseconds between
/// transactions: an operator's command in another process could miss every
/// gap for minutes. Commit or roll back with plain `COMMIT`/`ROLLBACK`.
pub async fn sqlite_write_lock(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    let patience: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await?;
    conn.execute("PRAGMA busy_timeout = 0").await?;
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(patience.max(0) as u64);
    let taken = loop {
        match conn.execute("BEGIN IMMEDIATE").await {
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some("5") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            outcome => break outcome.map(drop),
        }
    };
    conn.execute(format!("PRAGMA busy_timeout = {patience}").as_str())
        .await?;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_sqlite_and_nothing_else_changes() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $2, b = '$x' WHERE id = $1 AND v < $2"),
            "UPDATE t SET a = ?2, b = '$x' WHERE id = ?1 AND v < ?2"
        );
        assert!(matches!(sqlite_sql("SELECT 1"), Cow::Borrowed(_)));
    }
}
