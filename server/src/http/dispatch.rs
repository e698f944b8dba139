//! The single warp filter in front of the route table: request id, logging span, CORS, body
//! limit, routing, panic capture and metrics, in that order.

use std::{panic::AssertUnwindSafe, pin::Pin, sync::Arc, time::Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt as _, Stream, StreamExt as _, TryStreamExt as _};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tracing::Instrument as _;
use warp::{Filter, filters::BoxedFilter, path::FullPath};

use super::{
    AppState, cors,
    error::error_response,
    router::{BodyKind, Incoming, Lookup},
};
use crate::service::{Error, ErrorKind};

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Builds the filter that serves every request of the client listener.
pub fn filter(state: AppState) -> BoxedFilter<(http::Response<Bytes>,)> {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let body = warp::body::stream()
        .map(box_body)
        .or(warp::any().map(|| Box::pin(futures_util::stream::empty()) as BodyStream))
        .unify();
    warp::any()
        .and(warp::any().map(move || state.clone()))
        .and(warp::addr::remote())
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(body)
        .then(handle)
        .boxed()
}

/// The client a request is attributed to: its peer, unless the peer is a trusted proxy, in
/// which case the last address in `X-Forwarded-For` that is not itself a trusted proxy (each
/// proxy appends the address it received from; only the right end is vouched for).
fn client_address(
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    listen: &crate::config::ListenConfig,
) -> std::net::SocketAddr {
    let trusted = |ip: &std::net::IpAddr| listen.trusted_proxies.contains(ip);
    if !trusted(&peer.ip()) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return std::net::SocketAddr::new(ip, 0),
            // A hop we cannot read ends what we can vouch for.
            Err(_) => break,
        }
    }
    peer
}

async fn handle(
    state: AppState,
    remote: Option<std::net::SocketAddr>,
    method: Method,
    path: FullPath,
    query: String,
    headers: HeaderMap,
    body: BodyStream,
) -> http::Response<Bytes> {
    let request_id: Arc<str> = Arc::from(new_request_id());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %path.as_str(),
    );
    let started = Instant::now();
    let remote = remote.map(|peer| client_address(peer, &headers, &state.config.listen));
    let raw = RawRequest {
        method: method.clone(),
        path,
        query,
        headers,
        body,
        remote,
    };
    let (endpoint, mut response) = route(&state, raw, &request_id)
        .instrument(span.clone())
        .await;
    cors::add_headers(response.headers_mut());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    super::ops::record_request(endpoint, method.as_str(), status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            status,
            endpoint,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    response
}

/// The request as warp hands it over, before routing.
struct RawRequest {
    method: Method,
    path: FullPath,
    query: String,
    headers: HeaderMap,
    body: BodyStream,
    remote: Option<std::net::SocketAddr>,
}

