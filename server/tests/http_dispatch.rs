//! The dispatcher on its own: body limits, JSON errors, panics, request ids. These run against
//! a route table built for the test, so they do not depend on which endpoints exist yet.

mod common;

use rechain_server::{
    http::router::Router,
    service::{Error, ErrorKind},
};
use ruma::api::client::{discovery::get_supported_versions, session::login};
use serde_json::Value;

fn test_router() -> Router {
    let mut router = Router::default();
    router.endpoint(|_, _request: login::v3::Request| async {
        Err::<login::v3::Response, _>(Error::new(ErrorKind::Forbidden, "parsed"))
    });
    router.endpoint(|_, _request: get_supported_versions::Request| async {
        if true {
            panic!("handler bug");
        }
        Ok(get_supported_versions::Response::new(vec![]))
    });
    router
}

async fn post(
    server: &rechain_server::app::RunningServer,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let (addr, path) = (server.client_addr, path.to_owned());
    tokio::task::spawn_blocking(move || {
        let (status, _, json) = common::http::post_bytes(addr, &path, &body);
        (status, json)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn body_that_is_not_json_is_m_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with_router(common::test_config(dir.path()), test_router()).await;
    let (status, body) = post(&server, "/_matrix/client/v3/login", b"{not json".to_vec()).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_NOT_JSON")),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_m_bad_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with_router(common::test_config(dir.path()), test_router()).await;
    let body = br#"{"type": "m.login.password", "identifier": 5, "password": []}"#.to_vec();
    let (status, body) = post(&server, "/_matrix/client/v3/login", body).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{body}"
    );
    server.shutdown().await;
}

/// Regression: ruma 0.17.2 panics while parsing `POST /login` with `{}` (STACK.md, trap 6).
/// The dispatcher must answer a Matrix error and keep serving.
#[tokio::test]
async fn parser_panic_on_empty_login_is_a_matrix_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with_router(common::test_config(dir.path()), test_router()).await;
    for body in [b"{}".to_vec(), Vec::new()] {
        let (status, json) = post(&server, "/_matrix/client/v3/login", body).await;
        assert_eq!(status, 400, "{json}");
        assert_eq!(json["errcode"], "M_BAD_JSON", "{json}");
    }
    let (status, json) =
        post(&server, "/_matrix/client/v3/login", br#"{"type":"m.login.password","identifier":{"type":"m.id.user","user":"a"},"password":"p"}"#.to_vec()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (403, Some("parsed")),
        "{json}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn handler_panic_is_a_500_without_details_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with_router(common::test_config(dir.path()), test_router()).await;
    let addr = server.client_addr;
    for _ in 0..2 {
        let (status, json, _) = tokio::task::spawn_blocking(move || {
            raw_json(
                addr,
                b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .await
        .unwrap();
        assert_eq!(status, 500);
        assert_eq!(json["errcode"], "M_UNKNOWN");
        assert!(!json.to_string().contains("handler bug"), "{json}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn declared_body_over_the_limit_is_m_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.limits.max_request_bytes = 2048;
    let server = common::start_with_router(config, test_router()).await;
    let (status, json) = post(&server, "/_matrix/client/v3/login", vec![b' '; 4096]).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{json}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn refusing_an_unread_body_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.limits.max_request_bytes = 2048;
    let server = common::start_with_router(config, test_router()).await;
    let addr = server.client_addr;
    // Keep-alive requests: the server must say it will not read the rest and reuse the
    // connection, or a client would pool it and lose its next request.
    let mut too_large = b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n".to_vec();
    too_large.extend_from_slice(&[b' '; 4096]);
    let unknown =
        b"POST /_matrix/client/v3/no/such/path HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            .to_vec();
    for (request, status) in [(too_large, 413), (unknown, 404)] {
        let (got, _, head) = tokio::task::spawn_blocking(move || raw_json(addr, &request))
            .await
            .unwrap();
        assert_eq!(got, status);
        assert!(
            head.contains("connection: close"),
            "status {status}: {head}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_m_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.limits.max_request_bytes = 2048;
    let server = common::start_with_router(config, test_router()).await;
    let addr = server.client_addr;
    let mut request = b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b' '; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, json, _) = tokio::task::spawn_blocking(move || raw_json(addr, &request))
        .await
        .unwrap();
    assert_eq!(
        (status, json["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{json}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with_router(common::test_config(dir.path()), test_router()).await;
    let addr = server.client_addr;
    let (status, _, head) = tokio::task::spawn_blocking(move || {
        raw_json(
            addr,
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 404);
    let id = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("x-request-id: ")
                .map(str::to_owned)
        })
        .expect("x-request-id header");
    assert_eq!(id.len(), 16);
    server.shutdown().await;
}

/// The raw request's status, JSON body and head.
fn raw_json(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Value, String) {
    let (status, head, body) = common::http::raw(addr, request);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        head,
    )
}
