//! The route table: one boxed handler per (path template, method), looked up with `matchit`.
//!
//! Routes for Matrix endpoints are registered from ruma's endpoint metadata
//! ([`Router::endpoint`]): every path ruma knows for the endpoint (unstable, r0, v3, …) and its
//! method. A table lookup replaces warp's `.or()` chains, whose types grow with each route and
//! make compile times explode.

use std::{collections::HashMap, future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc};

use bytes::Bytes;
use http::Method;
use ruma::api::{
    IncomingRequest, IncomingRequestExt as _, OutgoingResponse, OutgoingResponseExt as _,
    path_builder::PathBuilder as _,
};

use super::{AppState, error::from_request_error};
use crate::service::{Error, ErrorKind, accounts::AuthedUser};

/// What a handler gets: the request with its body read, and the decoded path arguments.
pub struct Incoming {
    pub request: http::Request<Bytes>,
    pub path_args: Vec<String>,
    pub request_id: Arc<str>,
    /// The peer's address (the proxy's, behind a reverse proxy).
    pub remote: Option<std::net::SocketAddr>,
}

/// What a handler may need to know about the request beyond its parsed body.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub client_ip: Option<std::net::IpAddr>,
    pub request_id: Arc<str>,
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, Error>> + Send>>;
pub type Handler = Arc<dyn Fn(AppState, Incoming) -> HandlerFuture + Send + Sync>;

/// What a route's request body is, which decides how much of it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON (or nothing), up to `limits.max_request_bytes`.
    Json,
    /// A file, up to `media.max_upload_bytes`, taken as it is.
    Upload,
}

/// A matched route: its template (the metrics label) and the handler for the method.
pub struct Matched<'a> {
    pub template: &'static str,
    pub handler: &'a Handler,
    pub body: BodyKind,
    pub path_args: Vec<String>,
}

pub enum Lookup<'a> {
    Found(Matched<'a>),
    /// The path exists, with other methods.
    WrongMethod {
        template: &'static str,
    },
    NotFound,
}

struct RouteEntry {
    template: &'static str,
    methods: HashMap<Method, (Handler, BodyKind)>,
}

#[derive(Default)]
pub struct Router {
    matcher: matchit::Router<usize>,
    entries: Vec<RouteEntry>,
}

impl Router {
    /// Registers `handler` for every path of the ruma endpoint `R`; no authentication.
    pub fn endpoint<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        R::OutgoingResponse: Send,
        F: Fn(AppState, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::OutgoingResponse, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register::<R>(Arc::new(move |state: AppState, incoming: Incoming| {
            let handler = handler.clone();
            let parsed = parse::<R>(incoming);
            Box::pin(async move { respond(handler(state, parsed?).await?) })
        }));
    }

    /// As [`Router::endpoint`], for a handler that builds its JSON body itself (see
    /// [`Router::endpoint_authed_json`]).
    pub fn endpoint_json<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        F: Fn(AppState, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register::<R>(Arc::new(move |state: AppState, incoming: Incoming| {
            let handler = handler.clone();
            let parsed = parse::<R>(incoming);
            Box::pin(async move { json_response(handler(state, parsed?).await?) })
        }));
    }

    /// As [`Router::endpoint`], for handlers that need the request's context (the client
    /// address, for rate limiting).
    pub fn endpoint_ctx<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        R::OutgoingResponse: Send,
        F: Fn(AppState, RequestCtx, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::OutgoingResponse, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register::<R>(Arc::new(move |state: AppState, incoming: Incoming| {
            let handler = handler.clone();
            let ctx = RequestCtx {
                client_ip: incoming.remote.map(|a| a.ip()),
                request_id: incoming.request_id.clone(),
            };
            let parsed = parse::<R>(incoming);
            Box::pin(async move { respond(handler(state, ctx, parsed?).await?) })
        }));
    }

    /// Registers `handler` for an endpoint that needs an access token; the handler gets the
    /// authenticated caller. A missing token is `M_MISSING_TOKEN`, an unknown one
    /// `M_UNKNOWN_TOKEN`, both before the body is parsed.
    pub fn endpoint_authed<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        R::OutgoingResponse: Send,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::OutgoingResponse, Error>> + Send + 'static,
    {
        self.register_authed::<R, _, _, _>(handler, respond::<R::OutgoingResponse>, BodyKind::Json);
    }