/// Routes the request; returns the endpoint label for metrics and the response.
async fn route(
    state: &AppState,
    raw: RawRequest,
    request_id: &Arc<str>,
) -> (&'static str, http::Response<Bytes>) {
    let RawRequest {
        method,
        path,
        query,
        headers,
        body,
        remote,
    } = raw;
    if method == Method::OPTIONS {
        // CORS preflight: the spec forbids running endpoint logic for OPTIONS.
        let mut response = http::Response::new(Bytes::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return ("OPTIONS", response);
    }
    let router = state.router.clone();
    let matched = match router.lookup(&method, path.as_str()) {
        Lookup::Found(m) => m,
        Lookup::WrongMethod { template } => {
            let error = Error::new(
                ErrorKind::MethodNotAllowed,
                "Method not allowed on this endpoint",
            );
            return (template, unread_body(&headers, error_response(&error)));
        }
        Lookup::NotFound => {
            let error = Error::new(ErrorKind::Unrecognized, "Unrecognized request");
            return ("unknown", unread_body(&headers, error_response(&error)));
        }
    };
    let limit = match matched.body {
        BodyKind::Json => state.config.limits.max_request_bytes,
        BodyKind::Upload => state.config.media.max_upload_bytes,
    };
    let mut body = match read_body(&headers, body, limit).await {
        Ok(body) => body,
        Err(error) => {
            return (
                matched.template,
                unread_body(&headers, error_response(&error)),
            );
        }
    };
    // Many clients send no body at all to POST endpoints whose fields are all optional
    // (`/join`, `/leave`, `/logout`); an empty JSON body means an empty object, as it does on
    // other servers.
    let json_or_unspecified = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if body.is_empty()
        && matched.body == BodyKind::Json
        && (method == Method::POST || method == Method::PUT)
        && json_or_unspecified
    {
        body = Bytes::from_static(b"{}");
    }
    let uri = if query.is_empty() {
        path.as_str().to_owned()
    } else {
        format!("{}?{query}", path.as_str())
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.headers_mut() = headers;
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => {
            let error = Error::new(ErrorKind::InvalidParam, "Malformed request URI");
            return (matched.template, error_response(&error));
        }
    }
    let incoming = Incoming {
        request,
        path_args: matched.path_args,
        request_id: request_id.clone(),
        remote,
    };
    let handler = matched.handler.clone();
    let state = state.clone();
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(state, incoming))) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error_response(&error),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            error_response(&Error::internal(format!("handler panicked: {what}")))
        }
    };
    (matched.template, response)
}

/// Marks a response sent before the request's body was read (or read to its end) with
/// `Connection: close`. The server drops such a connection after answering; without the header
/// a client may already have put it back in its pool and lose its next request on it ("connection
/// closed before message completed", seen in the conformance harness after a refused upload).
fn unread_body(headers: &HeaderMap, mut response: http::Response<Bytes>) -> http::Response<Bytes> {
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body {
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    response
}

/// Reads the body up to `limit` bytes. Content-Length is checked first so an honest oversized
/// request is refused before it is read; a chunked one is cut off as soon as it passes the limit.
async fn read_body(headers: &HeaderMap, mut body: BodyStream, limit: u64) -> Result<Bytes, Error> {
    let too_large = || {
        Error::new(
            ErrorKind::TooLarge,
            format!("Request body is over {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Error::new(ErrorKind::BadJson, format!("Reading body: {e}")))?;
        if buffer.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

fn box_body<S, B>(stream: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf,
{
    Box::pin(stream.map_ok(|mut buf| buf.copy_to_bytes(buf.remaining())))
}

fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use super::*;
    use crate::config::ListenConfig;

    fn listen(trusted: &[&str]) -> ListenConfig {
        ListenConfig {
            trusted_proxies: trusted.iter().map(|a| a.parse().unwrap()).collect(),
            ..ListenConfig::default()
        }
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        headers
    }

    fn ip(addr: SocketAddr) -> IpAddr {
        addr.ip()
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let headers = forwarded(&["203.0.113.7"]);
        let got = client_address(peer, &headers, &listen(&["10.0.0.1"]));
        assert_eq!(ip(got), "203.0.113.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let peer: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(client_address(peer, &headers, &listen(&["10.0.0.1"])), peer);
        assert_eq!(client_address(peer, &headers, &listen(&[])), peer);
    }

    #[test]
    fn only_the_hops_trusted_proxies_appended_are_believed() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        // The client put a forged address first; the proxies appended the real one and their
        // own.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7", "10.0.0.2"]);
        let got = client_address(peer, &headers, &listen(&["10.0.0.1", "10.0.0.2"]));
        assert_eq!(ip(got), "203.0.113.7".parse::<IpAddr>().unwrap());
        // Nothing readable to the right of the proxies: the proxy itself.
        let garbled = forwarded(&["not-an-address"]);
        assert_eq!(client_address(peer, &garbled, &listen(&["10.0.0.1"])), peer);
    }
}
