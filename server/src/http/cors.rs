//! CORS headers, as the client-server spec recommends for every response ("Web Browser
//! Clients"). `Access-Control-Allow-Methods` lists the methods this server serves.

use http::{HeaderMap, HeaderValue, header};

pub const ALLOW_ORIGIN: &str = "*";
pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
pub const ALLOW_HEADERS: &str = "X-Requested-With, Content-Type, Authorization";

pub fn add_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static(ALLOW_ORIGIN),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
}
