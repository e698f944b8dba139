//! HTTP: the only place that knows warp and status codes.
//!
//! Invariant: handlers are thin — parse (ruma does it), call one service, build the response.
//! No SQL, no domain rules. Every error leaves through `error::status_and_errcode`.

mod client;
mod cors;
mod dispatch;
pub mod error;
mod federation;
mod guest;
mod media;
pub mod ops;
pub mod router;

use std::sync::Arc;

use bytes::Bytes;
use warp::filters::BoxedFilter;

pub use dispatch::REQUEST_ID_HEADER;
use router::Router;

use crate::{config::Config, service::Services};

/// What every handler gets: configuration, services and the route table.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub services: Arc<Services>,
    pub router: Arc<Router>,
}

impl AppState {
    pub fn new(config: Arc<Config>, services: Arc<Services>) -> Self {
        Self {
            config,
            services,
            router: Arc::new(routes()),
        }
    }

    /// The same state serving another route table (tests of the dispatcher itself).
    pub fn with_router(self, router: Router) -> Self {
        Self {
            router: Arc::new(router),
            ..self
        }
    }
}

/// The route table of the client listener.
pub fn routes() -> Router {
    let mut router = Router::default();
    client::register(&mut router);
    media::register(&mut router);
    federation::register_discovery(&mut router);
    ops::register(&mut router);
    router
}

/// The warp filter serving the client listener.
pub fn client_filter(state: AppState) -> BoxedFilter<(http::Response<Bytes>,)> {
    dispatch::filter(state)
}