    /// As [`Router::endpoint_authed`], for an upload: the body is a file, read up to the
    /// media size limit instead of the JSON one.
    pub fn upload_authed<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        R::OutgoingResponse: Send,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::OutgoingResponse, Error>> + Send + 'static,
    {
        self.register_authed::<R, _, _, _>(
            handler,
            respond::<R::OutgoingResponse>,
            BodyKind::Upload,
        );
    }

    /// As [`Router::upload_authed`], for a handler that builds its JSON body itself.
    pub fn upload_authed_json<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, Error>> + Send + 'static,
    {
        self.register_authed::<R, _, _, _>(handler, json_response, BodyKind::Upload);
    }

    /// As [`Router::endpoint_authed`], for a handler that builds the whole HTTP response
    /// (downloads: the body is the file and the headers describe it).
    pub fn endpoint_authed_raw<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<Bytes>, Error>> + Send + 'static,
    {
        self.register_authed::<R, _, _, _>(handler, Ok, BodyKind::Json);
    }

    /// As [`Router::endpoint`], for a handler that builds the whole HTTP response.
    pub fn endpoint_raw<R, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        F: Fn(AppState, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<Bytes>, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register::<R>(Arc::new(move |state: AppState, incoming: Incoming| {
            let handler = handler.clone();
            let parsed = parse::<R>(incoming);
            Box::pin(async move { handler(state, parsed?).await })
        }));
    }

    /// As [`Router::endpoint_authed`], for a handler that builds its JSON body itself instead
    /// of through ruma's response type (used where ruma's serialisation departs from the
    /// spec's schema; each such handler says why).
    pub fn endpoint_authed_json<R, T, F, Fut>(&mut self, handler: F)
    where
        R: IncomingRequest + Send + 'static,
        T: serde::Serialize + Send + 'static,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        self.register_authed::<R, _, _, _>(handler, json_response, BodyKind::Json);
    }

    fn register_authed<R, T, F, Fut>(
        &mut self,
        handler: F,
        finish: fn(T) -> Result<http::Response<Bytes>, Error>,
        body: BodyKind,
    ) where
        R: IncomingRequest + Send + 'static,
        T: Send + 'static,
        F: Fn(AppState, AuthedUser, R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let guest_ok = R::PATH_BUILDER
            .all_paths()
            .any(|path| super::guest::allowed(&R::METHOD, path));
        let handler: Handler = Arc::new(move |state: AppState, incoming: Incoming| {
            let handler = handler.clone();
            let token = access_token(&incoming.request);
            let client_ip = incoming.remote.map(|a| a.ip());
            let parsed = parse::<R>(incoming);
            Box::pin(async move {
                let token = token
                    .ok_or_else(|| Error::new(ErrorKind::MissingToken, "Missing access token"))?;
                let mut user = state.services.accounts.authenticate(&token).await?;
                user.client_ip = client_ip;
                if user.is_guest && !guest_ok {
                    return Err(Error::new(
                        ErrorKind::GuestAccessForbidden,
                        "Guest accounts cannot use this endpoint",
                    ));
                }
                finish(handler(state, user, parsed?).await?)
            })
        });
        for path in R::PATH_BUILDER.all_paths() {
            self.insert(R::METHOD, path, handler.clone(), body);
        }
    }

    fn register<R: IncomingRequest>(&mut self, handler: Handler) {
        for path in R::PATH_BUILDER.all_paths() {
            self.insert(R::METHOD, path, handler.clone(), BodyKind::Json);
        }
    }

    /// Registers a handler that is not a ruma endpoint (operations routes).
    pub fn raw<F, Fut>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Fn(AppState, Incoming) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<http::Response<Bytes>, Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.insert(
            method,
            path,
            Arc::new(move |state, incoming| Box::pin(handler(state, incoming))),
            BodyKind::Json,
        );
    }

    fn insert(&mut self, method: Method, template: &'static str, handler: Handler, body: BodyKind) {
        let key = normalise(template);
        let index = match self.matcher.at(&key) {
            Ok(m) if self.entries[*m.value].template_key() == key => *m.value,
            _ => {
                let index = self.entries.len();
                self.matcher
                    .insert(key.clone(), index)
                    .unwrap_or_else(|e| panic!("route {template} conflicts: {e}"));
                self.entries.push(RouteEntry {
                    template,
                    methods: HashMap::new(),
                });
                index
            }
        };
        let previous = self.entries[index]
            .methods
            .insert(method.clone(), (handler, body));
        assert!(
            previous.is_none(),
            "route {method} {template} registered twice"
        );
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        // A trailing empty segment is a path argument too (`/state/m.room.name/` has an empty
        // state key), and for state endpoints the spec lets clients leave out the slash as
        // well; matchit matches neither, so both retry with a marker segment that decodes to
        // the empty string.
        let with_marker = if path.ends_with('/') {
            format!("{path}{EMPTY_SEGMENT}")
        } else {
            format!("{path}/{EMPTY_SEGMENT}")
        };
        let matched = match self.matcher.at(path) {
            Ok(m) => m,
            Err(_) if path.ends_with('/') || path.contains("/state/") => {
                match self.matcher.at(&with_marker) {
                    Ok(m) => m,
                    Err(_) => return Lookup::NotFound,
                }
            }
            Err(_) => return Lookup::NotFound,
        };
        let entry = &self.entries[*matched.value];
        let handler = entry.methods.get(method).or_else(|| {
            // HEAD is GET without a body; hyper drops the body.
            (*method == Method::HEAD)
                .then(|| entry.methods.get(&Method::GET))
                .flatten()
        });
        match handler {
            Some((handler, body)) => Lookup::Found(Matched {
                template: entry.template,
                handler,
                body: *body,
                path_args: matched
                    .params
                    .iter()
                    .map(|(_, v)| {
                        if v == EMPTY_SEGMENT {
                            String::new()
                        } else {
                            percent_decode(v)
                        }
                    })
                    .collect(),
            }),
            None => Lookup::WrongMethod {
                template: entry.template,
            },
        }
    }

    /// Every registered (method, template), for tests and the route listing.
    pub fn routes(&self) -> Vec<(Method, &'static str)> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .flat_map(|e| e.methods.keys().map(move |m| (m.clone(), e.template)))
            .collect();
        all.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        all
    }
}

