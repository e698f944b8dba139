//! `GET /_matrix/client/v3/sync`

use std::time::Duration;

use ruma::api::client::sync::sync_events;
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    // Built directly: the response leaves out what this server does not have yet (presence,
    // account data, to-device) rather than sending ruma's empty defaults.
    router.endpoint_authed_json(sync);
}

async fn sync(
    state: AppState,
    user: AuthedUser,
    request: sync_events::v3::Request,
) -> Result<Value, Error> {
    let timeout = request.timeout.unwrap_or(Duration::ZERO);
    state
        .services
        .sync
        .sync(&user, request.since.as_deref(), timeout, request.full_state)
        .await
}
