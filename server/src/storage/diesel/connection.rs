//! The connection type over both backends and the r2d2 manager that opens it.

use ::diesel::{
    Connection as _, PgConnection, SqliteConnection, connection::SimpleConnection as _,
    r2d2::R2D2Connection as _,
};

use crate::config::DatabaseUrl;

#[derive(::diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Settings applied to every new SQLite connection. `busy_timeout` comes first so that every
/// later statement waits for locks instead of failing.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 10000;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;";

/// Switches the database file to WAL. The mode is stored in the file, so this runs once, on a
/// lone connection before the pool exists: switching takes an exclusive lock, and SQLite does
/// not wait on its busy handler for it, so the pool's concurrent first connections would fail
/// with "database is locked".
pub fn prepare_sqlite_file(path: &str) -> Result<(), ::diesel::r2d2::Error> {
    use ::diesel::r2d2::Error as E;
    let mut conn = SqliteConnection::establish(path).map_err(E::ConnectionError)?;
    conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
        .map_err(E::QueryError)
}

/// Opens connections for the backend named by the URL. diesel's own `ConnectionManager` would
/// try each backend in turn, and SQLite accepts any string as a file name, so a mistyped
/// PostgreSQL URL would silently create a file.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

impl ::diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ::diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use ::diesel::r2d2::Error as E;
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    E::ConnectionError(::diesel::ConnectionError::BadConnection(
                        "SQLite path is not UTF-8".to_owned(),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path).map_err(E::ConnectionError)?;
                conn.batch_execute(SQLITE_SETUP).map_err(E::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let conn = PgConnection::establish(url).map_err(E::ConnectionError)?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(::diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken() || LOST.take()
    }
}

thread_local! {
    /// Set when a call on this thread's connection found the server gone. diesel's
    /// `is_broken` looks only at the transaction state, so without this a connection the
    /// server closed would go back to the pool and fail every later call.
    static LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the connection in use on this thread as lost: the pool drops it when it comes back
/// (connections return to the pool on the thread that used them).
pub(super) fn mark_lost() {
    LOST.set(true);
}

/// Opens and closes one PostgreSQL connection.
pub fn check_postgres(url: &str) -> Result<(), ::diesel::ConnectionError> {
    PgConnection::establish(url).map(drop)
}

#[cfg(test)]
mod tests {
    use ::diesel::{Connection as _, RunQueryDsl as _, SqliteConnection, dsl::sql, sql_types};

    /// `.cargo/config.toml` builds SQLite with the query planner stability guarantee; without
    /// it every statement with `LIMIT ?` is prepared again each time it runs.
    #[test]
    fn sqlite_keeps_its_plans_when_parameters_change() {
        let mut conn = SqliteConnection::establish(":memory:").expect("in-memory database");
        let used: i32 = ::diesel::select(sql::<sql_types::Integer>(
            "sqlite_compileoption_used('ENABLE_QPSG')",
        ))
        .get_result(&mut conn)
        .expect("compile options are readable");
        assert_eq!(used, 1, "SQLite was built without SQLITE_ENABLE_QPSG");
    }
}
