//! The diesel implementation of the storage traits: the only place with SQL.
//!
//! One `DbConnection` (a diesel `MultiConnection`) covers SQLite and PostgreSQL; the backend is
//! picked from the URL. diesel is blocking, so every query runs on tokio's blocking pool via
//! [`Database::read`] / [`Database::write`].
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a transaction is on disk
//! (WAL fsynced) before its commit returns, and an acknowledged write survives a power cut, not
//! only a process crash (`NORMAL` would only survive the latter). PostgreSQL keeps its default
//! `synchronous_commit = on`. Writes to SQLite are serialised in-process (one writer) so they
//! queue on a semaphore instead of spinning on SQLite's lock.

mod account_data;
mod aliases;
mod connection;
mod devices;
mod directory;
mod e2e_keys;
mod filters;
mod key_backup;
mod media;
mod notifications;
mod profiles;
mod receipts;
mod relations;
mod reports;
mod rooms;
mod schema;
mod streams;
mod to_device;
mod token_cache;
mod users;

#[cfg(test)]
mod contract_tests;

use std::{sync::Arc, time::Duration};

use ::diesel::{connection::SimpleConnection as _, result::DatabaseErrorKind};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

pub use self::connection::DbConnection;

/// Streams whose positions readers page through ("everything after position n").
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Receipts = 1,
    AccountData = 2,
    ToDevice = 3,
    DeviceLists = 4,
}

/// Takes the stream's lock until the transaction ends. On PostgreSQL, ids from a sequence (or
/// a `max + 1`) can otherwise commit out of order, and a reader that saw n + 1 before n
/// committed would skip n for good; holding the lock from id to commit keeps each stream's
/// commits in id order, and on PostgreSQL alone (SQLite already has one writer). Take it as the
/// transaction's last lock, or first and only: nothing else waits while holding it.
pub(crate) fn lock_stream(conn: &mut DbConnection, stream: Stream) -> ::diesel::QueryResult<()> {
    use ::diesel::RunQueryDsl as _;
    if let DbConnection::Postgres(pg) = conn {
        ::diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<::diesel::sql_types::BigInt, _>(0x5245_4348_0000_i64 + stream as i64)
            .execute(pg)?;
    }
    Ok(())
}
use self::connection::Manager;
use super::{DatabaseHealth, Error, ErrorKind, PoolState, Stores};
use crate::config::DatabaseUrl;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

type Pool = ::diesel::r2d2::Pool<Manager>;

