//! A minimal HTTP/1.1 client over `std::net`, so tests control framing (chunked bodies,
//! missing headers) and see status and headers exactly as sent.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use serde_json::Value;

/// Sends raw request bytes; returns the status, the head (lower-cased) and the body (chunked
/// bodies de-chunked when they are a single chunk, which is all the server sends here).
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    try_raw(addr, request).expect("cannot connect to the test server")
}

/// As [`raw`], but `None` when the connection is refused; a connection cut before a status
/// line arrives gives status 0.
pub fn try_raw(addr: SocketAddr, request: &[u8]) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = head.to_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        body.lines().nth(1).unwrap_or_default().to_owned()
    } else {
        body.to_owned()
    };
    Some((status, head, body))
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (status, _, body) = raw(addr, request.as_bytes());
    (status, body)
}

pub fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, String, Value) {
    post_bytes(addr, path, body.to_string().as_bytes())
}

pub fn post_bytes(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String, Value) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let (status, head, body) = raw(addr, &request);
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// Registers `name` through the one-request dummy flow; returns its access token.
pub fn register(addr: SocketAddr, name: &str) -> String {
    let body =
        serde_json::json!({"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}});
    let (status, _, response) = post_json(addr, "/_matrix/client/v3/register", &body);
    assert_eq!(status, 200, "{response}");
    response["access_token"].as_str().unwrap().to_owned()
}

/// A request with an optional bearer token and body (sent with `content_type`, or with no
/// Content-Type header at all when that is `None`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    raw(addr, &request)
}