/// Parses the request with ruma. ruma's parsers are network-facing and have been seen to
/// panic on odd input: a panic here becomes a 400, not a dropped connection.
fn parse<R: IncomingRequest>(incoming: Incoming) -> Result<R, Error> {
    let args: Vec<&str> = incoming.path_args.iter().map(String::as_str).collect();
    let (parts, body) = incoming.request.into_parts();
    match std::panic::catch_unwind(AssertUnwindSafe(|| {
        R::try_from_http_request(http::Request::from_parts(parts, body.as_ref()), &args)
    })) {
        Ok(Ok(request)) => Ok(request),
        Ok(Err(e)) => Err(from_request_error(e)),
        Err(_) => Err(Error::new(
            ErrorKind::BadJson,
            "Request could not be parsed",
        )),
    }
}

fn respond<T: OutgoingResponse>(response: T) -> Result<http::Response<Bytes>, Error> {
    response
        .try_into_http_response::<Vec<u8>>()
        .map(|r| r.map(Bytes::from))
        .map_err(|e| Error::internal(format!("serialising response: {e}")))
}

fn json_response<T: serde::Serialize>(body: T) -> Result<http::Response<Bytes>, Error> {
    let body = serde_json::to_vec(&body).map_err(|e| Error::internal(e.to_string()))?;
    let mut response = http::Response::new(Bytes::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The access token from `Authorization: Bearer …`, or the deprecated `access_token` query
/// parameter (still in the v1.19 spec).
fn access_token(request: &http::Request<Bytes>) -> Option<String> {
    if let Some(value) = request.headers().get(http::header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_owned());
    }
    request.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "access_token")
            .map(|(_, v)| percent_decode(v))
    })
}

impl RouteEntry {
    fn template_key(&self) -> String {
        normalise(self.template)
    }
}

/// Renames path variables by position (`{roomId}` → `{p0}`): matchit refuses two routes that
/// name the same segment differently, and handlers take arguments by position anyway.
fn normalise(template: &str) -> String {
    let mut n = 0;
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                let name = if segment.starts_with("{*") {
                    format!("{{*p{n}}}")
                } else {
                    format!("{{p{n}}}")
                };
                n += 1;
                name
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Stands for an empty path segment during lookup; not a valid percent-encoded path value, so
/// no real request produces it.
const EMPTY_SEGMENT: &str = "%%empty%%";

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_normalised_by_position() {
        assert_eq!(
            normalise("/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"),
            "/_matrix/client/v3/rooms/{p0}/send/{p1}/{p2}"
        );
    }

    #[test]
    fn path_arguments_are_percent_decoded() {
        assert_eq!(percent_decode("%21room%3Aexample.org"), "!room:example.org");
    }
}
