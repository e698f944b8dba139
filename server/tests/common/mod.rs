//! Helpers shared by the server's integration tests (each test file includes this module).

#![allow(dead_code)]

use std::sync::Arc;

use rechain_server::{
    app::{self, RunningServer},
    config::Config,
    http::router::Router,
    service::{Services, accounts::AuthedUser},
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

/// The services of a server on `dir`, without HTTP (for tests of the service layer).
pub async fn services(dir: &std::path::Path) -> Arc<Services> {
    app::build_state(test_config(dir)).await.unwrap().services
}

/// A session of `user_id` on device `DEV`, as the HTTP layer would hand it to a service.
pub fn session(user_id: &str) -> AuthedUser {
    AuthedUser {
        user_id: user_id.try_into().unwrap(),
        device_id: "DEV".into(),
        is_guest: false,
        client_ip: None,
    }
}

pub fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.client_addr)
}

pub mod http;
pub mod process;
pub mod room_gen;
