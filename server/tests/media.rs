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

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

#[tokio::test]
async fn thumbnails_are_made_once_and_images_over_the_pixel_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.media.max_thumbnail_pixels = 500 * 500;
    let server = common::start(cfg).await;
    let addr = server.client_addr;
    let media_dir = dir.path().join("media");
    let (small_first, small_again, files_after_first, files_after_second, big) =
        tokio::task::spawn_blocking(move || {
            let token = common::http::register(addr, "thumbnailer");
            let small = upload(addr, &token, Some("image/png"), &png(400, 400));
            let thumb = format!(
                "/_matrix/client/v1/media/thumbnail/{small}?width=96&height=96&method=crop"
            );
            let first = download(addr, Some(&token), &thumb);
            let files_after_first = walk(&media_dir).len();
            let again = download(addr, Some(&token), &thumb);
            let files_after_second = walk(&media_dir).len();
            let big = upload(addr, &token, Some("image/png"), &png(600, 600));
            let refused = download(
                addr,
                Some(&token),
                &format!("/_matrix/client/v1/media/thumbnail/{big}?width=96&height=96&method=crop"),
            );
            (first, again, files_after_first, files_after_second, refused)
        })
        .await
        .unwrap();
    assert_eq!(small_first.0, 200, "{}", small_first.2);
    assert_eq!(small_again.0, 200);
    assert_eq!(
        small_first.2, small_again.2,
        "the stored thumbnail is served again"
    );
    assert_eq!(
        files_after_first, 2,
        "the original and its thumbnail, nothing more"
    );
    assert_eq!(files_after_second, files_after_first, "no second rendering");
    assert_eq!(big.0, 413, "{}", big.2);
    assert!(big.2.contains("M_TOO_LARGE"), "{}", big.2);
    server.shutdown().await;
}

#[tokio::test]
async fn an_expired_reservation_takes_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.media.pending_expiry_seconds = 1;
    let server = common::start(cfg).await;
    let addr = server.client_addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        let token = common::http::register(addr, "late_uploader");
        let (status, _, created) = common::http::request(
            addr,
            "POST",
            "/_matrix/media/v1/create",
            Some(&token),
            Some("application/json"),
            b"{}",
        );
        assert_eq!(status, 200, "{created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        let mxc = created["content_uri"]
            .as_str()
            .unwrap()
            .strip_prefix("mxc://")
            .unwrap()
            .to_owned();
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let (status, _, body) = common::http::request(
            addr,
            "PUT",
            &format!("/_matrix/media/v3/upload/{mxc}"),
            Some(&token),
            Some("text/plain"),
            b"too late",
        );
        (status, body)
    })
    .await
    .unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("M_NOT_FOUND"), "{body}");
    server.shutdown().await;
}
