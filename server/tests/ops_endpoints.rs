//! `/health`, `/ready` and `/metrics` on a real server.

mod common;

async fn get_async(addr: std::net::SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || common::http::get(addr, path))
        .await
        .unwrap()
}

#[tokio::test]
async fn health_is_ok_while_the_process_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(common::test_config(dir.path())).await;
    let (status, body) = get_async(server.client_addr, "/health").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn ready_checks_the_database_and_reports_redis_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(common::test_config(dir.path())).await;
    let (status, body) = get_async(server.client_addr, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"database\":\"ok\""), "{body}");
    assert!(body.contains("not configured"), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn ready_is_503_when_redis_is_configured_but_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.redis.url = "redis://127.0.0.1:1/".to_owned();
    let server = common::start(config).await;
    let (status, body) = get_async(server.client_addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"redis\":\"failed"), "{body}");
    server.shutdown().await;
}

/// CI sets `REC_TEST_REDIS_URL`; without it (a contributor's machine) there is nothing to test.
#[tokio::test]
async fn ready_is_200_when_configured_redis_answers() {
    let Some(url) = std::env::var("REC_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.redis.url = url;
    let server = common::start(config).await;
    let (status, body) = get_async(server.client_addr, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"redis\":\"ok\""), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn ready_is_503_when_the_postgres_database_goes_away() {
    let Some(admin_url) = std::env::var("REC_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    use diesel::{Connection as _, RunQueryDsl as _};
    let name = format!("rechain_ready_{:016x}", rand::random::<u64>());
    let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    let prefix = admin_url
        .split('?')
        .next()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.database.url = format!("{prefix}/{name}");
    config.database.pool_size = 2;
    let server = common::start(config).await;
    assert_eq!(get_async(server.client_addr, "/ready").await.0, 200);
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    let (status, body) = get_async(server.client_addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"database\":\"failed"), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_report_requests_pool_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(common::test_config(dir.path())).await;
    get_async(server.client_addr, "/_matrix/client/versions").await;
    let (status, body) = get_async(server.client_addr, "/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "rechain_http_requests_total{endpoint=\"/_matrix/client/versions\",method=\"GET\",status=\"200\"}",
        "rechain_http_request_duration_seconds_bucket{endpoint=\"/_matrix/client/versions\"",
        "rechain_db_pool_max_connections{backend=\"sqlite\"}",
        "rechain_process_resident_memory_bytes",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    server.shutdown().await;
}
