//! The content repository over HTTP, where a conformance case cannot reach: uploads without a
//! Content-Type, bodies over the JSON limit, restarts, the freeze of the deprecated paths and
//! the reservation quota.

mod common;

use std::net::SocketAddr;

use rechain_server::config::{Config, RegistrationMode};
use serde_json::Value;

fn config(dir: &std::path::Path) -> Config {
    let mut config = common::test_config(dir);
    config.registration.mode = RegistrationMode::Open;
    config
}

/// Uploads `body`; returns the `server/mediaId` part of the mxc URI.
fn upload(addr: SocketAddr, token: &str, content_type: Option<&str>, body: &[u8]) -> String {
    let (status, _, response) = common::http::request(
        addr,
        "POST",
        "/_matrix/media/v3/upload",
        Some(token),
        content_type,
        body,
    );
    assert_eq!(status, 200, "{response}");
    let json: Value = serde_json::from_str(&response).unwrap();
    json["content_uri"]
        .as_str()
        .unwrap()
        .strip_prefix("mxc://")
        .unwrap()
        .to_owned()
}

fn download(addr: SocketAddr, token: Option<&str>, path: &str) -> (u16, String, String) {
    common::http::request(addr, "GET", path, token, None, b"")
}

#[tokio::test]
async fn an_empty_upload_without_content_type_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(config(dir.path())).await;
    let addr = server.client_addr;
    let (status, head, body) = tokio::task::spawn_blocking(move || {
        let token = common::http::register(addr, "empty_uploader");
        let mxc = upload(addr, &token, None, b"");
        download(
            addr,
            Some(&token),
            &format!("/_matrix/client/v1/media/download/{mxc}"),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    // Not the `{}` that stands in for an empty JSON body elsewhere.
    assert_eq!(body, "");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert!(head.contains("content-disposition: attachment"), "{head}");
    server.shutdown().await;
}

#[tokio::test]
async fn uploads_may_exceed_the_json_body_limit_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.max_request_bytes = 4096;
    cfg.media.max_upload_bytes = 64 * 1024;
    let server = common::start(cfg.clone()).await;
    let addr = server.client_addr;
    let content: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let sent = content.clone();
    let (token, mxc) = tokio::task::spawn_blocking(move || {
        let token = common::http::register(addr, "big_uploader");
        let mxc = upload(addr, &token, Some("text/plain"), sent.as_bytes());
        (token, mxc)
    })
    .await
    .unwrap();
    server.shutdown().await;

    let server = common::start(cfg).await;
    let addr = server.client_addr;
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        download(
            addr,
            Some(&token),
            &format!("/_matrix/client/v1/media/download/{mxc}"),
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, content);
    let stored: Vec<_> = walk(&dir.path().join("media"));
    assert_eq!(stored.len(), 1, "one content file: {stored:?}");
    server.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn frozen_deprecated_paths_serve_nothing_while_authenticated_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.media.unauthenticated_downloads = false;
    let server = common::start(cfg).await;
    let addr = server.client_addr;
    let (legacy, authed) = tokio::task::spawn_blocking(move || {
        let token = common::http::register(addr, "frozen_uploader");
        let mxc = upload(addr, &token, Some("text/plain"), b"kept");
        (
            download(addr, None, &format!("/_matrix/media/v3/download/{mxc}")),
            download(
                addr,
                Some(&token),
                &format!("/_matrix/client/v1/media/download/{mxc}"),
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(legacy.0, 404, "{}", legacy.2);
    assert!(legacy.2.contains("M_NOT_FOUND"), "{}", legacy.2);
    assert_eq!((authed.0, authed.2.as_str()), (200, "kept"));
    server.shutdown().await;
}

#[tokio::test]
async fn reservations_without_content_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.media.max_pending_uploads = 2;
    let server = common::start(cfg).await;
    let addr = server.client_addr;
    let statuses = tokio::task::spawn_blocking(move || {
        let token = common::http::register(addr, "hoarder");
        let other = common::http::register(addr, "other_hoarder");
        let create = |token: &str| {
            common::http::request(
                addr,
                "POST",
                "/_matrix/media/v1/create",
                Some(token),
                Some("application/json"),
                b"{}",
            )
        };
        let mut statuses: Vec<u16> = (0..3).map(|_| create(&token).0).collect();
        // The quota is per user.
        statuses.push(create(&other).0);
        statuses
    })
    .await
    .unwrap();
    assert_eq!(statuses, vec![200, 200, 429, 200]);
    server.shutdown().await;
}