/// A connection pool plus the write discipline of its backend.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    backend: Backend,
    /// SQLite has one writer: writers wait here rather than on the database lock.
    write_gate: Option<Arc<Semaphore>>,
    /// Unread counts already tallied, extended rather than recounted.
    unread_tallies: Arc<notifications::UnreadTallies>,
    /// Access tokens resolved recently (`token_cache`'s invariant).
    tokens: Arc<token_cache::TokenCache>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Database {
    /// Opens a pool (creating the SQLite file and its directory if needed) and applies pending
    /// migrations. Blocking: call it from `spawn_blocking` or before the runtime is busy.
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Self, Error> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        Error::new(
                            ErrorKind::Unavailable,
                            format!("cannot create {}: {e}", parent.display()),
                        )
                    })?;
                }
                let path_str = path.to_str().ok_or_else(|| {
                    Error::new(ErrorKind::Unavailable, "SQLite path is not UTF-8")
                })?;
                connection::prepare_sqlite_file(path_str).map_err(unavailable)?;
                Backend::Sqlite
            }
            DatabaseUrl::Postgres(url) => {
                // One direct attempt first: it reports the server's own error (refused, no such
                // database, auth) at once, where the pool would retry until its timeout.
                connection::check_postgres(url).map_err(unavailable)?;
                Backend::Postgres
            }
        };
        let size = match (pool_size, backend) {
            (0, Backend::Sqlite) => 4,
            (0, Backend::Postgres) => 16,
            (n, _) => n,
        };
        let pool = ::diesel::r2d2::Pool::builder()
            .max_size(size)
            // Not pinged on every checkout: the ping is a round trip per store call on
            // PostgreSQL (a sync makes some twenty). A connection the database closed fails
            // its next call as unavailable and is then dropped (`Manager::has_broken`); the
            // contract test `connections_the_database_closed_are_replaced` holds to that.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(Manager::new(url.clone()))
            .map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1)));
        let db = Self {
            pool,
            backend,
            write_gate,
            unread_tallies: Arc::default(),
            tokens: Arc::default(),
        };
        db.run_migrations()?;
        Ok(db)
    }

    /// Every store, backed by this database.
    pub fn into_stores(self) -> Stores {
        let db = Arc::new(self);
        Stores {
            users: db.clone(),
            devices: db.clone(),
            filters: db.clone(),
            account_data: db.clone(),
            aliases: db.clone(),
            directory: db.clone(),
            keys: db.clone(),
            key_backups: db.clone(),
            media: db.clone(),
            notifications: db.clone(),
            profiles: db.clone(),
            receipts: db.clone(),
            relations: db.clone(),
            reports: db.clone(),
            rooms: db.clone(),
            streams: db.clone(),
            to_device: db.clone(),
            health: db,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration; returns the names of those applied.
    pub fn run_migrations(&self) -> Result<Vec<String>, Error> {
        let mut conn = self.pool.get().map_err(unavailable)?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
            DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| Error::new(ErrorKind::Internal, format!("migration failed: {e}")))?;
        Ok(applied.into_iter().map(|v| v.to_string()).collect())
    }

    /// Runs `f` with a pooled connection on the blocking pool, or in place on a thread running
    /// with direct storage (see `storage::with_direct_storage`).
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ::diesel::result::Error> + Send + 'static,
    {
        if crate::storage::is_direct() {
            return run_on(&self.pool, f);
        }
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || run_on(&pool, f))
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("database task failed: {e}")))?
    }

    /// Runs `f` in a transaction, one writer at a time on SQLite. Returns once committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ::diesel::result::Error> + Send + 'static,
    {
        self.write_then_forget(f, false).await
    }

    /// A write that changes access tokens, devices or the users they belong to. The token
    /// cache is emptied on the thread that ran the transaction, once it has ended: a caller
    /// that stops waiting cannot leave a deleted token cached.
    async fn write_tokens<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ::diesel::result::Error> + Send + 'static,
    {
        self.write_then_forget(f, true).await
    }

    async fn write_then_forget<T, F>(&self, f: F, forget_tokens: bool) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ::diesel::result::Error> + Send + 'static,
    {
        let _permit = match &self.write_gate {
            Some(gate) => Some(
                gate.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::new(ErrorKind::Internal, "write gate closed"))?,
            ),
            None => None,
        };
        let tokens = forget_tokens.then(|| self.tokens.clone());
        self.read(move |conn| {
            use ::diesel::Connection as _;
            let result = conn.transaction(f);
            if let Some(tokens) = tokens {
                tokens.invalidate();
            }
            result
        })
        .await
    }
}

#[async_trait::async_trait]
impl DatabaseHealth for Database {
    async fn ping(&self) -> Result<(), Error> {
        self.read(|conn| conn.batch_execute("SELECT 1")).await
    }

    fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: self.pool.max_size(),
        }
    }

    fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Runs `f` on a pooled connection; a connection the server has gone from is dropped, not
/// returned to the pool.
fn run_on<T>(
    pool: &Pool,
    f: impl FnOnce(&mut DbConnection) -> Result<T, ::diesel::result::Error>,
) -> Result<T, Error> {
    let mut conn = pool.get().map_err(unavailable)?;
    let result = f(&mut conn).map_err(from_diesel);
    if result
        .as_ref()
        .is_err_and(|e| e.kind == ErrorKind::Unavailable)
    {
        connection::mark_lost();
    }
    drop(conn);
    result
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("no database connection: {e}"),
    )
}

fn from_diesel(e: ::diesel::result::Error) -> Error {
    use ::diesel::result::Error as D;
    match &e {
        D::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            Error::new(ErrorKind::Conflict, info.message().to_owned())
        }
        D::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            Error::new(ErrorKind::Unavailable, e.to_string())
        }
        // libpq's words for a connection the server ended, which diesel does not always
        // classify as closed (a call on a connection already known to be dead).
        D::DatabaseError(_, info)
            if [
                "no connection to the server",
                "server closed the connection",
                "terminating connection",
            ]
            .iter()
            .any(|lost| info.message().contains(lost)) =>
        {
            Error::new(ErrorKind::Unavailable, e.to_string())
        }
        _ => Error::new(ErrorKind::Internal, e.to_string()),
    }
}
