//! `GET /_matrix/client/v3/sync` and the filters it can name.

use std::time::Duration;

use ruma::api::client::{
    filter::{create_filter, get_filter},
    sync::sync_events,
};
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{
        Error,
        accounts::AuthedUser,
        sync::{SyncFilter, SyncResponse},
    },
};

pub fn register(router: &mut Router) {
    // Built directly: the response leaves out what is empty (and what this server does not
    // have yet, such as to-device messages) rather than sending ruma's empty defaults.
    router.endpoint_authed_json(sync);
    router.endpoint_authed(create_filter);
    router.endpoint_authed_json(get_filter);
}

async fn sync(
    state: AppState,
    user: AuthedUser,
    request: sync_events::v3::Request,
) -> Result<SyncResponse, Error> {
    state
        .services
        .presence
        .on_sync(user.user_id.as_str(), Some(request.set_presence.as_str()))?;
    let timeout = request.timeout.unwrap_or(Duration::ZERO);
    let filter = request.filter.map(|f| match f {
        sync_events::v3::Filter::FilterId(id) => SyncFilter::Id(id),
        sync_events::v3::Filter::FilterDefinition(definition) => {
            SyncFilter::Inline(serde_json::to_value(definition).unwrap_or_default())
        }
        _ => SyncFilter::Inline(Value::Null),
    });
    let sync = &state.services.sync;
    let filter = sync.resolve_filter(&user, filter).await?;
    sync.sync(
        &user,
        request.since.as_deref(),
        timeout,
        request.full_state,
        &filter,
    )
    .await
}

/// `POST /_matrix/client/v3/user/{userId}/filter`
async fn create_filter(
    state: AppState,
    user: AuthedUser,
    request: create_filter::v3::Request,
) -> Result<create_filter::v3::Response, Error> {
    let filter =
        serde_json::to_value(&request.filter).map_err(|e| Error::internal(e.to_string()))?;
    let id = state
        .services
        .sync
        .create_filter(&user, request.user_id.as_str(), filter)
        .await?;
    Ok(create_filter::v3::Response::new(id))
}

/// `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
async fn get_filter(
    state: AppState,
    user: AuthedUser,
    request: get_filter::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .sync
        .get_filter(&user, request.user_id.as_str(), &request.filter_id)
        .await
}
