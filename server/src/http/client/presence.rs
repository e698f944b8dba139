//! `GET` and `PUT /_matrix/client/v3/presence/{userId}/status`.

use ruma::api::client::presence::{get_presence, set_presence};
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    // Presence content is built by the service (ruma's response would add empty fields).
    router.endpoint_authed_json(get_status);
    router.endpoint_authed(set_status);
}

/// `GET /_matrix/client/v3/presence/{userId}/status`
async fn get_status(
    state: AppState,
    user: AuthedUser,
    request: get_presence::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .presence
        .get(user.user_id.as_str(), request.user_id.as_str())
        .await
}

/// `PUT /_matrix/client/v3/presence/{userId}/status`
async fn set_status(
    state: AppState,
    user: AuthedUser,
    request: set_presence::v3::Request,
) -> Result<set_presence::v3::Response, Error> {
    state.services.presence.set_status(
        user.user_id.as_str(),
        request.user_id.as_str(),
        request.presence.as_str(),
        request.status_msg,
    )?;
    Ok(set_presence::v3::Response::new())
}
