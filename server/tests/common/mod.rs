//! Helpers shared by the server's integration tests (each test file includes this module).

#![allow(dead_code)]

use rechain_server::{
    app::{self, RunningServer},
    config::Config,
    http::router::Router,
};

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.data_dir = dir.to_path_buf();
    config.listen.client = "127.0.0.1:0".parse().unwrap();
    // Tests that exercise rate limiting turn it back on.
    config.rate_limits.enabled = false;
    config
}

/// Starts a server with the normal route table.
pub async fn start(config: Config) -> RunningServer {
    app::start(config).await.unwrap()
}

/// Starts a server whose route table is `router` (to test the dispatcher on its own).
pub async fn start_with_router(config: Config, router: Router) -> RunningServer {
    let state = app::build_state(config).await.unwrap().with_router(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    app::serve(state, listener).unwrap()
}

pub fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.client_addr)
}

pub mod http;
pub mod process;
pub mod room_gen;
