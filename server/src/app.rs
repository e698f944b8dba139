//! Starting and stopping a server: data directory, signing key, database, listeners.

use std::{net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    cache::{CacheError, RedisCache},
    config::{Config, DatabaseUrl},
    http::{self, AppState},
    service::{Services, server_keys},
    storage::{self, diesel::Database},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("signing key: {0}")]
    SigningKey(#[from] server_keys::KeyFileError),
    #[error("database: {0}")]
    Database(#[from] storage::Error),
    #[error("redis.url: {0}")]
    Redis(#[from] CacheError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A server running on the current tokio runtime.
pub struct RunningServer {
    /// Where the client API listens (the real port when the config asked for port 0).
    pub client_addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, finishes the requests in flight, and returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the server task ends (it ends on `shutdown` or if the listener fails).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }

    /// A handle that stops the server when `send` is called.
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Opens the database (applying migrations) with the configured URL.
pub async fn open_database(config: &Config) -> Result<Database, StartError> {
    let url = DatabaseUrl::parse(&config.database_url()).map_err(|reason| {
        storage::Error::new(
            storage::ErrorKind::Internal,
            format!("database.url: {reason}"),
        )
    })?;
    let pool_size = config.database.pool_size;
    let db = tokio::task::spawn_blocking(move || Database::open(&url, pool_size))
        .await
        .map_err(|e| storage::Error::new(storage::ErrorKind::Internal, e.to_string()))??;
    Ok(db)
}

/// Builds every service from a validated config.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let signing_key = server_keys::load_or_generate(&config.data_dir)?;
    let db = open_database(&config).await?;
    let redis = match config.redis.url.as_str() {
        "" => None,
        url => Some(RedisCache::new(url)?),
    };
    let stores = db.into_stores();
    let services = Services::new(&config, stores, redis, signing_key);
    http::ops::metrics_handle();
    Ok(AppState::new(Arc::new(config), Arc::new(services)))
}

/// Builds the services, binds the client listener and serves until shut down.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let addr = config.listen.client;
    let state = build_state(config).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    serve(state, listener)
}

/// Serves `state` (its route table included) on an already bound listener.
pub fn serve(state: AppState, listener: TcpListener) -> Result<RunningServer, StartError> {
    let client_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let filter = http::client_filter(state.clone());
    let task = tokio::spawn(
        warp::serve(filter)
            .incoming(listener)
            .graceful(async {
                let _ = shutdown_rx.await;
            })
            .run(),
    );
    tracing::info!(%client_addr, server_name = %state.config.server_name, "listening");
    Ok(RunningServer {
        client_addr,
        state,
        shutdown: Some(shutdown_tx),
        task,
    })
}
